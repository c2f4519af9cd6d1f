/** Token-bucket rate limits through the gateway, shared by two replicas on the real Redis. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const KEY = 'sk-gw-limits-0123456789abcdef';
const TPM_KEY = 'sk-gw-tpm-0123456789abcdefgh';
const messages = [{ role: 'user', content: 'limit me' }];

describe('rate limits (real Redis at 127.0.0.1:6379)', () => {
  const sim = new OpenAiSimulator();
  let replicas: RunningGateway[] = [];

  before(async () => {
    const simUrl = await sim.start();
    const document = {
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
      models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
      auth: {
        keys: [
          { id: 'limited', key: KEY, limits: { requestsPerMinute: 60, burst: 4 } },
          { id: 'tpm', key: TPM_KEY, limits: { tokensPerMinute: 1_000 } },
        ],
      },
      rateLimit: {
        enabled: true,
        failureMode: 'failClosed',
        redis: { url: 'redis://127.0.0.1:6379', keyPrefix: `llmgw:test:${randomUUID()}:` },
      },
    };
    replicas = [await startGateway(document), await startGateway(document)];
  });
  after(async () => {
    for (const replica of replicas) await replica.close();
    await sim.stop();
  });

  it('two replicas enforce one combined burst, then 429 with Retry-After and x-ratelimit headers', async () => {
    const responses = [];
    for (let i = 0; i < 6; i++) {
      responses.push(
        await postJson(
          `${replicas[i % 2].url}/v1/chat/completions`,
          { model: 'm', messages },
          { authorization: `Bearer ${KEY}` },
        ),
      );
    }
    assert.deepEqual(
      responses.map((r) => r.status),
      [200, 200, 200, 200, 429, 429],
    );
    const ok = responses[0];
    assert.equal(ok.headers.get('x-ratelimit-limit-requests'), '4');
    assert.equal(ok.headers.get('x-ratelimit-remaining-requests'), '3');
    assert.match(ok.headers.get('x-ratelimit-reset-requests') ?? '', /^\d+(\.\d+)?m?s$/);
    const limited = responses[4];
    assert.equal(limited.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const body = (await limited.json()) as { error: { type: string; code: string } };
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.equal(sim.received, 4);
  });

  it('reserves max_tokens up front and gives back what was not used', async () => {
    // Each request reserves ~400 tokens of a 1,000-token bucket but uses ~10: without reconciliation the
    // third request in a row would be refused.
    for (let i = 0; i < 6; i++) {
      const response = await postJson(
        `${replicas[i % 2].url}/v1/chat/completions`,
        { model: 'm', messages, max_tokens: 400 },
        { authorization: `Bearer ${TPM_KEY}` },
      );
      assert.equal(response.status, 200, `request ${i}`);
      assert.equal(response.headers.get('x-ratelimit-limit-tokens'), '1000');
      await response.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const tooBig = await postJson(
      `${replicas[0].url}/v1/chat/completions`,
      { model: 'm', messages, max_tokens: 5_000 },
      { authorization: `Bearer ${TPM_KEY}` },
    );
    assert.equal(tooBig.status, 429);
    assert.equal(((await tooBig.json()) as { error: { code: string } }).error.code, 'tokens_rate_limit_exceeded');
  });
});

describe('rate limits when Redis is unreachable', () => {
  const sim = new OpenAiSimulator();
  const gateways: Record<string, RunningGateway> = {};

  before(async () => {
    const simUrl = await sim.start();
    for (const failureMode of ['failOpen', 'failClosed']) {
      gateways[failureMode] = await startGateway({
        providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
        models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
        rateLimit: {
          enabled: true,
          failureMode,
          global: { requestsPerMinute: 1_000 },
          // Nothing listens on port 1.
          redis: { url: 'redis://127.0.0.1:1', connectTimeoutMs: 100, commandTimeoutMs: 50 },
        },
      });
    }
  });
  after(async () => {
    for (const gateway of Object.values(gateways)) await gateway.close();
    await sim.stop();
  });

  it('failOpen serves from per-replica buckets; failClosed refuses with 503', async () => {
    const open = await postJson(`${gateways.failOpen.url}/v1/chat/completions`, { model: 'm', messages });
    assert.equal(open.status, 200);
    const closed = await postJson(`${gateways.failClosed.url}/v1/chat/completions`, { model: 'm', messages });
    assert.equal(closed.status, 503);
    assert.equal(((await closed.json()) as { error: { code: string } }).error.code, 'rate_limit_unavailable');
    const ready = (await (await fetch(`${gateways.failClosed.url}/health/ready`)).json()) as {
      info: { rateLimitRedis: { state: string } };
    };
    assert.equal(ready.info.rateLimitRedis.state, 'degraded');
  });
});
