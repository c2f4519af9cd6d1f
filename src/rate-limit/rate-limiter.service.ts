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
import { RateLimitUnavailableError } from './redis-token-bucket.js';
import type { BucketLimits, BucketSnapshot, BucketStore, TakeResult } from './token-bucket.js';

export const RATE_LIMIT_CONFIG = Symbol('RATE_LIMIT_CONFIG');
export const BUCKET_STORE = Symbol('BUCKET_STORE');

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
  cost: number;
}

const NO_RESERVATION: RateLimitReservation = { reservedTokens: 0, buckets: [] };

@Injectable()
export class RateLimiter {
  constructor(
    @Inject(RATE_LIMIT_CONFIG) private readonly config: RateLimitConfig,
    @Inject(BUCKET_STORE) private readonly store: BucketStore,
  ) {}

  /** Consumes from every applicable bucket or from none. Rejects with RateLimitUnavailableError in failClosed mode. */
  async check(request: RateLimitRequest): Promise<RateLimitDecision> {
    if (!this.config.enabled) return { allowed: true, reservation: NO_RESERVATION };
    const buckets = this.plan(request);
    const settled = await Promise.allSettled(
      buckets.map((bucket) => this.store.take(bucket.key, bucket.cost, bucket.limits, bucket.scope)),
    );
    const results = new Map<PlannedBucket, TakeResult>();
    let failure: unknown;
    settled.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') results.set(buckets[i], outcome.value);
      else failure ??= outcome.reason;
    });
    const denied = buckets.filter((bucket) => results.get(bucket)?.allowed === false);

    if (failure === undefined && denied.length === 0) {
      return {
        allowed: true,
        ...tightest(buckets, results),
        reservation: {
          reservedTokens: request.reservedTokens,
          buckets: buckets.filter((b) => b.kind === 'tokens').map(({ key, scope, limits }) => ({ key, scope, limits })),
        },
      };
    }

    const taken = buckets.filter((bucket) => results.get(bucket)?.allowed && bucket.cost > 0);
    const refunds = await Promise.allSettled(
      taken.map((bucket) => this.store.adjust(bucket.key, -bucket.cost, bucket.limits, bucket.scope)),
    );
    if (failure !== undefined) throw failure;
    const snapshots = new Map<PlannedBucket, BucketSnapshot>(results);
    refunds.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') snapshots.set(taken[i], outcome.value);
      else rethrowUnlessUnavailable(outcome.reason);
    });

    const denier = denied.reduce((worst, bucket) =>
      results.get(bucket)!.retryAfterMs > results.get(worst)!.retryAfterMs ? bucket : worst,
    );
    return {
      allowed: false,
      ...tightest(buckets, snapshots),
      [denier.kind]: toSnapshot(snapshots.get(denier)!),
      scope: denier.scope,
      kind: denier.kind,
      retryAfterMs: results.get(denier)!.retryAfterMs,
    };
  }

  /** Settles a reservation with the tokens actually used: gives back the rest, or takes the overrun (floor 0). */
  async reconcile(reservation: RateLimitReservation, actualTokens: number): Promise<void> {
    const delta = actualTokens - reservation.reservedTokens;
    if (delta === 0) return;
    const outcomes = await Promise.allSettled(
      reservation.buckets.map((bucket) => this.store.adjust(bucket.key, delta, bucket.limits, bucket.scope)),
    );
    for (const outcome of outcomes) if (outcome.status === 'rejected') rethrowUnlessUnavailable(outcome.reason);
  }

  private plan(request: RateLimitRequest): PlannedBucket[] {
    const requestCost = request.requestCost ?? 1;
    if (!(requestCost >= 0) || !(request.reservedTokens >= 0)) {
      throw new RangeError('requestCost and reservedTokens must be >= 0');
    }
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
          cost: requestCost,
          limits: { capacity: limits.burst ?? limits.requestsPerMinute, ratePerSecond: limits.requestsPerMinute / 60 },
        });
      }
      if (limits?.tokensPerMinute !== undefined) {
        buckets.push({
          scope,
          kind: 'tokens',
          key: `${id}:tokens`,
          cost: request.reservedTokens,
          limits: { capacity: limits.tokensPerMinute, ratePerSecond: limits.tokensPerMinute / 60 },
        });
      }
    }
    return buckets;
  }
}

/** Per kind, the bucket with the fewest whole tokens left (ties: the one that takes longest to refill). */
function tightest(buckets: PlannedBucket[], snapshots: Map<PlannedBucket, BucketSnapshot>): RateLimitStatus {
  const status: RateLimitStatus = {};
  for (const bucket of buckets) {
    const candidate = snapshots.get(bucket)!;
    const current = status[bucket.kind];
    if (
      current === undefined ||
      candidate.remaining < current.remaining ||
      (candidate.remaining === current.remaining && candidate.resetMs > current.resetMs)
    ) {
      status[bucket.kind] = toSnapshot(candidate);
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
