import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costUsd, formatUsd } from './pricing.js';

describe('pricing', () => {
  it('prices prompt and completion tokens per million', () => {
    const cost = costUsd(
      { inputPerMillion: 0.15, outputPerMillion: 0.6 },
      { prompt: 1_000, completion: 500, estimated: false },
    );
    assert.equal(cost, 0.00045);
    assert.equal(costUsd(undefined, { prompt: 1_000, completion: 500, estimated: false }), undefined);
  });

  it('prices cached and cache-written input at their own rates, the rest of the prompt at the input rate', () => {
    const pricing = {
      inputPerMillion: 3,
      outputPerMillion: 15,
      cachedInputPerMillion: 0.3,
      cacheWritePerMillion: 3.75,
    };
    const usage = {
      prompt: 10_000,
      cached: 6_000,
      cacheWrite: 2_000,
      completion: 1_000,
      reasoning: 400,
      estimated: false,
    };
    // 2 000 × 3 + 6 000 × 0.3 + 2 000 × 3.75 + 1 000 × 15, per million.
    assert.equal(costUsd(pricing, usage), (6_000 + 1_800 + 7_500 + 15_000) / 1_000_000);
    // Without the cache rates every prompt token is input.
    assert.equal(costUsd({ inputPerMillion: 3, outputPerMillion: 15 }, usage), (30_000 + 15_000) / 1_000_000);
  });

  it('formats costs as plain decimals', () => {
    assert.equal(formatUsd(0.00045), '0.00045');
    assert.equal(formatUsd(0), '0');
    assert.equal(formatUsd(1e-7), '0.0000001');
    assert.equal(formatUsd(12.5), '12.5');
  });
});
