import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, parseRetryAfterMs } from './backoff.js';

const options = { baseDelayMs: 100, maxDelayMs: 1_000, maxRetryAfterMs: 5_000 };

describe('backoffDelayMs', () => {
  it('draws from [0, base * 2^(n-1)) with full jitter', () => {
    assert.equal(
      backoffDelayMs(1, options, undefined, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(1, options, undefined, () => 0.999),
      99,
    );
    assert.equal(
      backoffDelayMs(2, options, undefined, () => 0.5),
      100,
    );
    assert.equal(
      backoffDelayMs(3, options, undefined, () => 0.5),
      200,
    );
  });

  it('caps the exponential ceiling at maxDelayMs', () => {
    assert.equal(
      backoffDelayMs(20, options, undefined, () => 0.999),
      999,
    );
  });

  it("honours the server's Retry-After up to the cap, and refuses to wait longer", () => {
    assert.equal(
      backoffDelayMs(1, options, 2_000, () => 0),
      2_000,
    );
    assert.equal(
      backoffDelayMs(1, options, 5_000, () => 0),
      5_000,
    );
    assert.equal(
      backoffDelayMs(1, options, 5_001, () => 0),
      undefined,
    );
  });
});

describe('parseRetryAfterMs', () => {
  it('prefers retry-after-ms, then seconds, then an HTTP date', () => {
    assert.equal(parseRetryAfterMs({ 'retry-after-ms': '1500.5', 'retry-after': '9' }), 1500.5);
    assert.equal(parseRetryAfterMs({ 'retry-after': '2' }), 2_000);
    assert.equal(parseRetryAfterMs({ 'retry-after': '0.5' }), 500);
    const now = Date.parse('2026-11-28T10:00:00Z');
    assert.equal(parseRetryAfterMs({ 'retry-after': 'Sat, 28 Nov 2026 10:00:03 GMT' }, now), 3_000);
  });

  it('returns undefined for missing or garbage values', () => {
    assert.equal(parseRetryAfterMs({}), undefined);
    assert.equal(parseRetryAfterMs(undefined), undefined);
    assert.equal(parseRetryAfterMs({ 'retry-after': 'soon' }), undefined);
    assert.equal(parseRetryAfterMs({ 'retry-after': '-3' }), undefined);
  });
});
