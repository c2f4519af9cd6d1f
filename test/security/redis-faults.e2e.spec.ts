/**
 * Redis frozen (SIGSTOP) and killed under the gateway, on a redis-server of this test's own: readiness and the
 * degraded gauge follow command outcomes (a frozen Redis keeps its connection), and the usage of a stream that was
 * running when Redis died is written once Redis is back, so the budget is charged.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from '../e2e/harness.js';
import { RedisInstance } from '../support/redis-instance.js';

const KEY = 'sk-gw-redis-faults-0123456789';
const PLAIN_KEY = 'sk-gw-redis-faults-plain-0123456789';

interface Readiness {
  info?: Record<string, { state?: string }>;
  error?: Record<string, { state?: string }>;
}

async function dependencyState(url: string, check: string): Promise<string | undefined> {
  const body = (await (await fetch(`${url}/health/ready`)).json()) as Readiness;
  return (body.info ?? body.error)?.[check]?.state;
}

async function degradedGauge(url: string, dependency: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`llm_dependency_degraded{dependency="${dependency}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('Redis frozen and killed under the gateway', () => {
  const sim = new OpenAiSimulator({ chunkDelayMs: 60 });
  const prefix = `llmgw:faults:${randomUUID()}:`;
  let redis: RedisInstance;
  let gateway: RunningGateway;

  before(async () => {
    redis = await RedisInstance.start();
    const simUrl = await sim.start();
    gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'm' }] }],
      auth: {
        enabled: true,
        keys: [
          { id: 'metered', key: KEY, budget: { tokensPerDay: 1_000_000 } },
          { id: 'plain', key: PLAIN_KEY },
        ],
      },
      rateLimit: {
        enabled: true,
        failureMode: 'failClosed',
        redis: { url: redis.url, keyPrefix: prefix, commandTimeoutMs: 100, connectTimeoutMs: 500 },
        defaultPerKey: { requestsPerMinute: 100_000 },
      },
    });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    await redis.kill();
  });

  const chat = (content: string, stream = false, key = KEY) =>
    postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', stream, messages: [{ role: 'user', content }] },
      { authorization: `Bearer ${key}` },
    );

  it('reports a frozen Redis as degraded while its commands time out, and up again once they succeed', async () => {
    assert.equal((await chat('warm up')).status, 200);
    assert.equal(await dependencyState(gateway.url, 'rateLimitRedis'), 'up');
    assert.equal(await degradedGauge(gateway.url, 'rate_limit_redis'), 0);
    redis.freeze();
    try {
      const unlimited = await chat('while frozen', false, PLAIN_KEY);
      assert.equal(unlimited.status, 503, 'failClosed refuses while the limits cannot be checked');
      const unmetered = await chat('while frozen');
      assert.equal(unmetered.status, 503, 'budgets refuse while they cannot be checked');
      assert.equal(await dependencyState(gateway.url, 'rateLimitRedis'), 'degraded');
      assert.equal(await dependencyState(gateway.url, 'budgetRedis'), 'degraded');
      assert.equal(await degradedGauge(gateway.url, 'rate_limit_redis'), 1);
      assert.equal((await fetch(`${gateway.url}/health/ready`)).status, 200, 'degraded, still ready');
    } finally {
      redis.thaw();
    }
    await until(
      async () => {
        await (await chat('after the thaw', false, PLAIN_KEY)).text();
        return (await dependencyState(gateway.url, 'rateLimitRedis')) === 'up';
      },
      10_000,
      'rateLimitRedis up again',
    );
    assert.equal(await degradedGauge(gateway.url, 'rate_limit_redis'), 0);
  });

  it('writes the usage of a stream that ended while Redis was down once Redis is back', async () => {
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    const counter = `${prefix}budget:{metered}:d:${new Date().toISOString().slice(0, 10)}`;
    const before = Number((await client.get(counter)) ?? 0);
    client.disconnect();

    const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    const stream = await chat(words, true);
    assert.equal(stream.status, 200);
    await sleep(100);
    await redis.kill();
    const text = await stream.text();
    assert.match(text, /\[DONE\]/, 'the stream itself is not affected');
    await sleep(200);
    await redis.restart();

    const after = new Redis(redis.url);
    try {
      // A new server: the counter starts from 0 and holds only what was kept while Redis was gone.
      await until(async () => Number((await after.get(counter)) ?? 0) > 0, 8_000, 'the kept usage is written');
      const written = Number(await after.get(counter));
      assert.ok(written >= 30, `wrote ${written} tokens (prompt + completion of the stream), had ${before} before`);
    } finally {
      after.disconnect();
    }
  });
});
