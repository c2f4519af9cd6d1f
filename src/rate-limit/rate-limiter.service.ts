/**
 * Admission for one LLM request against every bucket that applies: the gateway key, the model and the whole
 * gateway, each with a requests bucket (capacity = burst, rate = rpm / 60) and a tokens bucket (capacity = tpm,
 * rate = tpm / 60, cost = tokens reserved up front). All buckets are taken in parallel (one round trip to Redis);
 * if any denies, the ones that were taken are given back, so a denied request consumes nothing.
 *
 * After the response, `reconcile` gives back what was reserved but not used, or takes the overrun.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Limits, RateLimitConfig } from './rate-limit.config.js';
import { BUCKET_STORE, RATE_LIMIT_CONFIG } from './rate-limit.tokens.js';
import { RateLimitUnavailableError } from './redis-token-bucket.js';
import type { BucketLimits, BucketSnapshot, BucketStore, TakeResult } from './token-bucket.js';

export type RateLimitScope = 'key' | 'model' | 'global';
export type RateLimitKind = 'requests' | 'tokens';

export interface RateLimitRequest {
  keyId: string;
  /** The public model name, as configured under `perModel`. */
  model: string;
  /** Requests-bucket cost; 1 unless a route weighs more. */
  requestCost?: number;
  /** Tokens reserved up front (prompt estimate + max_tokens). */
  reservedTokens: number;
  /** The gateway key's own limits; they replace `defaultPerKey` as a whole. */
  limits?: Limits;
}

export interface ReservedBucket {
  key: string;
  scope: RateLimitScope;
  limits: BucketLimits;
}

/** The token buckets a request drew from, for `reconcile`. */
export interface RateLimitReservation {
  reservedTokens: number;
  buckets: readonly ReservedBucket[];
}

/** The tightest bucket of each kind, for the `x-ratelimit-*` headers; absent when that kind is not limited. */
export interface RateLimitStatus {
  requests?: BucketSnapshot;
  tokens?: BucketSnapshot;
}

export interface RateLimitAllowed extends RateLimitStatus {
  allowed: true;
  reservation: RateLimitReservation;
}

export interface RateLimitDenied extends RateLimitStatus {
  allowed: false;
  scope: RateLimitScope;
  kind: RateLimitKind;
  /** `Infinity` when the request is larger than the bucket and can never pass. */
  retryAfterMs: number;
}

export type RateLimitDecision = RateLimitAllowed | RateLimitDenied;

interface PlannedBucket extends ReservedBucket {
  kind: RateLimitKind;
}

/** The buckets of one (gateway key, model) pair; built once and reused, since limits come from the config. */
interface BucketPlan {
  keyLimits: Limits | undefined;
  buckets: readonly PlannedBucket[];
  /** The tokens buckets, in the shape a reservation keeps. */
  tokenBuckets: readonly ReservedBucket[];
}

/** A store without I/O (memory): the limiter calls it synchronously, with no promise per bucket. */
export interface SyncBucketStore {
  takeNow(key: string, cost: number, limits: BucketLimits): TakeResult;
  adjustNow(key: string, delta: number, limits: BucketLimits): BucketSnapshot;
}

function isSyncStore(store: BucketStore): store is BucketStore & SyncBucketStore {
  return typeof (store as Partial<SyncBucketStore>).takeNow === 'function';
}

const NO_RESERVATION: RateLimitReservation = { reservedTokens: 0, buckets: [] };
/** Plans are per configured key and model; the bound only guards against callers inventing names. */
const MAX_CACHED_PLANS = 10_000;

@Injectable()
export class RateLimiter {
  private readonly plans = new Map<string, BucketPlan>();
  private readonly syncStore: SyncBucketStore | undefined;

  constructor(
    @Inject(RATE_LIMIT_CONFIG) private readonly config: RateLimitConfig,
    @Inject(BUCKET_STORE) private readonly store: BucketStore,
  ) {
    this.syncStore = isSyncStore(store) ? store : undefined;
  }

