import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adjust, refund, take, type BucketState } from './token-bucket.js';

const fivePerSecond = { capacity: 5, ratePerSecond: 1 };

describe('take', () => {
  it('allows a burst up to capacity, then denies with the exact wait for one token', () => {
    let state: BucketState | undefined;
    for (let i = 4; i >= 0; i--) {
      const step = take(state, 1, 0, fivePerSecond);
      const resetMs = (5 - i) * 1000;
      assert.deepEqual(step.result, { allowed: true, limit: 5, remaining: i, retryAfterMs: 0, resetMs });
      state = step.state;
    }
    const denied = take(state, 1, 0, fivePerSecond);
    assert.deepEqual(denied.result, { allowed: false, limit: 5, remaining: 0, retryAfterMs: 1000, resetMs: 5000 });
    assert.deepEqual(denied.state, state);
  });

  it('refills by elapsed time: denied 1 ms early, allowed on time', () => {
    const empty = { tokens: 0, updatedAtMs: 10_000 };
    assert.equal(take(empty, 1, 10_999, fivePerSecond).result.retryAfterMs, 1);
    assert.equal(take(empty, 1, 11_000, fivePerSecond).result.allowed, true);
  });

  it('reports retryAfter for the whole cost', () => {
    const result = take({ tokens: 0.5, updatedAtMs: 0 }, 3, 0, { capacity: 10, ratePerSecond: 2 }).result;
    assert.equal(result.allowed, false);
    assert.equal(result.retryAfterMs, 1250);
  });

  it('caps refill at capacity after a long idle time', () => {
    const step = take({ tokens: 0, updatedAtMs: 0 }, 0, 3_600_000, fivePerSecond);
    assert.equal(step.state.tokens, 5);
    assert.equal(step.result.resetMs, 0);
  });

  it('never allows a cost above capacity, and says so with an infinite wait', () => {
    const step = take(undefined, 6, 0, fivePerSecond);
    assert.equal(step.result.allowed, false);
    assert.equal(step.result.retryAfterMs, Infinity);
    assert.equal(step.state.tokens, 5);
  });

  it('counts a fractional refill that lands on a whole token (100 rpm, 600 ms)', () => {
    const limits = { capacity: 10, ratePerSecond: 100 / 60 };
    const step = take({ tokens: 0, updatedAtMs: 0 }, 1, 600, limits);
    assert.equal(step.result.allowed, true);
  });

  it('ignores a clock that goes backwards', () => {
    const step = take({ tokens: 1, updatedAtMs: 5_000 }, 1, 4_000, fivePerSecond);
    assert.equal(step.result.allowed, true);
    assert.equal(step.state.updatedAtMs, 5_000);
  });

  it('rejects a negative cost', () => {
    assert.throws(() => take(undefined, -1, 0, fivePerSecond), RangeError);
  });
});

describe('adjust and refund', () => {
  const tpm = { capacity: 1000, ratePerSecond: 1000 / 60 };

  it('gives back reserved tokens, never above capacity', () => {
    const reserved = take(undefined, 800, 0, tpm).state;
    assert.equal(refund(reserved, 500, 0, tpm).result.remaining, 700);
    assert.equal(refund(reserved, 5_000, 0, tpm).result.remaining, 1000);
    assert.equal(refund(reserved, 5_000, 0, tpm).result.resetMs, 0);
  });

  it('takes an overrun even when the tokens are not there, never below zero', () => {
    const step = adjust({ tokens: 100, updatedAtMs: 0 }, 900, 0, tpm);
    assert.equal(step.state.tokens, 0);
    assert.equal(step.result.remaining, 0);
    assert.equal(step.result.resetMs, 60_000);
  });
});
