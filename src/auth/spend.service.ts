/**
 * Spend budgets of database keys and their teams (USD per day and month for keys and teams, tokens per day and month
 * for teams; a key's own token budget stays with BudgetService). They hold across replicas however many requests run
 * at once, because each request reserves before it is sent and settles after it ended:
 *
 * - reserve: the request's most expensive outcome — its prompt (estimated from the body, ~4 bytes a token) and all of
 *   its `max_tokens` (1024 when unset) at the highest prices of its model and the models it may fall back to — is
 *   added to every counter it is subject to, in one atomic step that first checks none is spent already. A request is
 *   refused (429 insufficient_quota) when a counter has reached its limit. Since every request in flight has already
 *   added its most, a budget ends at most one request's cost above its limit: the last one admitted below it.
 * - settle: once the answer (or stream) ended, the difference between the actual and the reserved amounts is added
 *   back (a request that got no answer gives everything back).
 *
 * With `rateLimit.redis` the counters are shared by every replica in Redis and each reservation is one Lua script;
 * without it they live in this process. Amounts are integer nano-dollars. Fail-closed like token budgets: when Redis
 * cannot be reached, requests subject to a spend budget get 503 budget_unavailable. A settlement Redis does not take
 * is logged and left: the counter keeps the reservation, so an outage can only over-count, never let spend through.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedisClient } from '../cache/redis-client.js';
import { CommandHealth } from '../common/command-health.js';
import { GatewayError, ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig, ModelPricing } from '../config/gateway-config.js';
import { type DependencyState, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { createRateLimitRedisClient } from '../rate-limit/redis-token-bucket.js';
import { BUDGET_CLOCK } from './auth.tokens.js';
import { budgetPeriods } from './budget.service.js';
import type { GatewayKey, SpendLimit } from './gateway-key.js';

const NANO = 1e9;
const DEFAULT_MAX_COMPLETION_TOKENS = 1_024;

/** What a request reserved: settled once, with the counters it was taken on (a request may end after midnight). */
export interface SpendReservation {
  counters: string[];
  ttls: number[];
  /** Per counter: nano-USD or tokens reserved. */
  reserved: number[];
  units: Array<SpendLimit['unit']>;
  settled: boolean;
}

/** KEYS: counters; ARGV: limits, then amounts, then TTLs. 0 when reserved, else the 1-based index of a spent counter. */
const RESERVE_SCRIPT = `
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used >= tonumber(ARGV[i]) then return i end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], ARGV[n + i])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * n + i])
end
return 0
`;

