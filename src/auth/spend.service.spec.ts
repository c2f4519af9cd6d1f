import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../common/errors/gateway.error.js';
import { validateGatewayConfig } from '../config/config-loader.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { GatewayKey } from './gateway-key.js';
import { SpendService } from './spend.service.js';

/** In memory (no rateLimit.redis): the same reserve-then-settle rules as the Redis script, per replica. */
function service(): SpendService {
  const config = validateGatewayConfig({
    providers: [{ name: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
    models: [
      {
        name: 'cheap',
        deployments: [{ provider: 'p', model: 'c' }],
        pricing: { inputPerMillion: 1, outputPerMillion: 2 },
        fallbacks: ['dear'],
      },
      {
        name: 'dear',
        deployments: [{ provider: 'p', model: 'd' }],
        pricing: { inputPerMillion: 10, outputPerMillion: 40 },
      },
      { name: 'free', deployments: [{ provider: 'p', model: 'f' }] },
    ],
    database: { url: 'postgres://127.0.0.1:1/unused' },
  });
  return new SpendService(config, () => Date.UTC(2026, 5, 1, 12), new GatewayMetrics(config));
}

const key = (limitUsd: number): GatewayKey => ({
  id: 'k',
  models: undefined,
  limits: undefined,
  budget: undefined,
  admin: false,
  spend: [{ owner: 'key:k', tag: 'key:k', unit: 'usd', period: 'day', limit: limitUsd }],
});

async function refusal(run: () => Promise<unknown>): Promise<string | null | undefined> {
  try {
    await run();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    return error.code;
  }
}

describe('SpendService', () => {
  it('reserves at the highest prices of the model and its fallbacks', () => {
    const spend = service();
    // 400 bytes ≈ 100 prompt tokens at 10 $/M, 1000 completion tokens at 40 $/M (the fallback's prices).
    assert.equal(spend.maxCostUsd('cheap', 400, 1_000), (100 * 10 + 1_000 * 40) / 1e6);
    assert.equal(spend.maxCostUsd('dear', 400, undefined), (100 * 10 + 1_024 * 40) / 1e6, '1024 tokens when unset');
    assert.equal(spend.maxCostUsd('free', 400, 1_000), 0);
  });

  it('admits while the budget is not spent, reserving the most, and settles to the actual cost', async () => {
    const spend = service();
    const budget = key(0.1);
    // Each reserves 0.041 USD.
    const first = await spend.reserve(budget, 'dear', 400, 1_000);
    const second = await spend.reserve(budget, 'dear', 400, 1_000);
    const third = await spend.reserve(budget, 'dear', 400, 1_000); // 0.082 < 0.1: still admitted
    assert.equal(await refusal(() => spend.reserve(budget, 'dear', 400, 1_000)), 'insufficient_quota');
    spend.settle(first, 0.001, 0);
    spend.settle(second, 0, 0);
    assert.ok(await spend.reserve(budget, 'dear', 400, 1_000), 'settling gave room back');
    spend.settle(third, 0.001, 0);
    spend.settle(third, 0.5, 0); // a second settlement is ignored
    assert.ok(await spend.reserve(budget, 'dear', 400, 1_000));
  });

  it('keys without spend limits reserve nothing', async () => {
    const spend = service();
    assert.equal(await spend.reserve({ ...key(1), spend: undefined }, 'dear', 400, 1_000), undefined);
  });
});
