/**
 * Token-bucket arithmetic, free of I/O and clocks: the caller passes `nowMs`. A bucket holds up to `capacity`
 * tokens and refills continuously at `ratePerSecond`; a missing state is a full bucket, so idle buckets need no
 * storage. The Redis Lua script in `redis-token-bucket.ts` is a line-by-line port of `take` and `adjust`.
 */

export interface BucketLimits {
  /** Tokens added per second (requests per minute / 60, tokens per minute / 60). */
  ratePerSecond: number;
  /** Most tokens the bucket holds: the burst. */
  capacity: number;
}

export interface BucketState {
  tokens: number;
  updatedAtMs: number;
}

/** What a bucket looks like after an operation, in the terms of the `x-ratelimit-*` headers. */
export interface BucketSnapshot {
  /** The bucket's capacity. */
  limit: number;
  /** Whole tokens left. */
  remaining: number;
  /** Milliseconds until the bucket is full again (0 when full). */
  resetMs: number;
}

export interface TakeResult extends BucketSnapshot {
  allowed: boolean;
  /**
   * Milliseconds until `cost` tokens are available: 0 when allowed, `Infinity` when `cost` exceeds the capacity
   * and the request can never pass.
   */
  retryAfterMs: number;
}

export interface BucketStep<Result> {
  state: BucketState;
  result: Result;
}

/**
 * Where buckets live. `scope` only labels the bucket for failure metrics (`key`, `model`, `global`, `throttler:…`).
 */
export interface BucketStore {
  /** Takes `cost` tokens if all of them are available, otherwise takes nothing. */
  take(key: string, cost: number, limits: BucketLimits, scope?: string): Promise<TakeResult>;
  /**
   * Consumes `delta` more tokens (negative: gives tokens back) unconditionally, clamped to [0, capacity].
   * Used to reconcile a token reservation with the actual usage.
   */
  adjust(key: string, delta: number, limits: BucketLimits, scope?: string): Promise<BucketSnapshot>;
}

/**
 * Absorbs floating-point residue: 0.9999999999 tokens count as 1, and a wait of 1.0000000000000009 ms is 1 ms.
 * The Lua script uses the same value.
 */
export const TOKEN_EPSILON = 1e-6;

export function assertValidLimits(limits: BucketLimits): void {
  if (!(limits.ratePerSecond > 0) || !Number.isFinite(limits.ratePerSecond)) {
    throw new RangeError(`bucket rate must be a positive number, got ${limits.ratePerSecond}`);
  }
  if (!(limits.capacity >= 0) || !Number.isFinite(limits.capacity)) {
    throw new RangeError(`bucket capacity must be a non-negative number, got ${limits.capacity}`);
  }
}

/** The state at `nowMs`: tokens grow by elapsed * rate, capped at capacity. A clock going backwards adds nothing. */
export function refill(state: BucketState | undefined, nowMs: number, limits: BucketLimits): BucketState {
  if (state === undefined) return { tokens: limits.capacity, updatedAtMs: nowMs };
  const elapsedMs = Math.max(0, nowMs - state.updatedAtMs);
  const tokens = Math.min(limits.capacity, state.tokens + (elapsedMs * limits.ratePerSecond) / 1000);
  return { tokens, updatedAtMs: Math.max(state.updatedAtMs, nowMs) };
}

export function take(
  state: BucketState | undefined,
  cost: number,
  nowMs: number,
  limits: BucketLimits,
): BucketStep<TakeResult> {
  if (!(cost >= 0)) throw new RangeError(`cost must be >= 0, got ${cost} (use refund to give tokens back)`);
  const current = refill(state, nowMs, limits);
  if (cost > limits.capacity) return { state: current, result: takeResult(current.tokens, limits, false, Infinity) };
  if (current.tokens + TOKEN_EPSILON < cost) {
    const retryAfterMs = ceilMs(((cost - current.tokens) * 1000) / limits.ratePerSecond);
    return { state: current, result: takeResult(current.tokens, limits, false, retryAfterMs) };
  }
  current.tokens = Math.max(0, current.tokens - cost);
  return { state: current, result: takeResult(current.tokens, limits, true, 0) };
}

/** Consumes `delta` tokens (negative gives back) whether or not they are there, staying within [0, capacity]. */
export function adjust(
  state: BucketState | undefined,
  delta: number,
  nowMs: number,
  limits: BucketLimits,
): BucketStep<BucketSnapshot> {
  const current = refill(state, nowMs, limits);
  const tokens = Math.min(limits.capacity, Math.max(0, current.tokens - delta));
  return { state: { tokens, updatedAtMs: current.updatedAtMs }, result: snapshot(tokens, limits) };
}

/** Gives `amount` tokens back (reconciliation after over-reserving), never above capacity. */
export function refund(
  state: BucketState | undefined,
  amount: number,
  nowMs: number,
  limits: BucketLimits,
): BucketStep<BucketSnapshot> {
  return adjust(state, -amount, nowMs, limits);
}

function takeResult(tokens: number, limits: BucketLimits, allowed: boolean, retryAfterMs: number): TakeResult {
  return {
    limit: limits.capacity,
    remaining: remainingOf(tokens),
    resetMs: resetMsOf(tokens, limits),
    allowed,
    retryAfterMs,
  };
}

function snapshot(tokens: number, limits: BucketLimits): BucketSnapshot {
  return { limit: limits.capacity, remaining: remainingOf(tokens), resetMs: resetMsOf(tokens, limits) };
}

function remainingOf(tokens: number): number {
  return Math.floor(tokens + TOKEN_EPSILON);
}

/** Milliseconds until the bucket is full. */
function resetMsOf(tokens: number, limits: BucketLimits): number {
  const missing = limits.capacity - tokens;
  return missing <= TOKEN_EPSILON ? 0 : ceilMs((missing * 1000) / limits.ratePerSecond);
}

function ceilMs(ms: number): number {
  return Math.ceil(ms - TOKEN_EPSILON);
}
