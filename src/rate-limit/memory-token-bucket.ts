/**
 * Buckets in a Map, for a single replica and as the fail-open fallback of the Redis store.
 *
 * Stays bounded without timers: a bucket that is full again is the same as no entry, so entries are dropped
 * once their refill time has passed (swept at most once per `sweepIntervalMs`), and beyond `maxEntries` the least
 * recently used entry goes (which only makes that caller's bucket full again, never stricter).
 */
import {
  adjust,
  assertValidLimits,
  take,
  type BucketLimits,
  type BucketSnapshot,
  type BucketState,
  type BucketStore,
  type TakeResult,
} from './token-bucket.js';

export interface MemoryBucketStoreOptions {
  now?: () => number;
  maxEntries?: number;
  sweepIntervalMs?: number;
}

interface MemoryBucket extends BucketState {
  fullAtMs: number;
}

/** Also a SyncBucketStore: the rate limiter calls `takeNow`/`adjustNow` without promises. */
export class MemoryBucketStore implements BucketStore {
  private readonly buckets = new Map<string, MemoryBucket>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly sweepIntervalMs: number;
  private lastSweepMs: number;

  constructor(options: MemoryBucketStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.lastSweepMs = this.now();
  }

  /** Buckets currently held (those not full). */
  get size(): number {
    return this.buckets.size;
  }

  async take(key: string, cost: number, limits: BucketLimits): Promise<TakeResult> {
    return this.takeNow(key, cost, limits);
  }

  async adjust(key: string, delta: number, limits: BucketLimits): Promise<BucketSnapshot> {
    return this.adjustNow(key, delta, limits);
  }

  takeNow(key: string, cost: number, limits: BucketLimits): TakeResult {
    assertValidLimits(limits);
    const nowMs = this.now();
    const step = take(this.buckets.get(key), cost, nowMs, limits);
    this.save(key, step.state, step.result.resetMs, nowMs);
    return step.result;
  }

  adjustNow(key: string, delta: number, limits: BucketLimits): BucketSnapshot {
    assertValidLimits(limits);
    const nowMs = this.now();
    const step = adjust(this.buckets.get(key), delta, nowMs, limits);
    this.save(key, step.state, step.result.resetMs, nowMs);
    return step.result;
  }

  private save(key: string, state: BucketState, resetMs: number, nowMs: number): void {
    this.buckets.delete(key);
    if (resetMs > 0) {
      this.buckets.set(key, { tokens: state.tokens, updatedAtMs: state.updatedAtMs, fullAtMs: nowMs + resetMs });
      if (this.buckets.size > this.maxEntries) this.buckets.delete(this.buckets.keys().next().value as string);
    }
    if (nowMs - this.lastSweepMs >= this.sweepIntervalMs) this.sweep(nowMs);
  }

  private sweep(nowMs: number): void {
    this.lastSweepMs = nowMs;
    for (const [key, bucket] of this.buckets) {
      if (bucket.fullAtMs <= nowMs) this.buckets.delete(key);
    }
  }
}
