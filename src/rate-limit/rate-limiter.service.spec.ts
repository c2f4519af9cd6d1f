import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainToInstance } from 'class-transformer';
import { MemoryBucketStore } from './memory-token-bucket.js';
import { RateLimitConfig } from './rate-limit.config.js';
import { rateLimitHeaders } from './rate-limit-headers.js';
import { RateLimiter } from './rate-limiter.service.js';
import { RateLimitUnavailableError } from './redis-token-bucket.js';
import type { BucketLimits, BucketStore } from './token-bucket.js';

function config(plain: object): RateLimitConfig {
  return plainToInstance(RateLimitConfig, { enabled: true, ...plain }, { exposeDefaultValues: true });
}

function setup(plain: object) {
  const clock = { now: 0 };
  const store = new MemoryBucketStore({ now: () => clock.now });
  return { clock, store, limiter: new RateLimiter(config(plain), store) };
}

const request = { keyId: 'k1', model: 'gpt-4o', reservedTokens: 100 };

describe('RateLimiter.check', () => {
  it('allows everything and reports nothing when disabled', async () => {
    const disabled = config({ enabled: false, global: { requestsPerMinute: 1 } });
    const limiter = new RateLimiter(disabled, new MemoryBucketStore());
    const unlimited = { allowed: true, reservation: { reservedTokens: 0, buckets: [] } };
    for (let i = 0; i < 3; i++) assert.deepEqual(await limiter.check(request), unlimited);
  });

  it('reports the tightest bucket of each kind', async () => {
    const { limiter } = setup({
      defaultPerKey: { requestsPerMinute: 60, burst: 10, tokensPerMinute: 10_000 },
      perModel: { 'gpt-4o': { requestsPerMinute: 600, burst: 3 } },
      global: { tokensPerMinute: 1_000 },
    });
    const decision = await limiter.check(request);
    assert.equal(decision.allowed, true);
    assert.deepEqual(decision.requests, { limit: 3, remaining: 2, resetMs: 100 });
    assert.deepEqual(decision.tokens, { limit: 1_000, remaining: 900, resetMs: 6_000 });
    assert.deepEqual(rateLimitHeaders(decision), {
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '2',
      'x-ratelimit-reset-requests': '100ms',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '900',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  it('denies with the scope that ran out, and gives back what the other buckets took', async () => {
    const { limiter, store } = setup({
      defaultPerKey: { requestsPerMinute: 60, burst: 5, tokensPerMinute: 10_000 },
      global: { requestsPerMinute: 120, burst: 2 },
    });
    assert.equal((await limiter.check(request)).allowed, true);
    assert.equal((await limiter.check(request)).allowed, true);
    const denied = await limiter.check(request);
    assert.ok(!denied.allowed);
    assert.equal(denied.scope, 'global');
    assert.equal(denied.kind, 'requests');
    assert.equal(denied.retryAfterMs, 500);
    assert.deepEqual(denied.requests, { limit: 2, remaining: 0, resetMs: 1000 });
    assert.deepEqual(denied.tokens, { limit: 10_000, remaining: 9_800, resetMs: 1_200 });
    assert.equal(rateLimitHeaders(denied)['retry-after'], '1');
    assert.equal((await store.take('key:k1:requests', 0, { capacity: 5, ratePerSecond: 1 })).remaining, 3);
    const tpm = { capacity: 10_000, ratePerSecond: 10_000 / 60 };
    assert.equal((await store.take('key:k1:tokens', 0, tpm)).remaining, 9_800);
  });

  it('denies a request larger than the token limit forever, without a retry-after', async () => {
    const { limiter } = setup({ defaultPerKey: { tokensPerMinute: 1_000 } });
    const denied = await limiter.check({ ...request, reservedTokens: 1_001 });
    assert.ok(!denied.allowed);
    assert.equal(denied.kind, 'tokens');
    assert.equal(denied.retryAfterMs, Infinity);
    assert.equal(rateLimitHeaders(denied)['retry-after'], undefined);
  });

  it("uses the key's own limits instead of the default, and per-model limits only for that model", async () => {
    const { limiter } = setup({
      defaultPerKey: { requestsPerMinute: 1 },
      perModel: { other: { requestsPerMinute: 1 } },
    });
    const own = { ...request, limits: { requestsPerMinute: 600, burst: 2 } };
    assert.equal((await limiter.check(own)).allowed, true);
    assert.equal((await limiter.check(own)).allowed, true);
    assert.equal((await limiter.check(own)).allowed, false);
    assert.equal((await limiter.check({ ...request, keyId: 'k2', model: 'constructor' })).allowed, true);
  });

  it('refills over time', async () => {
    const { limiter, clock } = setup({ defaultPerKey: { requestsPerMinute: 60, burst: 1 } });
    assert.equal((await limiter.check(request)).allowed, true);
    assert.equal((await limiter.check(request)).allowed, false);
    clock.now = 1_000;
    assert.equal((await limiter.check(request)).allowed, true);
  });

  it('propagates RateLimitUnavailableError (failClosed) after giving back what was taken', async () => {
    const memory = new MemoryBucketStore({ now: () => 0 });
    const globalDown: BucketStore = {
      take: (key: string, cost: number, limits: BucketLimits) =>
        key.startsWith('global:') ? Promise.reject(new RateLimitUnavailableError()) : memory.take(key, cost, limits),
      adjust: (key: string, delta: number, limits: BucketLimits) => memory.adjust(key, delta, limits),
    };
    const limiter = new RateLimiter(
      config({ defaultPerKey: { requestsPerMinute: 60, burst: 5 }, global: { requestsPerMinute: 60 } }),
      globalDown,
    );
    await assert.rejects(limiter.check(request), RateLimitUnavailableError);
    assert.equal((await memory.take('key:k1:requests', 0, { capacity: 5, ratePerSecond: 1 })).remaining, 5);
  });
});

describe('RateLimiter.reconcile', () => {
  const tpm = { capacity: 1_000, ratePerSecond: 1_000 / 60 };

  it('gives back the unused part of the reservation', async () => {
    const { limiter, store } = setup({ defaultPerKey: { tokensPerMinute: 1_000 }, global: { tokensPerMinute: 1_000 } });
    const decision = await limiter.check({ ...request, reservedTokens: 800 });
    assert.ok(decision.allowed);
    assert.equal(decision.tokens?.remaining, 200);
    await limiter.reconcile(decision.reservation, 300);
    assert.equal((await store.take('key:k1:tokens', 0, tpm)).remaining, 700);
    assert.equal((await store.take('global:tokens', 0, tpm)).remaining, 700);
  });

  it('takes the overrun, down to zero', async () => {
    const { limiter, store } = setup({ defaultPerKey: { tokensPerMinute: 1_000 } });
    const decision = await limiter.check({ ...request, reservedTokens: 500 });
    assert.ok(decision.allowed);
    await limiter.reconcile(decision.reservation, 2_000);
    assert.equal((await store.take('key:k1:tokens', 0, tpm)).remaining, 0);
  });
});
