/** Per-key usage and cost: x-gateway-cost, GET /admin/usage[/:keyId], in memory and shared by replicas in Redis. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingResponse } from '../../src/common/openai.types.js';
import type { KeyUsage } from '../../src/usage/usage.service.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const TEAM_KEY = 'gk-team-a-0123456789abcdef';
const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const PRICING = { inputPerMillion: 3, outputPerMillion: 15 };
const messages = [{ role: 'user', content: 'what does this cost' }];

function gatewayDocument(simUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    auth: {
      enabled: true,
      keys: [
        { id: 'team-a', key: TEAM_KEY },
        { id: 'ops', key: ADMIN_KEY, admin: true },
      ],
    },
    providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
    models: [
      { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }], pricing: PRICING },
      {
        name: 'embed-test',
        deployments: [{ provider: 'sim', model: 'text-embedding-3-small' }],
        pricing: { inputPerMillion: 0.02, outputPerMillion: 0 },
      },
      { name: 'free', deployments: [{ provider: 'sim', model: 'sim-model' }] },
    ],
    ...extra,
  };
}

const team = { authorization: `Bearer ${TEAM_KEY}` };
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

async function usageOf(gatewayUrl: string, keyId: string): Promise<KeyUsage> {
  const response = await fetch(`${gatewayUrl}/admin/usage/${keyId}`, { headers: admin });
  assert.equal(response.status, 200);
  return (await response.json()) as KeyUsage;
}

describe('usage and cost per key (memory)', () => {
  const sim = new OpenAiSimulator();
  let gateway: RunningGateway;

  before(async () => {
    gateway = await startGateway(gatewayDocument(await sim.start()));
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  it('prices answers in x-gateway-cost and adds every request to its key', async () => {
    let prompt = 0;
    let completion = 0;
    let cost = 0;
    const answer = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'gpt-test', messages }, team);
    const answered = (await answer.json()) as ChatCompletion;
    const answerCost = (answered.usage!.prompt_tokens * 3 + answered.usage!.completion_tokens * 15) / 1e6;
    assert.equal(answer.headers.get('x-gateway-cost'), answerCost.toFixed(8).replace(/\.?0+$/, ''));
    prompt += answered.usage!.prompt_tokens;
    completion += answered.usage!.completion_tokens;
    cost += answerCost;

    const stream = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt-test', messages, stream: true, stream_options: { include_usage: true } },
      team,
    );
    assert.equal(stream.headers.get('x-gateway-cost'), null, 'a stream sends its headers before its usage is known');
    const usage = sseData(await stream.text())
      .filter((data) => data !== '[DONE]')
      .map((data) => JSON.parse(data) as ChatCompletionChunk)
      .find((chunk) => chunk.usage)!.usage!;
    prompt += usage.prompt_tokens;
    completion += usage.completion_tokens;
    cost += (usage.prompt_tokens * 3 + usage.completion_tokens * 15) / 1e6;

    const embedding = await postJson(
      `${gateway.url}/v1/embeddings`,
      { model: 'embed-test', input: 'four words of input' },
      team,
    );
    assert.equal(embedding.status, 200);
    const embedded = (await embedding.json()) as EmbeddingResponse;
    const embeddingCost = (embedded.usage.prompt_tokens * 0.02) / 1e6;
    assert.equal(embedding.headers.get('x-gateway-cost'), embeddingCost.toFixed(8).replace(/\.?0+$/, ''));
    prompt += embedded.usage.prompt_tokens;
    cost += embeddingCost;

    const free = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'free', messages }, team);
    assert.equal(free.headers.get('x-gateway-cost'), null, 'no pricing, no cost');
    const freeUsage = ((await free.json()) as ChatCompletion).usage!;
    prompt += freeUsage.prompt_tokens;
    completion += freeUsage.completion_tokens;

    const totals = await usageOf(gateway.url, 'team-a');
    assert.deepEqual(
      { ...totals, costUsd: Math.round(totals.costUsd * 1e9) },
      {
        keyId: 'team-a',
        requests: 4,
        promptTokens: prompt,
        completionTokens: completion,
        totalTokens: prompt + completion,
        costUsd: Math.round(cost * 1e9),
      },
    );
    const list = (await (await fetch(`${gateway.url}/admin/usage`, { headers: admin })).json()) as { data: KeyUsage[] };
    assert.deepEqual(
      list.data.map((entry) => entry.keyId),
      ['team-a'],
    );
  });

  it('answers 404 for a key without usage and 403 for a key that is not admin', async () => {
    const missing = await fetch(`${gateway.url}/admin/usage/nobody`, { headers: admin });
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'key_usage_not_found');
    const forbidden = await fetch(`${gateway.url}/admin/usage`, { headers: team });
    assert.equal(forbidden.status, 403);
  });
});

describe('usage and cost per key (Redis, two replicas)', () => {
  const sim = new OpenAiSimulator();
  const keyPrefix = `llmgw:test:${randomUUID()}:`;
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  let first: RunningGateway;
  let second: RunningGateway;

  before(async () => {
    const simUrl = await sim.start();
    const document = gatewayDocument(simUrl, { rateLimit: { redis: { url: 'redis://127.0.0.1:6379', keyPrefix } } });
    first = await startGateway(document);
    second = await startGateway(document);
    await redis.connect();
  });
  after(async () => {
    await first.close();
    await sim.stop();
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('sums what every replica recorded, and keeps it when a replica stops', async () => {
    for (const gateway of [first, second, second]) {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'gpt-test', messages }, team);
      assert.equal(response.status, 200);
      await response.text();
    }
    // The second replica writes its sums when it shuts down (otherwise within a second).
    await second.close();
    const totals = await usageOf(first.url, 'team-a');
    assert.equal(totals.requests, 3);
    assert.ok(totals.costUsd > 0);
    assert.equal(await redis.hget(`${keyPrefix}usage:{team-a}`, 'requests'), '2');
    assert.deepEqual(await redis.smembers(`${keyPrefix}usage:keys`), ['team-a']);
  });
});
