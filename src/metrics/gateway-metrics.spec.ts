import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateGatewayConfig } from '../config/config-loader.js';
import { parseSamples, valueOf } from '../../test/e2e/prometheus-text.js';
import { GatewayMetrics, UNKNOWN_MODEL } from './gateway-metrics.js';

const config = validateGatewayConfig({
  providers: [
    { name: 'a', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' },
    { name: 'b', type: 'openai', baseUrl: 'http://127.0.0.1:2/v1' },
  ],
  models: [
    {
      name: 'm1',
      deployments: [
        { provider: 'a', model: 'x' },
        { provider: 'b', model: 'x' },
      ],
      fallbacks: ['m2'],
    },
    { name: 'm2', deployments: [{ provider: 'b', model: 'y' }] },
  ],
});

async function samples(metrics: GatewayMetrics) {
  return parseSamples(await metrics.render());
}

describe('GatewayMetrics', () => {
  it('creates every series from the config at start-up, at zero', async () => {
    const exported = await samples(new GatewayMetrics(config));
    assert.equal(valueOf(exported, 'llm_requests_total', { model: 'm1', front: 'chat', status: '200' }), 0);
    assert.equal(valueOf(exported, 'llm_requests_total', { model: UNKNOWN_MODEL, front: 'chat', status: '200' }), 0);
    assert.equal(valueOf(exported, 'llm_tokens_total', { model: 'm1', provider: 'b', type: 'completion' }), 0);
    assert.equal(valueOf(exported, 'llm_cost_usd_total', { model: 'm2', provider: 'b' }), 0);
    assert.ok(!exported.has('llm_cost_usd_total{model="m2",provider="a"}'), 'only providers the model uses');
    assert.equal(valueOf(exported, 'llm_fallbacks_total', { from: 'm1', to: 'm2' }), 0);
    assert.equal(
      valueOf(exported, 'llm_upstream_errors_total', { provider: 'a', class: 'timeout', origin: 'gateway' }),
      0,
    );
    assert.equal(valueOf(exported, 'llm_upstream_retries_total', { provider: 'b' }), 0);
    assert.equal(valueOf(exported, 'llm_rate_limited_total', { scope: 'budget' }), 0);
    assert.equal(valueOf(exported, 'llm_request_duration_seconds_count', { model: 'm2' }), 0);
  });

  it('maps names that are not configured to the unknown series', () => {
    const metrics = new GatewayMetrics(config);
    assert.equal(metrics.model('m1').name, 'm1');
    assert.equal(metrics.model('anything else').name, UNKNOWN_MODEL);
    assert.equal(metrics.model(undefined), metrics.unknownModel);
    assert.equal(metrics.model('anything else').known, false);
  });

  it('exports counter series as incremented, each status once', async () => {
    const metrics = new GatewayMetrics(config);
    const m1 = metrics.model('m1');
    metrics.requestsFor(m1, 'chat', 200).inc();
    metrics.requestsFor(m1, 'chat', 429).inc();
    metrics.requestsFor(m1, 'chat', 429).inc();
    assert.equal(metrics.requestsFor(m1, 'chat', 429), metrics.requestsFor(m1, 'chat', 429));
    m1.usage.get('a')!.costUsd.inc(0.25);
    let exported = await samples(metrics);
    assert.equal(valueOf(exported, 'llm_requests_total', { model: 'm1', front: 'chat', status: '200' }), 1);
    assert.equal(valueOf(exported, 'llm_requests_total', { model: 'm1', front: 'chat', status: '429' }), 2);
    assert.equal(valueOf(exported, 'llm_cost_usd_total', { model: 'm1', provider: 'a' }), 0.25);
    metrics.requestsFor(m1, 'chat', 200).inc(2);
    exported = await samples(metrics);
    assert.equal(
      valueOf(exported, 'llm_requests_total', { model: 'm1', front: 'chat', status: '200' }),
      3,
      'scrapes export the increase only',
    );
  });

  it('reads gauges when scraped: in flight, breakers, degraded dependencies', async () => {
    const metrics = new GatewayMetrics(config);
    metrics.inFlight = 3;
    let state: 'closed' | 'open' | 'half-open' = 'open';
    metrics.watchBreakers(() => [{ id: 'a/x', breaker: { state: () => state } }]);
    let cache: 'up' | 'degraded' | 'disabled' = 'degraded';
    metrics.watchDependency('cache_redis', () => cache);
    metrics.watchDependency('vault', () => 'disabled');
    metrics.rateLimitRedisError('key', 'failOpen');
    let exported = await samples(metrics);
    assert.equal(valueOf(exported, 'llm_requests_in_flight'), 3);
    assert.equal(valueOf(exported, 'llm_circuit_breaker_state', { deployment: 'a/x' }), 2);
    assert.equal(valueOf(exported, 'llm_dependency_degraded', { dependency: 'cache_redis' }), 1);
    assert.ok(!exported.has('llm_dependency_degraded{dependency="vault"}'), 'not configured: not exported');
    assert.equal(valueOf(exported, 'llm_rate_limit_redis_errors_total', { mode: 'failOpen', scope: 'key' }), 1);
    state = 'half-open';
    cache = 'up';
    exported = await samples(metrics);
    assert.equal(valueOf(exported, 'llm_circuit_breaker_state', { deployment: 'a/x' }), 1);
    assert.equal(valueOf(exported, 'llm_dependency_degraded', { dependency: 'cache_redis' }), 0);
  });

  it('keeps each app in its own registry, with the process metrics appended', async () => {
    const first = new GatewayMetrics(config);
    const second = new GatewayMetrics(config);
    first.requestsFor(first.model('m1'), 'chat', 200).inc();
    assert.equal(
      valueOf(await samples(second), 'llm_requests_total', { model: 'm1', front: 'chat', status: '200' }),
      0,
    );
    assert.ok((await samples(first)).has('process_resident_memory_bytes'));
  });
});
