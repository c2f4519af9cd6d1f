/** GET /metrics after known traffic: exact counter values and histogram counts, and no series from raw input. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { ChatCompletion, ChatCompletionChunk } from '../../src/common/openai.types.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';
import { scrape, valueOf } from './prometheus-text.js';

const PRICING = { inputPerMillion: 2, outputPerMillion: 8 };
const messages = [{ role: 'user', content: 'count these words please' }];

describe('GET /metrics', () => {
  const sim = new OpenAiSimulator();
  const downSim = new OpenAiSimulator({ name: 'down' });
  let gateway: RunningGateway;
  /** Tokens the upstream reported for the successful chat requests. */
  const used = { prompt: 0, completion: 0 };
  const costHeaders: string[] = [];

  before(async () => {
    const simUrl = await sim.start();
    const downUrl = await downSim.start();
    const fast = { timeouts: { connectMs: 1_000, firstByteMs: 5_000, totalMs: 10_000 } };
    gateway = await startGateway({
      providers: [
        { name: 'sim', type: 'openai', baseUrl: simUrl, retry: { retries: 0 }, ...fast },
        {
          name: 'flaky',
          type: 'openai',
          baseUrl: simUrl,
          retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 5 },
          ...fast,
        },
        { name: 'down', type: 'openai', baseUrl: downUrl, retry: { retries: 0 }, ...fast },
      ],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }], maxAttempts: 1, pricing: PRICING },
        { name: 'gpt-flaky', deployments: [{ provider: 'flaky', model: 'sim-model' }] },
        { name: 'gpt-down', deployments: [{ provider: 'down', model: 'down-model' }], fallbacks: ['gpt-test'] },
        { name: 'gpt-limited', deployments: [{ provider: 'sim', model: 'sim-model' }] },
      ],
      cache: { enabled: true },
      rateLimit: { enabled: true, perModel: { 'gpt-limited': { requestsPerMinute: 1 } } },
    });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    await downSim.stop();
  });

  const chat = (body: Record<string, unknown>) => postJson(`${gateway.url}/v1/chat/completions`, { messages, ...body });

  it('serves the metrics in Prometheus text format, with Node default metrics, before any traffic', async () => {
    const { samples, contentType } = await scrape(gateway.url);
    assert.match(contentType ?? '', /^text\/plain; version=0\.0\.4/);
    // Series exist from start-up, so rate() and the HPA see zero rather than nothing.
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'gpt-test', front: 'chat', status: '200' }), 0);
    assert.equal(valueOf(samples, 'llm_tokens_total', { model: 'gpt-test', provider: 'sim', type: 'prompt' }), 0);
    assert.equal(valueOf(samples, 'llm_requests_in_flight'), 0);
    assert.equal(valueOf(samples, 'llm_circuit_breaker_state', { deployment: 'sim/sim-model' }), 0);
    assert.ok(samples.has('process_cpu_user_seconds_total'));
    assert.ok(samples.has('nodejs_eventloop_lag_seconds'));
  });

  it('counts 3 OK requests, 1 upstream 500, 1 stream, and the tokens, cost and latency histograms', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await chat({ model: 'gpt-test' });
      assert.equal(response.status, 200);
      const completion = (await response.json()) as ChatCompletion;
      used.prompt += completion.usage!.prompt_tokens;
      used.completion += completion.usage!.completion_tokens;
      costHeaders.push(response.headers.get('x-gateway-cost') ?? 'missing');
    }
    sim.enqueueFault({ status: 500 });
    const failed = await chat({ model: 'gpt-test' });
    assert.equal(failed.status, 500);
    const stream = await chat({ model: 'gpt-test', stream: true, stream_options: { include_usage: true } });
    assert.equal(stream.status, 200);
    const usageChunk = sseData(await stream.text())
      .filter((data) => data !== '[DONE]')
      .map((data) => JSON.parse(data) as ChatCompletionChunk)
      .find((chunk) => chunk.usage);
    used.prompt += usageChunk!.usage!.prompt_tokens;
    used.completion += usageChunk!.usage!.completion_tokens;

    const { samples } = await scrape(gateway.url);
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'gpt-test', front: 'chat', status: '200' }), 4);
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'gpt-test', front: 'chat', status: '500' }), 1);
    assert.equal(valueOf(samples, 'llm_request_duration_seconds_count', { model: 'gpt-test' }), 5);
    // Successful upstream calls: the 3 answers and the stream.
    assert.equal(valueOf(samples, 'llm_model_latency_seconds_count', { model: 'gpt-test' }), 4);
    assert.equal(valueOf(samples, 'llm_gateway_overhead_seconds_count', { stream: 'false' }), 4);
    assert.equal(valueOf(samples, 'llm_gateway_overhead_seconds_count', { stream: 'true' }), 1);
    assert.equal(valueOf(samples, 'llm_time_to_first_token_seconds_count', { model: 'gpt-test' }), 1);
    assert.ok(valueOf(samples, 'llm_inter_chunk_latency_seconds_count', { model: 'gpt-test' }) >= 1);
    assert.equal(
      valueOf(samples, 'llm_upstream_errors_total', { provider: 'sim', class: 'server_error', origin: 'upstream' }),
      1,
    );
    assert.equal(
      valueOf(samples, 'llm_upstream_errors_total', { provider: 'sim', class: 'timeout', origin: 'gateway' }),
      0,
    );
    assert.equal(
      valueOf(samples, 'llm_tokens_total', { model: 'gpt-test', provider: 'sim', type: 'prompt' }),
      used.prompt,
    );
    assert.equal(
      valueOf(samples, 'llm_tokens_total', { model: 'gpt-test', provider: 'sim', type: 'completion' }),
      used.completion,
    );
    const cost = (used.prompt * PRICING.inputPerMillion + used.completion * PRICING.outputPerMillion) / 1e6;
    assert.ok(Math.abs(valueOf(samples, 'llm_cost_usd_total', { model: 'gpt-test', provider: 'sim' }) - cost) < 1e-12);
    // Cache on, but temperature unset: not cacheable.
    assert.equal(valueOf(samples, 'llm_cache_lookups_total', { result: 'bypass' }), 5);
    assert.equal(valueOf(samples, 'llm_requests_in_flight'), 0);
    assert.equal(valueOf(samples, 'llm_streams_open'), 0);
    // The +Inf bucket of a histogram holds every observation.
    assert.equal(valueOf(samples, 'llm_request_duration_seconds_bucket', { model: 'gpt-test', le: '+Inf' }), 5);
    assert.ok(
      samples.has('llm_request_duration_seconds_bucket{le="51.2",model="gpt-test"}'),
      'buckets 0.1 s × 2^n up to 51.2 s',
    );
    assert.ok(
      samples.has('llm_gateway_overhead_seconds_bucket{le="0.0001",stream="false"}'),
      'overhead buckets start at 0.1 ms',
    );
  });

  it('prices each answer in x-gateway-cost', () => {
    assert.equal(costHeaders.length, 3);
    for (const header of costHeaders) assert.match(header, /^0\.\d+$/);
  });

  it('counts an unknown model under model="unknown" and adds no series for it', async () => {
    const before = (await scrape(gateway.url)).samples;
    const response = await chat({ model: 'no-such-model-x1' });
    assert.equal(response.status, 404);
    const { text, samples } = await scrape(gateway.url);
    assert.ok(!text.includes('no-such-model-x1'));
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'unknown', front: 'chat', status: '404' }), 1);
    const added = [...samples.keys()].filter((key) => !before.has(key) && key.startsWith('llm_'));
    assert.deepEqual(added, ['llm_requests_total{front="chat",model="unknown",status="404"}']);
  });

  it('counts cache hits and misses', async () => {
    const cacheable = { model: 'gpt-test', temperature: 0 };
    assert.equal((await chat(cacheable)).status, 200);
    const hit = await chat(cacheable);
    assert.equal(hit.headers.get('x-gateway-cache'), 'hit');
    assert.equal(hit.headers.get('x-gateway-cost'), '0', 'a hit costs nothing');
    const { samples } = await scrape(gateway.url);
    assert.equal(valueOf(samples, 'llm_cache_lookups_total', { result: 'miss' }), 1);
    assert.equal(valueOf(samples, 'llm_cache_lookups_total', { result: 'hit' }), 1);
  });

  it('shows a stream in flight and open while it runs', async () => {
    sim.enqueueFault({ chunkDelayMs: 100 });
    const response = await chat({ model: 'gpt-test', stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    const during = (await scrape(gateway.url)).samples;
    assert.equal(valueOf(during, 'llm_requests_in_flight'), 1);
    assert.equal(valueOf(during, 'llm_streams_open'), 1);
    while (!(await reader.read()).done);
    await sleep(20);
    const afterwards = (await scrape(gateway.url)).samples;
    assert.equal(valueOf(afterwards, 'llm_requests_in_flight'), 0);
    assert.equal(valueOf(afterwards, 'llm_streams_open'), 0);
  });

  it('counts transport retries, fallbacks and rate-limited requests by scope', async () => {
    sim.enqueueFault({ status: 503 });
    assert.equal((await chat({ model: 'gpt-flaky' })).status, 200);
    downSim.enqueueFault({ status: 500, times: 10 });
    const fallen = await chat({ model: 'gpt-down' });
    assert.equal(fallen.status, 200);
    assert.equal(fallen.headers.get('x-gateway-model'), 'gpt-test');
    assert.equal((await chat({ model: 'gpt-limited' })).status, 200);
    assert.equal((await chat({ model: 'gpt-limited' })).status, 429);

    const { samples } = await scrape(gateway.url);
    assert.equal(valueOf(samples, 'llm_upstream_retries_total', { provider: 'flaky' }), 1);
    assert.equal(valueOf(samples, 'llm_upstream_retries_total', { provider: 'sim' }), 0);
    assert.equal(
      valueOf(samples, 'llm_upstream_errors_total', { provider: 'down', class: 'server_error', origin: 'upstream' }),
      1,
    );
    assert.equal(valueOf(samples, 'llm_fallbacks_total', { from: 'gpt-down', to: 'gpt-test' }), 1);
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'gpt-down', front: 'chat', status: '200' }), 1);
    assert.equal(valueOf(samples, 'llm_rate_limited_total', { scope: 'model' }), 1);
    assert.equal(valueOf(samples, 'llm_rate_limited_total', { scope: 'key' }), 0);
    assert.equal(valueOf(samples, 'llm_requests_total', { model: 'gpt-limited', front: 'chat', status: '429' }), 1);
  });
});

