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

  it('formats costs as plain decimals', () => {
    assert.equal(formatUsd(0.00045), '0.00045');
    assert.equal(formatUsd(0), '0');
    assert.equal(formatUsd(1e-7), '0.0000001');
    assert.equal(formatUsd(12.5), '12.5');
  });
});
