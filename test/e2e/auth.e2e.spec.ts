/** Gateway API keys, model allow-lists, admin access and token budgets (budgets shared in the real Redis). */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const TEAM_KEY = 'sk-gw-team-0123456789abcdef';
const HASHED_KEY = 'sk-gw-hashed-0123456789abcdef';
const ADMIN_KEY = 'sk-gw-admin-0123456789abcdef';
const BUDGET_KEY = 'sk-gw-budget-0123456789abcdef';
const messages = [{ role: 'user', content: 'hello' }];

describe('gateway API keys and budgets', () => {
  const sim = new OpenAiSimulator({ apiKey: 'sk-provider-secret-value' });
  const prefix = `llmgw:test:${randomUUID()}:`;
  let gateways: RunningGateway[] = [];
  let url: string;

  before(async () => {
    const simUrl = await sim.start();
    const document = {
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl, apiKey: 'sk-provider-secret-value' }],
      models: [
        { name: 'open-model', deployments: [{ provider: 'sim', model: 'a' }] },
        { name: 'other-model', deployments: [{ provider: 'sim', model: 'b' }] },
      ],
      auth: {
        keys: [
          { id: 'team', key: TEAM_KEY, models: ['open-model'] },
          { id: 'hashed', keyHash: `sha256:${createHash('sha256').update(HASHED_KEY).digest('hex')}` },
          { id: 'ops', key: ADMIN_KEY, admin: true },
          { id: 'budgeted', key: BUDGET_KEY, budget: { tokensPerDay: 25 } },
        ],
      },
      rateLimit: { enabled: false, redis: { url: 'redis://127.0.0.1:6379', keyPrefix: prefix } },
    };
    // Two replicas on one Redis: the budget is one budget.
    gateways = [await startGateway(document), await startGateway(document)];
    url = gateways[0].url;
  });
  after(async () => {
    for (const gateway of gateways) await gateway.close();
    await sim.stop();
  });

  const chat = (key: string | undefined, model = 'open-model', base = url) =>
    postJson(`${base}/v1/chat/completions`, { model, messages }, key ? { authorization: `Bearer ${key}` } : {});

  it('rejects a missing or wrong key with 401 in OpenAI format, before reading the body', async () => {
    const missing = await chat(undefined);
    assert.equal(missing.status, 401);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'missing_api_key');
    const wrong = await chat('sk-not-a-key-at-all-000000');
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'invalid_api_key');
    const hugeUnauthenticated = await postJson(`${url}/v1/chat/completions`, 'x'.repeat(50_000_000));
    assert.equal(hugeUnauthenticated.status, 401, 'auth is checked before the 10 MB body limit');
    assert.equal(sim.received, 0);
  });

  it('accepts a configured key and a key given only by its SHA-256', async () => {
    assert.equal((await chat(TEAM_KEY)).status, 200);
    assert.equal((await chat(HASHED_KEY, 'other-model')).status, 200);
  });

  it("enforces a key's model allow-list with 403", async () => {
    const response = await chat(TEAM_KEY, 'other-model');
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'model_not_allowed');
  });

  it('lets only admin keys call /admin endpoints', async () => {
    assert.equal((await fetch(`${url}/admin/routing`)).status, 401);
    assert.equal(
      (await fetch(`${url}/admin/routing`, { headers: { authorization: `Bearer ${TEAM_KEY}` } })).status,
      403,
    );
    assert.equal(
      (await fetch(`${url}/admin/routing`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status,
      200,
    );
  });

  it('never returns the provider key to a client', async () => {
    const text = await (await chat(TEAM_KEY)).text();
    assert.doesNotMatch(text, /sk-provider-secret-value/);
  });

  it('stops a key at its token budget, across replicas, with 429 insufficient_quota', async () => {
    // Requests alternate between the two replicas; the budget (25 tokens per day) is shared in Redis.
    let used = 0;
    let refusedAfter: number | undefined;
    for (let i = 0; i < 10 && refusedAfter === undefined; i++) {
      const response = await chat(BUDGET_KEY, 'open-model', gateways[i % 2].url);
      if (response.status === 429) {
        assert.equal(response.headers.get('x-should-retry'), 'false');
        assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'insufficient_quota');
        refusedAfter = used;
        break;
      }
      assert.equal(response.status, 200);
      const body = (await response.json()) as { usage: { total_tokens: number } };
      assert.ok(used < 25, `a request was let through with ${used} of 25 tokens used`);
      used += body.usage.total_tokens;
      // Usage is recorded right after the response; give it a moment to land in Redis.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(refusedAfter !== undefined && refusedAfter >= 25, `refused after ${refusedAfter} tokens`);
  });
});

describe('auth configuration', () => {
  it('refuses every call when auth is on and no key is configured', async () => {
    const sim = new OpenAiSimulator();
    const gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
      auth: { enabled: true, keys: [] },
    });
    try {
      assert.equal((await postJson(`${gateway.url}/v1/chat/completions`, { model: 'm', messages })).status, 401);
      assert.equal((await fetch(`${gateway.url}/health/ready`)).status, 200, 'probes need no key');
    } finally {
      await gateway.close();
      await sim.stop();
    }
  });
});