  /**
   * The decision without a promise when the bucket store answers synchronously (memory), undefined otherwise
   * (Redis: use `check`). The request path calls this first: no promise or microtask hop for the usual store.
   */
  checkNow(request: RateLimitRequest): RateLimitDecision | undefined {
    const sync = this.syncStore;
    if (!sync) return undefined;
    if (!this.config.enabled) return { allowed: true, reservation: NO_RESERVATION };
    const requestCost = costOf(request);
    const plan = this.plan(request);
    const buckets = plan.buckets;
    const costs = buckets.map((bucket) => (bucket.kind === 'requests' ? requestCost : request.reservedTokens));
    const results = buckets.map((bucket, i) => sync.takeNow(bucket.key, costs[i], bucket.limits));
    if (results.every((result) => result.allowed)) return allowed(buckets, results, plan, request.reservedTokens);
    const snapshots: BucketSnapshot[] = results.slice();
    buckets.forEach((bucket, i) => {
      if (results[i].allowed && costs[i] > 0) snapshots[i] = sync.adjustNow(bucket.key, -costs[i], bucket.limits);
    });
    return denied(buckets, results, snapshots);
  }

  /** Consumes from every applicable bucket or from none. Rejects with RateLimitUnavailableError in failClosed mode. */
  async check(request: RateLimitRequest): Promise<RateLimitDecision> {
    const now = this.checkNow(request);
    if (now !== undefined) return now;
    if (!this.config.enabled) return { allowed: true, reservation: NO_RESERVATION };
    const requestCost = costOf(request);
    const plan = this.plan(request);
    const buckets = plan.buckets;
    const costs = buckets.map((bucket) => (bucket.kind === 'requests' ? requestCost : request.reservedTokens));

    const settled = await Promise.allSettled(
      buckets.map((bucket, i) => this.store.take(bucket.key, costs[i], bucket.limits, bucket.scope)),
    );
    let failure: Error | undefined;
    const results = settled.map((outcome) => {
      if (outcome.status === 'fulfilled') return outcome.value;
      failure ??= outcome.reason as Error;
      return undefined;
    });
    if (failure === undefined && results.every((result) => result!.allowed)) {
      return allowed(buckets, results as TakeResult[], plan, request.reservedTokens);
    }
    const taken = buckets.flatMap((bucket, i) => (results[i]?.allowed && costs[i] > 0 ? [i] : []));
    const refunds = await Promise.allSettled(
      taken.map((i) => this.store.adjust(buckets[i].key, -costs[i], buckets[i].limits, buckets[i].scope)),
    );
    if (failure !== undefined) throw failure;
    const snapshots: BucketSnapshot[] = (results as TakeResult[]).slice();
    refunds.forEach((outcome, j) => {
      if (outcome.status === 'fulfilled') snapshots[taken[j]] = outcome.value;
      else rethrowUnlessUnavailable(outcome.reason);
    });
    return denied(buckets, results as TakeResult[], snapshots);
  }

  /** Settles a reservation with the tokens actually used: gives back the rest, or takes the overrun (floor 0). */
  async reconcile(reservation: RateLimitReservation, actualTokens: number): Promise<void> {
    const delta = actualTokens - reservation.reservedTokens;
    if (delta === 0) return;
    const sync = this.syncStore;
    if (sync) {
      for (const bucket of reservation.buckets) sync.adjustNow(bucket.key, delta, bucket.limits);
      return;
    }
    const outcomes = await Promise.allSettled(
      reservation.buckets.map((bucket) => this.store.adjust(bucket.key, delta, bucket.limits, bucket.scope)),
    );
    for (const outcome of outcomes) if (outcome.status === 'rejected') rethrowUnlessUnavailable(outcome.reason);
  }

  private plan(request: RateLimitRequest): BucketPlan {
    const cacheKey = `${request.keyId}\u0000${request.model}`;
    const cached = this.plans.get(cacheKey);
    // A key's own limits replace the defaults: a cached plan holds for the same limits object only.
    if (cached !== undefined && cached.keyLimits === request.limits) return cached;
    const plan = this.buildPlan(request);
    if (this.plans.size >= MAX_CACHED_PLANS) this.plans.clear();
    this.plans.set(cacheKey, plan);
    return plan;
  }

