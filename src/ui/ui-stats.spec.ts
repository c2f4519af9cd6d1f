import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateGatewayConfig } from '../config/config-loader.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { point, quantileMs, statusKind, type Totals, UiStatsService } from './ui-stats.service.js';

function totals(at: number, overrides: Partial<Totals> = {}): Totals {
  return {
    at,
    requests: { ok: 0, client_error: 0, rate_limited: 0, server_error: 0, client_closed: 0 },
    upstreamErrors: {},
    cache: { hit: 0, miss: 0, bypass: 0 },
    costUsd: 0,
    tokens: {},
    overhead: { bounds: [0.001, 0.01, Infinity], counts: [0, 0, 0] },
    ttft: { bounds: [0.1, 1, Infinity], counts: [0, 0, 0] },
    ...overrides,
  };
}

describe('UI stats', () => {
  it('classifies statuses', () => {
    assert.deepEqual([200, 400, 404, 429, 499, 500, 503].map(statusKind), [
      'ok',
      'client_error',
      'client_error',
      'rate_limited',
      'client_closed',
      'server_error',
      'server_error',
    ]);
  });

  it('takes quantiles from the change in cumulative buckets, linear within a bucket', () => {
    const before = { bounds: [0.001, 0.01, Infinity], counts: [10, 10, 10] };
    const after = { bounds: [0.001, 0.01, Infinity], counts: [10, 20, 20] };
    // 10 new observations, all between 1 ms and 10 ms.
    assert.equal(quantileMs(before, after, 0.5), 5.5);
    assert.equal(quantileMs(before, after, 1), 10);
    assert.equal(quantileMs(before, before, 0.5), null, 'nothing observed');
    const overflow = { bounds: [0.001, 0.01, Infinity], counts: [10, 10, 12] };
    assert.equal(quantileMs(before, overflow, 0.95), 10, 'past the last bound: the last bound');
  });

  it('makes a point from two readings: rates, error kinds, hit ratio, cost', () => {
    const a = totals(0);
    const b = totals(5_000, {
      requests: { ok: 8, client_error: 1, rate_limited: 1, server_error: 0, client_closed: 2 },
      cache: { hit: 3, miss: 1, bypass: 6 },
      costUsd: 0.25,
    });
    const p = point(a, b);
    assert.equal(p.requestsPerSecond, 12 / 5);
    assert.equal(p.errorRate, 2 / 10, 'clients that left count neither as errors nor as answered');
    assert.deepEqual(p.errors, { client_error: 1, rate_limited: 1, server_error: 0, client_closed: 2 });
    assert.equal(p.cacheHitRatio, 0.75);
    assert.equal(p.costUsd, 0.25);
    assert.equal(point(a, totals(5_000)).cacheHitRatio, null);
  });

  it('reads the gateway’s own metrics objects', async () => {
    const config = validateGatewayConfig(
      {
        providers: [{ name: 'sim', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
        models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
      },
      'test',
    );
    const metrics = new GatewayMetrics(config);
    const model = metrics.model('m');
    metrics.requestsFor(model, 'chat', 200).inc(3);
    metrics.requestsFor(model, 'chat', 503).inc();
    metrics.cacheLookups.hit.inc(2);
    metrics.overhead.nonStream.observe(0.002);
    model.usage.get('sim')!.costUsd.inc(0.5);
    metrics.openStreams = 2;
    const stats = new UiStatsService(metrics);
    const read = await stats.totals();
    assert.equal(read.requests.ok, 3);
    assert.equal(read.requests.server_error, 1);
    assert.equal(read.cache.hit, 2);
    assert.equal(read.costUsd, 0.5);
    assert.equal(read.overhead.counts[read.overhead.counts.length - 1], 1);
    const view = await stats.view();
    assert.equal(view.openStreams, 2);
    assert.equal(view.today.costUsd, 0.5);
    assert.equal(view.today.requests, 4);
  });
});