describe('GET /metrics with unreachable Redis', () => {
  const sim = new OpenAiSimulator();
  let gateway: RunningGateway;

  before(async () => {
    // Nothing listens on port 1.
    const unreachable = 'redis://127.0.0.1:1';
    gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] }],
      cache: { enabled: true, redis: { url: unreachable, connectTimeoutMs: 100 } },
      rateLimit: {
        enabled: true,
        failureMode: 'failOpen',
        global: { requestsPerMinute: 1_000 },
        redis: { url: unreachable, connectTimeoutMs: 100, commandTimeoutMs: 50 },
      },
    });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  it('reports the cache and rate-limit Redis degraded and counts the bucket calls Redis could not serve', async () => {
    const response = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'gpt-test', messages });
    assert.equal(response.status, 200, 'failOpen: served from memory buckets');
    const { samples } = await scrape(gateway.url);
    assert.equal(valueOf(samples, 'llm_dependency_degraded', { dependency: 'cache_redis' }), 1);
    assert.equal(valueOf(samples, 'llm_dependency_degraded', { dependency: 'rate_limit_redis' }), 1);
    assert.ok(!samples.has('llm_dependency_degraded{dependency="vault"}'), 'Vault is not configured');
    assert.equal(valueOf(samples, 'llm_rate_limit_redis_errors_total', { mode: 'failOpen', scope: 'global' }), 1);
  });
});