  private buildPlan(request: RateLimitRequest): BucketPlan {
    const perModel = this.config.perModel;
    const modelLimits = perModel && Object.hasOwn(perModel, request.model) ? perModel[request.model] : undefined;
    const scopes: Array<[RateLimitScope, string, Limits | undefined]> = [
      ['key', `key:${request.keyId}`, request.limits ?? this.config.defaultPerKey],
      ['model', `model:${request.model}`, modelLimits],
      ['global', 'global', this.config.global],
    ];
    const buckets: PlannedBucket[] = [];
    for (const [scope, id, limits] of scopes) {
      if (limits?.requestsPerMinute !== undefined) {
        buckets.push({
          scope,
          kind: 'requests',
          key: `${id}:requests`,
          limits: { capacity: limits.burst ?? limits.requestsPerMinute, ratePerSecond: limits.requestsPerMinute / 60 },
        });
      }
      if (limits?.tokensPerMinute !== undefined) {
        buckets.push({
          scope,
          kind: 'tokens',
          key: `${id}:tokens`,
          limits: { capacity: limits.tokensPerMinute, ratePerSecond: limits.tokensPerMinute / 60 },
        });
      }
    }
    const tokenBuckets = buckets
      .filter((b) => b.kind === 'tokens')
      .map(({ key, scope, limits }) => ({ key, scope, limits }));
    return { keyLimits: request.limits, buckets, tokenBuckets };
  }
}

function allowed(
  buckets: readonly PlannedBucket[],
  results: readonly TakeResult[],
  plan: BucketPlan,
  reservedTokens: number,
): RateLimitAllowed {
  return { allowed: true, ...tightest(buckets, results), reservation: { reservedTokens, buckets: plan.tokenBuckets } };
}

/** The denial names the bucket with the longest wait; the headers show the buckets after the give-backs. */
function denied(
  buckets: readonly PlannedBucket[],
  results: readonly TakeResult[],
  snapshots: readonly BucketSnapshot[],
): RateLimitDenied {
  let denier = -1;
  results.forEach((result, i) => {
    if (!result.allowed && (denier < 0 || result.retryAfterMs > results[denier].retryAfterMs)) denier = i;
  });
  const bucket = buckets[denier];
  return {
    allowed: false,
    ...tightest(buckets, snapshots),
    [bucket.kind]: toSnapshot(snapshots[denier]),
    scope: bucket.scope,
    kind: bucket.kind,
    retryAfterMs: results[denier].retryAfterMs,
  };
}

/** Per kind, the bucket with the fewest whole tokens left (ties: the one that takes longest to refill). */
function tightest(buckets: readonly PlannedBucket[], snapshots: readonly BucketSnapshot[]): RateLimitStatus {
  const status: RateLimitStatus = {};
  for (let i = 0; i < buckets.length; i++) {
    const kind = buckets[i].kind;
    const candidate = snapshots[i];
    const current = status[kind];
    if (
      current === undefined ||
      candidate.remaining < current.remaining ||
      (candidate.remaining === current.remaining && candidate.resetMs > current.resetMs)
    ) {
      status[kind] = toSnapshot(candidate);
    }
  }
  return status;
}

function toSnapshot({ limit, remaining, resetMs }: BucketSnapshot): BucketSnapshot {
  return { limit, remaining, resetMs };
}

/** A give-back that Redis could not take is already counted and logged by the store; anything else is a bug. */
function rethrowUnlessUnavailable(error: unknown): void {
  if (!(error instanceof RateLimitUnavailableError)) throw error;
}

/** The request's cost in requests (default 1), checked along with its reserved tokens. */
function costOf(request: RateLimitRequest): number {
  const requestCost = request.requestCost ?? 1;
  if (!(requestCost >= 0) || !(request.reservedTokens >= 0)) {
    throw new RangeError('requestCost and reservedTokens must be >= 0');
  }
  return requestCost;
}
