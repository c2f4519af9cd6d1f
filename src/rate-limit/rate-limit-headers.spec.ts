import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoDuration, rateLimitHeaders } from './rate-limit-headers.js';

describe('formatGoDuration', () => {
  it("matches Go's Duration.String() at millisecond resolution", () => {
    assert.equal(formatGoDuration(0), '0s');
    assert.equal(formatGoDuration(20), '20ms');
    assert.equal(formatGoDuration(999), '999ms');
    assert.equal(formatGoDuration(1000), '1s');
    assert.equal(formatGoDuration(1500), '1.5s');
    assert.equal(formatGoDuration(8640), '8.64s');
    assert.equal(formatGoDuration(1005), '1.005s');
    assert.equal(formatGoDuration(360_000), '6m0s');
    assert.equal(formatGoDuration(90_250), '1m30.25s');
    assert.equal(formatGoDuration(7_200_000), '2h0m0s');
    assert.equal(formatGoDuration(3_723_004), '1h2m3.004s');
  });

  it('rounds a fraction of a millisecond up', () => {
    assert.equal(formatGoDuration(19.2), '20ms');
  });
});

describe('rateLimitHeaders', () => {
  it('writes limit, remaining and reset for requests and tokens', () => {
    assert.deepEqual(
      rateLimitHeaders({
        requests: { limit: 60, remaining: 59, resetMs: 1000 },
        tokens: { limit: 150_000, remaining: 149_000, resetMs: 360_000 },
      }),
      {
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': '59',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-limit-tokens': '150000',
        'x-ratelimit-remaining-tokens': '149000',
        'x-ratelimit-reset-tokens': '6m0s',
      },
    );
  });

  it('adds retry-after in whole seconds, at least 1, when denied', () => {
    const requests = { limit: 5, remaining: 0, resetMs: 20 };
    assert.equal(rateLimitHeaders({ requests, retryAfterMs: 20 })['retry-after'], '1');
    assert.equal(rateLimitHeaders({ requests, retryAfterMs: 1001 })['retry-after'], '2');
    assert.equal(rateLimitHeaders({ requests, retryAfterMs: Infinity })['retry-after'], undefined);
    assert.deepEqual(rateLimitHeaders({}), {});
  });
});
