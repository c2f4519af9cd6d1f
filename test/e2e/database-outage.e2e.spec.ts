/**
 * PostgreSQL down or hanging, on a server this test starts, kills, freezes and starts again (never the shared one):
 * requests keep being served with the cached keys, a revoked key stays revoked, readiness says `database: degraded`
 * (and stays ready), the admin API answers 503, and once the server is back the cache is reloaded whole; the request
 * log buffers up to its bound, drops (and counts) the oldest rows past it, and writes the rest when the server is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyCache } from '../../src/management/key-cache.js';
import { RequestLogWriter } from '../../src/management/request-log.writer.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { PostgresInstance } from '../support/postgres-instance.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('database outage: keys from memory (own PostgreSQL)', () => {
  const sim = new OpenAiSimulator();
  let postgres: PostgresInstance;
  let gateway: RunningGateway;

  before(async () => {
    postgres = await PostgresInstance.start();
    gateway = await startGateway({
      auth: { enabled: true, keys: [{ id: 'ops', key: ADMIN_KEY, admin: true }] },
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] }],
      database: { url: postgres.url, statementTimeoutMs: 500, connectTimeoutMs: 500, requestLog: { enabled: false } },
    });
  });
  after(async () => {
    await gateway?.close();
    await sim.stop();
    await postgres?.destroy();
  });

  const status = async (secret: string) => {
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
      { authorization: `Bearer ${secret}` },
    );
    await response.body?.cancel();
    return response.status;
  };
  /** A new key, once the cache has it (the notification is applied a moment after the answer). */
  const create = async (id: string) => {
    const response = await postJson(`${gateway.url}/admin/keys`, { id }, admin);
    assert.equal(response.status, 201);
    const { secret } = (await response.json()) as { secret: string };
    await until(async () => (await status(secret)) === 200);
    return secret;
  };
  const databaseState = async () => {
    const response = await fetch(`${gateway.url}/health/ready`);
    const body = (await response.json()) as { info?: Record<string, { state?: string }> };
    return { status: response.status, state: body.info?.database?.state };
  };

  it('serves cached keys while the server is down, keeps revoked ones out, and resyncs when it is back', async () => {
    const kept = await create('kept');
    const revoked = await create('revoked');
    const missed = await create('missed');
    const revoke = await postJson(`${gateway.url}/admin/keys/revoked/revoke`, {}, admin);
    assert.equal(revoke.status, 200);
    await until(async () => (await status(revoked)) === 401);
    // A change no notification announces (made by hand): only a full reload can see it.
    const { default: pg } = await import('pg');
    const direct = new pg.Client({ connectionString: postgres.url });
    await direct.connect();
    await direct.query(`UPDATE keys SET revoked_at = now() WHERE id = 'missed'`);
    await direct.end();
    assert.equal(await status(missed), 200, 'not seen yet');

    await postgres.kill();
    await until(async () => (await databaseState()).state === 'degraded');
    assert.equal((await databaseState()).status, 200, 'still ready: it serves from memory');
    assert.equal(await status(kept), 200);
    assert.equal(await status(revoked), 401);
    const refused = await postJson(`${gateway.url}/admin/keys`, { id: 'later' }, admin);
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'database_unavailable');

    const cache = gateway.app.get(KeyCache);
    const reloads = cache.reloads;
    await postgres.restart();
    await until(() => cache.reloads > reloads);
    assert.equal(await status(missed), 401, 'reloaded whole after the outage');
    assert.equal(await status(kept), 200);
    await until(async () => (await databaseState()).state === 'up', 10_000);
  });

  it('a hanging server (SIGSTOP) degrades readiness while cached keys keep working', async () => {
    const kept = await create('kept-2');
    postgres.freeze();
    try {
      await until(async () => (await databaseState()).state === 'degraded');
      assert.equal(await status(kept), 200);
    } finally {
      postgres.thaw();
    }
    await until(async () => (await databaseState()).state === 'up', 15_000);
  });
});

describe('database outage: the request log buffers, drops the oldest past its bound, and catches up (own PostgreSQL)', () => {
  const sim = new OpenAiSimulator();
  let postgres: PostgresInstance;
  let gateway: RunningGateway;
  let rows: (ids: string[]) => Promise<string[]>;

  before(async () => {
    postgres = await PostgresInstance.start();
    gateway = await startGateway({
      auth: { enabled: true, keys: [{ id: 'ops', key: ADMIN_KEY, admin: true }] },
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] }],
      database: {
        url: postgres.url,
        statementTimeoutMs: 300,
        connectTimeoutMs: 300,
        requestLog: { batchRows: 2, flushIntervalMs: 20, maxQueueRows: 5 },
      },
    });
    const { default: pg } = await import('pg');
    rows = async (ids) => {
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      try {
        const found = await client.query<{ request_id: string }>(
          'SELECT request_id FROM request_log WHERE request_id = ANY($1) ORDER BY id',
          [ids],
        );
        return found.rows.map((row) => row.request_id);
      } finally {
        await client.end();
      }
    };
  });
  after(async () => {
    await gateway?.close();
    await sim.stop();
    await postgres?.destroy();
  });

  const request = async () => {
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
      admin,
    );
    assert.equal(response.status, 200, 'requests are served whatever the database does');
    await response.json();
    return response.headers.get('x-request-id')!;
  };
  const droppedMetric = async () => {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return Number(/^llm_request_log_dropped_rows_total (\d+)/m.exec(text)?.[1] ?? 'NaN');
  };

  it('down: keeps the newest maxQueueRows rows, counts the dropped ones, writes the rest once the server is back', async () => {
    const writer = gateway.app.get(RequestLogWriter);
    await postgres.kill();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await request());
    await until(() => writer.queued === 5);
    assert.equal(await droppedMetric(), 3);
    await postgres.restart();
    await until(() => writer.queued === 0);
    assert.deepEqual(await rows(ids), ids.slice(3), 'the three oldest were dropped, the newest five written');
  });

  it('hanging (SIGSTOP): rows wait in the queue and are written after the server thaws', async () => {
    const writer = gateway.app.get(RequestLogWriter);
    postgres.freeze();
    const ids: string[] = [];
    try {
      for (let i = 0; i < 3; i++) ids.push(await request());
      // Nothing can be written to a frozen server: the rows wait (a batch in flight counts as queued until written).
      assert.equal(writer.queued, 3);
    } finally {
      postgres.thaw();
    }
    await until(() => writer.queued === 0, 20_000);
    assert.deepEqual(await rows(ids), ids);
  });
});
