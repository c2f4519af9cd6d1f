/**
 * `@nestjs/throttler` storage backed by token buckets, so `ThrottlerGuard` (with `getTracker` keyed on the API key)
 * can run on the shared Redis buckets. A throttler `{ limit, ttl }` becomes a bucket of capacity `limit` refilling
 * at `limit / ttl`: the same long-run rate as the fixed window, without the double burst at window edges.
 *
 * The guard reads the record as follows (throttler.guard.js): `isBlocked` → throws ThrottlerException after setting
 * `Retry-After` to `timeToBlockExpire`; otherwise sets `X-RateLimit-Remaining = max(0, limit - totalHits)` and
 * `X-RateLimit-Reset = timeToExpire`. Both times are whole seconds, as the built-in storage returns them.
 *
 * `blockDuration` is not used: a token bucket's denial already lasts exactly until a token is back, and a longer
 * lockout would need state a BucketStore does not keep.
 */
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { BucketStore } from './token-bucket.js';

/** The package index does not re-export ThrottlerStorageRecord. */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

export class TokenBucketThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly store: BucketStore) {}

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const ttlSeconds = Math.max(1, Math.ceil(ttl / 1000));
    if (limit <= 0) return { totalHits: 1, timeToExpire: ttlSeconds, isBlocked: true, timeToBlockExpire: ttlSeconds };
    const scope = `throttler:${throttlerName}`;
    const limits = { capacity: limit, ratePerSecond: (limit * 1000) / ttl };
    const result = await this.store.take(`${scope}:${key}`, 1, limits, scope);
    if (!result.allowed) {
      return {
        totalHits: limit + 1,
        timeToExpire: Math.ceil(result.resetMs / 1000),
        isBlocked: true,
        timeToBlockExpire: Math.max(1, Math.ceil(result.retryAfterMs / 1000)),
      };
    }
    return {
      totalHits: limit - result.remaining,
      timeToExpire: Math.ceil(result.resetMs / 1000),
      isBlocked: false,
      timeToBlockExpire: 0,
    };
  }
}
