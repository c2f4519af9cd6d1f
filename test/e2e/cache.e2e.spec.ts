/** The response cache through the gateway: L1 + the real Redis, replay as SSE, coalescing, Cache-Control, outage. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { RedisInstance } from '../support/redis-instance.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const KEY_A = 'sk-gw-cache-a-0123456789abcdef';
const KEY_B = 'sk-gw-cache-b-0123456789abcdef';

function document(simUrl: string, redisUrl: string, prefix: string) {
  return {
    providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
    models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
    auth: {
      keys: [
        { id: 'a', key: KEY_A },
        { id: 'b', key: KEY_B },
      ],
    },
    cache: { enabled: true, redis: { url: redisUrl, keyPrefix: prefix }, defaultTtlSeconds: 60 },
  };
}

const ask = (
  url: string,
  content: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  key = KEY_A,
) =>
  postJson(
    `${url}/v1/chat/completions`,
    { model: 'm', temperature: 0, messages: [{ role: 'user', content }], ...extra },
    { authorization: `Bearer ${key}`, ...headers },
  );

describe('response cache (real Redis at 127.0.0.1:6379)', () => {
  const sim = new OpenAiSimulator();
  let first: RunningGateway;
  let second: RunningGateway;

  before(async () => {
    const simUrl = await sim.start();
    const prefix = `llmgw:test:${randomUUID()}:`;
    first = await startGateway(document(simUrl, 'redis://127.0.0.1:6379', prefix));
    second = await startGateway(document(simUrl, 'redis://127.0.0.1:6379', prefix));
  });
  after(async () => {
    await first.close();
    await second.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('misses, then hits from L1; another replica hits from Redis (L2)', async () => {
    const miss = await ask(first.url, 'cache me');
    assert.equal(miss.headers.get('x-gateway-cache'), 'miss');
    const body = await miss.json();
    const hit = await ask(first.url, 'cache me');
    assert.equal(hit.headers.get('x-gateway-cache'), 'hit');
    assert.deepEqual(await hit.json(), body);
    const replica = await ask(second.url, 'cache me');
    assert.equal(replica.headers.get('x-gateway-cache'), 'hit');
    assert.deepEqual(await replica.json(), body);
    assert.equal(sim.received, 1);
  });

  it('keys on the canonical request: key order and whitespace do not matter, parameters do', async () => {
    await (await ask(first.url, 'canonical', { top_p: 0.5, max_tokens: 50 })).text();
    const reordered = await postJson(
      `${first.url}/v1/chat/completions`,
      `{ "max_tokens": 50,  "top_p": 0.5, "messages": [ {"content": "canonical", "role": "user"} ], "temperature": 0, "model": "m" }`,
      { authorization: `Bearer ${KEY_A}` },
    );
    assert.equal(reordered.headers.get('x-gateway-cache'), 'hit');
    const changed = await ask(first.url, 'canonical', { top_p: 0.6, max_tokens: 50 });
    assert.equal(changed.headers.get('x-gateway-cache'), 'miss');
    assert.equal(sim.received, 2);
  });

  it('keeps entries per gateway key', async () => {
    await (await ask(first.url, 'per key')).text();
    const other = await ask(first.url, 'per key', {}, {}, KEY_B);
    assert.equal(other.headers.get('x-gateway-cache'), 'miss');
  });

  it('caches only deterministic requests by default, and obeys Cache-Control', async () => {
    const random = await ask(first.url, 'random', { temperature: 0.7 });
    assert.equal(random.headers.get('x-gateway-cache'), 'bypass');
    const seeded = await ask(first.url, 'seeded', { temperature: 0.7, seed: 42 });
    assert.equal(seeded.headers.get('x-gateway-cache'), 'miss');

    await (await ask(first.url, 'refresh me')).text();
    const refreshed = await ask(first.url, 'refresh me', {}, { 'cache-control': 'no-cache' });
    assert.equal(refreshed.headers.get('x-gateway-cache'), 'miss');
    const bypassed = await ask(first.url, 'refresh me', {}, { 'cache-control': 'no-store' });
    assert.equal(bypassed.headers.get('x-gateway-cache'), 'bypass');
    assert.equal(sim.received, 5, 'random, seeded, refresh me, its no-cache refresh and the no-store bypass');
  });

  it('replays a hit as an SSE stream when the request asks for one, and stores a finished stream', async () => {
    const original = (await (await ask(first.url, 'stream replay')).json()) as {
      choices: Array<{ message: { content: string } }>;
    };
    const replay = await ask(first.url, 'stream replay', { stream: true, stream_options: { include_usage: true } });
    assert.equal(replay.headers.get('x-gateway-cache'), 'hit');
    assert.match(replay.headers.get('content-type') ?? '', /text\/event-stream/);
    const data = sseData(await replay.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data
      .slice(0, -1)
      .map((d) => JSON.parse(d) as { choices: Array<{ delta: { content?: string } }>; usage?: unknown });
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), original.choices[0].message.content);
    assert.ok(chunks.at(-1)?.usage, 'usage chunk replayed');

    const streamed = await ask(first.url, 'stored from a stream', { stream: true });
    assert.equal(streamed.headers.get('x-gateway-cache'), 'miss');
    const text = sseData(await streamed.text())
      .slice(0, -1)
      .map(
        (d) => (JSON.parse(d) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '',
      )
      .join('');
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = await ask(first.url, 'stored from a stream');
    assert.equal(after.headers.get('x-gateway-cache'), 'hit');
    assert.equal(
      ((await after.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content,
      text,
    );
  });

  it('coalesces 10 identical concurrent misses into one upstream call', async () => {
    sim.enqueueFault({ firstByteDelayMs: 200 });
    const responses = await Promise.all(Array.from({ length: 10 }, () => ask(first.url, 'coalesce')));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    assert.ok(responses.every((r) => r.status === 200));
    assert.ok(bodies.every((b) => JSON.stringify(b) === JSON.stringify(bodies[0])));
    assert.equal(sim.received, 1);
  });
});

describe('cache during a Redis outage', () => {
  const sim = new OpenAiSimulator();
  let redis: RedisInstance;
  let gateway: RunningGateway;

  before(async () => {
    redis = await RedisInstance.start();
    gateway = await startGateway(document(await sim.start(), redis.url, 'llmgw:outage:'));
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    await redis.kill();
  });

  it('keeps answering on L1 while Redis is down, reports degraded readiness, and recovers', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await ask(gateway.url, `before ${i}`)).status, 200);
    await redis.kill();
    const during = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(gateway.url, `during ${i % 5}`)));
    assert.ok(
      during.every((r) => r.status === 200),
      `statuses: ${during.map((r) => r.status).join(',')}`,
    );
    assert.equal((await ask(gateway.url, 'before 1')).headers.get('x-gateway-cache'), 'hit', 'L1 still serves');
    const degraded = (await (await fetch(`${gateway.url}/health/ready`)).json()) as {
      info: { cacheRedis: { state: string } };
    };
    assert.equal(degraded.info.cacheRedis.state, 'degraded');

    await redis.restart();
    let state = '';
    for (let i = 0; i < 100 && state !== 'up'; i++) {
      await (await ask(gateway.url, `after ${i}`)).text();
      state = (
        (await (await fetch(`${gateway.url}/health/ready`)).json()) as { info: { cacheRedis: { state: string } } }
      ).info.cacheRedis.state;
      if (state !== 'up') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(state, 'up');
  });
});
