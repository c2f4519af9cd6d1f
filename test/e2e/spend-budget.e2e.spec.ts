/**
 * USD budgets of database keys and teams, shared by two gateway instances through the real Redis (a key prefix of
 * this run's own) and the real PostgreSQL (a schema of its own): each request reserves its most before it is sent and
 * settles after, streams included, so 50 concurrent requests against a nearly spent budget overshoot it by at most
 * one request's cost.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SpendService } from '../../src/auth/spend.service.js';
import { budgetPeriods } from '../../src/auth/budget.service.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { testSchema, type TestSchema } from '../support/postgres.js';
import { RedisInstance } from '../support/redis-instance.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const PREFIX = `llmgw:test:spend:${process.pid}-${Date.now()}:`;
const NANO = 1e9;
const body = { model: 'gpt-test', messages: [{ role: 'user', content: 'spend some money' }], max_tokens: 20 };

describe('USD budgets: reserve before, settle after, shared by replicas (PostgreSQL + Redis)', () => {
  const sim = new OpenAiSimulator();
  let schema: TestSchema;
  let redis: Redis;
  let a: RunningGateway;
  let b: RunningGateway;

  before(async () => {
    schema = await testSchema('spend');
    redis = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
    const document = {
      auth: { enabled: true, keys: [{ id: 'ops', key: ADMIN_KEY, admin: true }] },
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [
        {
          name: 'gpt-test',
          deployments: [{ provider: 'sim', model: 'sim-model' }],
          pricing: { inputPerMillion: 1_000, outputPerMillion: 10_000 },
        },
      ],
      rateLimit: { redis: { url: 'redis://127.0.0.1:6379', keyPrefix: PREFIX, commandTimeoutMs: 1_000 } },
      database: schema.section(),
    };
    a = await startGateway(document);
    b = await startGateway(document);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await sim.stop();
    await schema?.drop();
    const keys = await redis.keys(`${PREFIX}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  async function newKey(input: Record<string, unknown>): Promise<string> {
    const created = await postJson(`${a.url}/admin/keys`, input, admin);
    assert.equal(created.status, 201);
    const { secret } = (await created.json()) as { secret: string };
    // Visible on both instances (through NOTIFY) before the test starts.
    for (const gateway of [a, b]) {
      for (let tries = 0; ; tries++) {
        const probe = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
        await probe.body?.cancel();
        if (probe.status === 200) break;
        assert.ok(tries < 100, 'the key reached the instance');
        await sleep(10);
      }
    }
    return secret;
  }

  const counter = (owner: string, tag = owner) =>
    `${PREFIX}spend:{${tag}}:${owner}:usd:d:${budgetPeriods(Date.now()).day}`;
  const spentNano = async (name: string) => Number((await redis.get(name)) ?? 0);

  it('50 concurrent requests on two replicas against a nearly spent budget overshoot it by at most one request', async () => {
    const limitUsd = 2;
    const secret = await newKey({ id: 'spender', budget: { usdPerDay: limitUsd } });
    const name = counter('key:spender');
    const maxCost = a.app.get(SpendService).maxCostUsd('gpt-test', JSON.stringify(body).length, body.max_tokens);
    // Nearly spent: less than one request's most is left.
    const start = Math.round((limitUsd - maxCost / 2) * NANO);
    await redis.set(name, start);

    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const response = await postJson(`${(i % 2 ? a : b).url}/v1/chat/completions`, body, {
          authorization: `Bearer ${secret}`,
        });
        const cost = Number(response.headers.get('x-gateway-cost') ?? 0);
        const payload = (await response.json()) as { error?: { code: string } };
        return { status: response.status, cost, code: payload.error?.code };
      }),
    );
    const served = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    assert.ok(served.length >= 1, 'the budget was not spent yet');
    assert.equal(served.length + refused.length, 50);
    assert.ok(refused.every((answer) => answer.code === 'insufficient_quota'));
    // Settlements land right after each answer: wait until the counter holds only actual costs.
    const actual = served.reduce((total, answer) => total + answer.cost, 0);
    const expected = start + Math.round(actual * NANO);
    for (let tries = 0; Math.abs((await spentNano(name)) - expected) > served.length; tries++) {
      assert.ok(tries < 100, 'settled');
      await sleep(10);
    }
    const spent = (await spentNano(name)) / NANO;
    assert.ok(spent > limitUsd - maxCost, 'the counter holds the spend');
    assert.ok(
      spent <= limitUsd + maxCost,
      `spent ${spent} USD of ${limitUsd}: overshoot at most one request (${maxCost})`,
    );
  });

  it("a team's USD budget caps its keys, and a stream is settled when it ends", async () => {
    await postJson(`${a.url}/admin/teams`, { id: 'frugal', name: 'Frugal', budget: { usdPerDay: 5 } }, admin);
    const first = await newKey({ id: 'frugal-1', teamId: 'frugal' });
    const second = await newKey({ id: 'frugal-2', teamId: 'frugal' });
    const team = counter('team:frugal', 'team:frugal');

    const stream = await postJson(
      `${a.url}/v1/chat/completions`,
      { ...body, stream: true, stream_options: { include_usage: true } },
      {
        authorization: `Bearer ${first}`,
      },
    );
    const chunks = sseData(await stream.text()).filter((data) => data !== '[DONE]');
    const usage = (JSON.parse(chunks.at(-1)!) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    const streamCost = (usage.prompt_tokens * 1_000 + usage.completion_tokens * 10_000) / 1e6;
    for (let tries = 0; Math.abs((await spentNano(team)) - Math.round(streamCost * NANO)) > 1; tries++) {
      assert.ok(tries < 100, 'the stream was settled at its actual cost');
      await sleep(10);
    }

    await redis.set(team, 5 * NANO);
    const refused = await postJson(`${b.url}/v1/chat/completions`, body, { authorization: `Bearer ${second}` });
    assert.equal(refused.status, 429);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'insufficient_quota');
    assert.match(error.message, /team 'frugal'/);
  });

  it('a request refused upstream gives its reservation back', async () => {
    const secret = await newKey({ id: 'refunded', budget: { usdPerMonth: 100 } });
    const name = `${PREFIX}spend:{key:refunded}:key:refunded:usd:m:${budgetPeriods(Date.now()).month}`;
    sim.enqueueFault({ status: 400 });
    const failing = await postJson(`${a.url}/v1/chat/completions`, body, { authorization: `Bearer ${secret}` });
    assert.equal(failing.status, 400);
    await failing.body?.cancel();
    for (let tries = 0; (await spentNano(name)) !== 0; tries++) {
      assert.ok(tries < 100, `given back (status ${failing.status})`);
      await sleep(10);
    }
  });
});

describe('USD budgets with Redis down: fail closed (own redis-server)', () => {
  const sim = new OpenAiSimulator();
  let schema: TestSchema;
  let redis: RedisInstance;
  let gateway: RunningGateway;

  before(async () => {
    schema = await testSchema('spend_down');
    redis = await RedisInstance.start();
    gateway = await startGateway({
      auth: { enabled: true, keys: [{ id: 'ops', key: ADMIN_KEY, admin: true }] },
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [
        {
          name: 'gpt-test',
          deployments: [{ provider: 'sim', model: 'sim-model' }],
          pricing: { inputPerMillion: 1, outputPerMillion: 1 },
        },
      ],
      rateLimit: { redis: { url: redis.url, commandTimeoutMs: 200, connectTimeoutMs: 200 } },
      database: schema.section(),
    });
  });
  after(async () => {
    await gateway?.close();
    await sim.stop();
    await redis?.kill();
    await schema?.drop();
  });

  it('refuses requests subject to a spend budget with 503 budget_unavailable, serves the others', async () => {
    const issue = async (input: Record<string, unknown>) => {
      const created = await postJson(`${gateway.url}/admin/keys`, input, admin);
      return ((await created.json()) as { secret: string }).secret;
    };
    const budgeted = await issue({ id: 'budgeted', budget: { usdPerDay: 10 } });
    const free = await issue({ id: 'unbudgeted' });
    const chat = async (secret: string) => {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, body, {
        authorization: `Bearer ${secret}`,
      });
      const payload = (await response.json()) as { error?: { code: string } };
      return [response.status, payload.error?.code];
    };
    for (let tries = 0; (await chat(budgeted))[0] !== 200; tries++) {
      assert.ok(tries < 100, 'the key reached the cache');
      await sleep(10);
    }
    await redis.kill();
    assert.deepEqual(await chat(budgeted), [503, 'budget_unavailable']);
    assert.deepEqual((await chat(free))[0], 200);
  });
});