type ReservingRedis = Redis & {
  spendReserve(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number>;
};

@Injectable()
export class SpendService implements OnApplicationShutdown {
  private readonly logger = new Logger(SpendService.name);
  private readonly redis: ReservingRedis | undefined;
  private readonly prefix: string;
  private readonly memory = new Map<string, number>();
  private readonly outcomes = new CommandHealth();
  /** Per public model: the highest prices among it and every model it may fall back to. */
  private readonly maxPricing = new Map<string, ModelPricing>();

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(BUDGET_CLOCK) private readonly now: () => number,
    metrics: GatewayMetrics,
  ) {
    const redisConfig = config.rateLimit.redis;
    this.prefix = `${redisConfig?.keyPrefix ?? 'llmgw:'}spend:`;
    // Only database keys carry spend limits: without a database nothing connects.
    if (config.database && redisConfig) {
      const redis = createRateLimitRedisClient(redisConfig) as ReservingRedis;
      redis.defineCommand('spendReserve', { lua: RESERVE_SCRIPT });
      this.redis = redis;
      metrics.watchDependency('spend_redis', () => this.outcomes.state(redis.status === 'ready'));
    }
    const models = new Map(config.models.map((model) => [model.name, model]));
    for (const model of config.models) {
      const seen = new Set<string>();
      const queue = [model.name];
      let input = 0;
      let output = 0;
      while (queue.length > 0) {
        const name = queue.shift()!;
        if (seen.has(name)) continue;
        seen.add(name);
        const group = models.get(name);
        if (!group) continue;
        const pricing = group.pricing;
        if (pricing) {
          input = Math.max(input, pricing.inputPerMillion, pricing.cacheWritePerMillion ?? 0);
          output = Math.max(output, pricing.outputPerMillion);
        }
        queue.push(...group.fallbacks);
      }
      this.maxPricing.set(model.name, { inputPerMillion: input, outputPerMillion: output });
    }
  }

  health(): DependencyState {
    return this.redis ? this.outcomes.state(this.redis.status === 'ready') : 'disabled';
  }

  /** The most a request to `model` can cost, in USD. */
  maxCostUsd(model: string, bodyBytes: number, maxOutputTokens: number | undefined): number {
    const pricing = this.maxPricing.get(model);
    if (!pricing) return 0;
    const prompt = Math.ceil(bodyBytes / 4);
    const completion = maxOutputTokens ?? DEFAULT_MAX_COMPLETION_TOKENS;
    return (prompt * pricing.inputPerMillion + completion * pricing.outputPerMillion) / 1_000_000;
  }

  /** Reserves the request's most on every counter of the key, or throws 429 (spent) or 503 (Redis unavailable). */
  async reserve(
    key: GatewayKey,
    model: string,
    bodyBytes: number,
    maxOutputTokens: number | undefined,
  ): Promise<SpendReservation | undefined> {
    const limits = key.spend;
    if (!limits || limits.length === 0) return undefined;
    const usd = Math.ceil(this.maxCostUsd(model, bodyBytes, maxOutputTokens) * NANO);
    const tokens = Math.ceil(bodyBytes / 4) + (maxOutputTokens ?? DEFAULT_MAX_COMPLETION_TOKENS);
    const periods = budgetPeriods(this.now());
    const reservation: SpendReservation = { counters: [], ttls: [], reserved: [], units: [], settled: false };
    const caps: number[] = [];
    for (const limit of limits) {
      const day = limit.period === 'day';
      // One hash tag per team (or per key without one): a request's counters share a Redis Cluster slot.
      reservation.counters.push(
        `${this.prefix}{${limit.tag}}:${limit.owner}:${limit.unit}:${day ? `d:${periods.day}` : `m:${periods.month}`}`,
      );
      reservation.ttls.push(day ? periods.dayTtl : periods.monthTtl);
      reservation.reserved.push(limit.unit === 'usd' ? usd : tokens);
      reservation.units.push(limit.unit);
      caps.push(limit.unit === 'usd' ? Math.round(limit.limit * NANO) : limit.limit);
    }
    const spent = await this.take(reservation, caps);
    if (spent > 0) {
      const limit = limits[spent - 1];
      throw new GatewayError(
        429,
        'insufficient_quota',
        `The ${limit.unit === 'usd' ? 'USD' : 'token'} budget per ${limit.period} of ${limit.owner.replace(':', " '")}' is used up.`,
        { code: 'insufficient_quota', retryable: false },
      );
    }
    return reservation;
  }

  /** The actual amounts replace the reserved ones (0 and 0 give everything back). Never throws. */
  settle(reservation: SpendReservation | undefined, costUsd: number, tokens: number): void {
    if (!reservation || reservation.settled) return;
    reservation.settled = true;
    const actual = { usd: Math.round(costUsd * NANO), tokens };
    const deltas = reservation.units.map((unit, i) => actual[unit] - reservation.reserved[i]);
    if (!this.redis) {
      reservation.counters.forEach((counter, i) =>
        this.memory.set(counter, (this.memory.get(counter) ?? 0) + deltas[i]),
      );
      return;
    }
    const multi = this.redis.multi();
    reservation.counters.forEach((counter, i) => multi.incrby(counter, deltas[i]));
    multi.exec().then(
      () => this.outcomes.succeeded(),
      (error: unknown) => {
        this.outcomes.failed();
        this.logger.warn(`could not settle a spend reservation (kept at its maximum): ${(error as Error).message}`);
      },
    );
  }

  private async take(reservation: SpendReservation, caps: number[]): Promise<number> {
    const { counters, reserved, ttls } = reservation;
    if (!this.redis) {
      const spent = counters.findIndex((counter, i) => (this.memory.get(counter) ?? 0) >= caps[i]);
      if (spent >= 0) return spent + 1;
      counters.forEach((counter, i) => this.memory.set(counter, (this.memory.get(counter) ?? 0) + reserved[i]));
      return 0;
    }
    try {
      const result = await this.redis.spendReserve(counters.length, ...counters, ...caps, ...reserved, ...ttls);
      this.outcomes.succeeded();
      return result;
    } catch {
      this.outcomes.failed();
      throw new ServiceUnavailableError('Spend budgets cannot be checked right now.', 1_000, 'budget_unavailable');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedisClient(this.redis);
  }
}
