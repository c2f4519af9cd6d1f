/** The per-request JSON log line: one per API request, with its facts, and never a secret or message text. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const GATEWAY_KEY = 'gk-live-9f8e7d6c5b4a3928170655aa';
const WRONG_KEY = 'gk-live-0000000000wrongwrong00';
const PROVIDER_KEY = 'sk-upstream-1a2b3c4d5e6f7a8b9c0d1e2f';
const PROMPT = 'the launch code is purple elephant';

interface RequestLine {
  message: string;
  requestId: string;
  traceId: string | null;
  keyId: string | null;
  operation: string;
  model: string;
  servedModel: string | null;
  deployment: string | null;
  attempts: number;
  stream: boolean;
  status: number;
  latencyMs: number;
  overheadMs: number | null;
  upstreamMs: number;
  ttftMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  cache: string | null;
  error: string | null;
}

describe('request log lines', () => {
  const sim = new OpenAiSimulator({ apiKey: PROVIDER_KEY });
  let gateway: RunningGateway;
  let captured = '';
  const write = process.stdout.write.bind(process.stdout);

  before(async () => {
    gateway = await startGateway({
      server: { logRequests: true },
      auth: { enabled: true, keys: [{ id: 'team-a', key: GATEWAY_KEY }] },
      providers: [
        { name: 'sim', type: 'openai', baseUrl: await sim.start(), apiKey: PROVIDER_KEY, retry: { retries: 0 } },
      ],
      models: [
        {
          name: 'gpt-test',
          deployments: [{ provider: 'sim', model: 'sim-model' }],
          pricing: { inputPerMillion: 1, outputPerMillion: 2 },
        },
      ],
    });
    // Record what the process writes to stdout, and still write it.
    process.stdout.write = (chunk: string | Uint8Array, ...rest: never[]) => {
      captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return write.call(process.stdout, chunk, ...rest);
    };
  });
  after(async () => {
    process.stdout.write = write;
    await gateway.close();
    await sim.stop();
  });

  // The test runner shares stdout (binary frames without newlines), so a line is found by its start.
  const lines = () =>
    captured
      .split('\n')
      .map((line) => line.slice(line.indexOf('{"level":"log"')))
      .filter((line) => line.startsWith('{') && line.includes('"message":"request"'))
      .map((line) => JSON.parse(line) as RequestLine);

  async function linesFor(requestIds: string[]): Promise<RequestLine[]> {
    for (
      let i = 0;
      i < 100 && lines().filter((l) => requestIds.includes(l.requestId)).length < requestIds.length;
      i++
    ) {
      await sleep(10);
    }
    return requestIds.map((id) => {
      const matching = lines().filter((line) => line.requestId === id);
      assert.equal(matching.length, 1, `one line for request ${id}`);
      return matching[0];
    });
  }

  it('writes one line per request, when it ends, with ids, routing, timing, tokens and cost', async () => {
    const headers = { authorization: `Bearer ${GATEWAY_KEY}`, 'x-api-key': GATEWAY_KEY };
    const body = { model: 'gpt-test', messages: [{ role: 'user', content: PROMPT }] };
    const answered = await postJson(`${gateway.url}/v1/chat/completions`, body, headers);
    assert.equal(answered.status, 200);
    await answered.text();
    const streamed = await postJson(`${gateway.url}/v1/chat/completions`, { ...body, stream: true }, headers);
    assert.equal(streamed.status, 200);
    await streamed.text();
    const refused = await postJson(`${gateway.url}/v1/chat/completions`, body, {
      authorization: `Bearer ${WRONG_KEY}`,
    });
    assert.equal(refused.status, 401);
    sim.enqueueFault({ status: 500 });
    const failed = await postJson(`${gateway.url}/v1/chat/completions`, body, headers);
    assert.equal(failed.status, 500);
    await failed.text();

    const ids = [answered, streamed, refused, failed].map((response) => response.headers.get('x-request-id')!);
    const [ok, stream, denied, error] = await linesFor(ids);

    assert.deepEqual(
      { keyId: ok.keyId, model: ok.model, servedModel: ok.servedModel, deployment: ok.deployment, status: ok.status },
      { keyId: 'team-a', model: 'gpt-test', servedModel: 'gpt-test', deployment: 'sim/sim-model', status: 200 },
    );
    assert.equal(ok.operation, 'chat');
    assert.equal(ok.attempts, 1);
    assert.equal(ok.stream, false);
    assert.equal(ok.traceId, null, 'tracing is off');
    assert.ok(ok.latencyMs > 0 && ok.upstreamMs > 0 && ok.overheadMs !== null && ok.overheadMs >= 0);
    assert.ok(ok.latencyMs >= ok.upstreamMs);
    assert.ok(ok.promptTokens! > 0 && ok.completionTokens! > 0);
    assert.equal(ok.costUsd, (ok.promptTokens! * 1 + ok.completionTokens! * 2) / 1e6);
    assert.equal(ok.ttftMs, null);
    assert.equal(ok.cache, null, 'the cache is off');
    assert.equal(ok.error, null);

    assert.equal(stream.stream, true);
    assert.equal(stream.status, 200);
    assert.ok(stream.ttftMs !== null && stream.ttftMs > 0);
    assert.ok(stream.completionTokens! > 0);

    assert.equal(denied.status, 401);
    assert.equal(denied.keyId, null);
    assert.equal(denied.model, 'unknown');
    assert.equal(denied.error, 'invalid_api_key');
    assert.equal(denied.overheadMs, null, 'never reached an upstream');

    assert.equal(error.status, 500);
    assert.equal(error.error, 'upstream_error');
    assert.equal(error.servedModel, null);
    assert.equal(error.attempts, 1);
  });

  it('never writes keys, auth headers or message text', () => {
    assert.ok(lines().length >= 4);
    for (const secret of [GATEWAY_KEY, WRONG_KEY, PROVIDER_KEY, PROMPT, 'Bearer', 'purple']) {
      assert.ok(!captured.includes(secret), `stdout contains ${secret}`);
    }
  });
});
