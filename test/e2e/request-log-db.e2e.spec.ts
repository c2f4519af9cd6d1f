/**
 * The request log table against the real PostgreSQL (a schema of this test's own): one row per API request with its
 * key, team, routing, status, tokens by kind, cost and timings; the daily aggregates upserted by the same writer;
 * rows written in batches; what is queued at shutdown written before the process ends.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RequestLogWriter } from '../../src/management/request-log.writer.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { testSchema, type TestSchema } from '../support/postgres.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const messages = [{ role: 'user', content: 'log me' }];
const PRICING = { inputPerMillion: 3, outputPerMillion: 15 };

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

function documentFor(simUrl: string, schema: TestSchema, requestLog: Record<string, unknown>) {
  return {
    auth: { enabled: true, keys: [{ id: 'ops', key: ADMIN_KEY, admin: true }] },
    providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
    models: [
      { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }], pricing: PRICING },
      { name: 'gpt-other', deployments: [{ provider: 'sim', model: 'sim-model' }] },
    ],
    database: schema.section({ requestLog }),
  };
}

describe('request log in PostgreSQL', () => {
  const sim = new OpenAiSimulator();
  let simUrl: string;
  let schema: TestSchema;
  let gateway: RunningGateway;
  let secret: string;

  before(async () => {
    simUrl = await sim.start();
    schema = await testSchema('request_log');
    gateway = await startGateway(documentFor(simUrl, schema, { batchRows: 5, flushIntervalMs: 50 }));
    await postJson(`${gateway.url}/admin/teams`, { id: 'blue', name: 'Blue' }, admin);
    const created = await postJson(
      `${gateway.url}/admin/keys`,
      { id: 'logged', teamId: 'blue', models: ['gpt-test'] },
      admin,
    );
    secret = ((await created.json()) as { secret: string }).secret;
    await until(async () => {
      const probe = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
      await probe.body?.cancel();
      return probe.status === 200;
    });
  });
  after(async () => {
    await gateway?.close();
    await sim.stop();
    await schema?.drop();
  });

  it('writes one row per request, with the daily aggregates', async () => {
    const key = { authorization: `Bearer ${secret}` };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'gpt-test', messages }, key);
      assert.equal(answer.status, 200);
      ids.push(answer.headers.get('x-request-id')!);
      await answer.json();
    }
    const stream = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', messages, stream: true },
      key,
    );
    ids.push(stream.headers.get('x-request-id')!);
    assert.ok(sseData(await stream.text()).includes('[DONE]'));
    const refused = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'gpt-other', messages }, key);
    assert.equal(refused.status, 403);
    ids.push(refused.headers.get('x-request-id')!);
    await refused.json();
    const anonymous = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', messages },
      {
        authorization: 'Bearer sk-gw-not-a-key-0123456789',
      },
    );
    assert.equal(anonymous.status, 401);
    ids.push(anonymous.headers.get('x-request-id')!);
    await anonymous.json();

    type Row = Record<string, string | number | boolean | null>;
    let rows: Row[] = [];
    await until(async () => {
      rows = await schema.query<Row>('SELECT * FROM request_log WHERE request_id = ANY($1) ORDER BY id', [ids]);
      return rows.length === ids.length;
    });
    const byId = new Map(rows.map((row) => [row.request_id, row]));
    const plain = byId.get(ids[0])!;
    assert.equal(plain.key_id, 'logged');
    assert.equal(plain.team_id, 'blue');
    assert.equal(plain.front, 'chat');
    assert.equal(plain.model, 'gpt-test');
    assert.equal(plain.served_model, 'gpt-test');
    assert.equal(plain.provider, 'sim');
    assert.ok(typeof plain.deployment === 'string' && plain.deployment.length > 0);
    assert.equal(plain.attempts, 1);
    assert.equal(plain.fallbacks, 0);
    assert.equal(plain.status, 200);
    assert.equal(plain.error_code, null);
    assert.ok(Number(plain.prompt_tokens) > 0 && Number(plain.completion_tokens) > 0);
    assert.equal(plain.cached_tokens, 0);
    const cost = (Number(plain.prompt_tokens) * 3 + Number(plain.completion_tokens) * 15) / 1e6;
    assert.ok(Math.abs(Number(plain.cost_usd) - cost) < 1e-9);
    assert.ok(Number(plain.latency_ms) >= Number(plain.upstream_ms));
    assert.ok(plain.overhead_ms !== null);
    const streamed = byId.get(ids[3])!;
    assert.equal(streamed.stream, true);
    assert.ok(streamed.ttft_ms !== null);
    assert.ok(Number(streamed.completion_tokens) > 0);
    const forbidden = byId.get(ids[4])!;
    assert.deepEqual([forbidden.status, forbidden.error_code, forbidden.attempts], [403, 'model_not_allowed', 0]);
    const unknownKey = byId.get(ids[5])!;
    assert.deepEqual([unknownKey.status, unknownKey.error_code, unknownKey.key_id], [401, 'invalid_api_key', null]);

    const [daily] = await schema.query<Row>(
      `SELECT requests, errors, prompt_tokens, completion_tokens, cost_usd FROM usage_daily
        WHERE key_id = 'logged' AND team_id = 'blue' AND model = 'gpt-test'`,
    );
    const keyed = rows.filter((row) => row.key_id === 'logged' && row.model === 'gpt-test');
    const sum = (column: string) => keyed.reduce((total, row) => total + Number(row[column] ?? 0), 0);
    assert.equal(Number(daily.requests), 4);
    assert.equal(Number(daily.prompt_tokens), sum('prompt_tokens'));
    assert.equal(Number(daily.completion_tokens), sum('completion_tokens'));
    assert.ok(Math.abs(Number(daily.cost_usd) - sum('cost_usd')) < 1e-9);
    const [refusedDay] = await schema.query<Row>(
      `SELECT requests, errors FROM usage_daily WHERE key_id = 'logged' AND model = 'gpt-other'`,
    );
    assert.deepEqual([Number(refusedDay.requests), Number(refusedDay.errors)], [1, 1]);

    const listed = await fetch(`${gateway.url}/admin/request-log?key=logged&status=403`, { headers: admin });
    const page = (await listed.json()) as { data: Array<{ requestId: string }> };
    assert.deepEqual(
      page.data.map((row) => row.requestId),
      [ids[4]],
    );
  });

  it('keeps bodies only for keys that opt in, redacted and cut to maxBodyChars', async () => {
    const created = await postJson(`${gateway.url}/admin/keys`, { id: 'verbose', logBodies: true }, admin);
    const verbose = ((await created.json()) as { key: { logBodies: boolean }; secret: string }).secret;
    await until(async () => {
      const probe = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${verbose}` } });
      await probe.body?.cancel();
      return probe.status === 200;
    });
    const leaky = [{ role: 'user', content: 'my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123 please keep it' }];
    const ids: string[] = [];
    for (const [secretOf, stream] of [
      [verbose, false],
      [verbose, true],
      [secret, false],
    ] as const) {
      const answer = await postJson(
        `${gateway.url}/v1/chat/completions`,
        { model: 'gpt-test', messages: leaky, stream },
        { authorization: `Bearer ${secretOf}` },
      );
      assert.equal(answer.status, 200);
      ids.push(answer.headers.get('x-request-id')!);
      await answer.text();
    }
    type Row = { request_id: string; request_body: string | null; response_body: string | null };
    let rows: Row[] = [];
    await until(async () => {
      rows = await schema.query<Row>(
        'SELECT request_id, request_body, response_body FROM request_log WHERE request_id = ANY($1)',
        [ids],
      );
      return rows.length === 3;
    });
    const byId = new Map(rows.map((row) => [row.request_id, row]));
    for (const id of ids.slice(0, 2)) {
      const row = byId.get(id)!;
      assert.match(row.request_body ?? '', /"model":"gpt-test"/);
      assert.match(row.request_body ?? '', /\[redacted\]/);
      assert.ok(!row.request_body?.includes('sk-proj-'), 'credentials are redacted');
      assert.match(row.response_body ?? '', /"choices"/, 'the answer, a stream assembled');
    }
    assert.deepEqual(
      [byId.get(ids[2])!.request_body, byId.get(ids[2])!.response_body],
      [null, null],
      'other keys keep no bodies',
    );
  });

  it('writes rows in batches of batchRows, one INSERT each', async () => {
    const writer = gateway.app.get(RequestLogWriter);
    await writer.flush();
    const before = writer.batches;
    const [{ count: rowsBefore }] = await schema.query<{ count: string }>('SELECT count(*) FROM request_log');
    const row = {
      at: new Date(),
      request_id: 'batch',
      trace_id: null,
      key_id: null,
      team_id: null,
      front: 'chat',
      operation: 'chat',
      model: 'gpt-test',
      served_model: null,
      deployment: null,
      provider: null,
      attempts: 0,
      fallbacks: 0,
      stream: false,
      status: 401,
      error_code: 'invalid_api_key',
      prompt_tokens: null,
      completion_tokens: null,
      cached_tokens: null,
      cache_write_tokens: null,
      reasoning_tokens: null,
      tokens_estimated: false,
      cost_usd: null,
      latency_ms: 1,
      overhead_ms: null,
      ttft_ms: null,
      upstream_ms: 0,
      cache: null,
      request_body: null,
      response_body: null,
    };
    for (let i = 0; i < 10; i++) writer.push({ ...row, request_id: `batch-${i}` });
    await until(async () => writer.queued === 0);
    await writer.flush();
    const [{ count }] = await schema.query<{ count: string }>('SELECT count(*) FROM request_log');
    assert.equal(Number(count) - Number(rowsBefore), 10);
    assert.equal(writer.batches - before, 2, 'ten rows, batches of five');
  });

  it('writes what is queued when the gateway shuts down', async () => {
    const lazy = await startGateway(documentFor(simUrl, schema, { batchRows: 1_000, flushIntervalMs: 600_000 }));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await postJson(`${lazy.url}/v1/chat/completions`, { model: 'gpt-test', messages }, admin);
      ids.push(answer.headers.get('x-request-id')!);
      await answer.json();
    }
    assert.equal(lazy.app.get(RequestLogWriter).queued, 3);
    await lazy.close();
    const rows = await schema.query('SELECT 1 FROM request_log WHERE request_id = ANY($1)', [ids]);
    assert.equal(rows.length, 3);
  });
});
