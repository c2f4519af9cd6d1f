/**
 * Per-key token budgets (per UTC day and month), shared across replicas in Redis when `rateLimit.redis` is
 * configured, in memory otherwise. Enforced fail-closed: if the counters cannot be read, the request is
 * refused (503) rather than let through unmetered. A key over budget gets 429 `insufficient_quota`.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { GatewayError, ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { closeRedisClient } from '../cache/redis-client.js';
import { createRateLimitRedisClient, waitForRedis } from '../rate-limit/redis-token-bucket.js';
import type { GatewayKey } from './gateway-key.js';

export const BUDGET_CLOCK = Symbol('BUDGET_CLOCK');

interface Periods {
  day: string;
  month: string;
  /** Seconds until the day / month counters may expire (one period plus a day of slack). */
  dayTtl: number;
  monthTtl: number;
}

export function budgetPeriods(nowMs: number): Periods {
  const iso = new Date(nowMs).toISOString();
  return { day: iso.slice(0, 10), month: iso.slice(0, 7), dayTtl: 2 * 86_400, monthTtl: 32 * 86_400 };
}

@Injectable()
export class BudgetService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(BudgetService.name);
  private readonly redis: Redis | undefined;
  private readonly prefix: string;
  private readonly memory = new Map<string, number>();

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(BUDGET_CLOCK) private readonly now: () => number,
  ) {
    const redisConfig = config.rateLimit.redis;
    const anyBudget = config.auth.keys.some((key) => key.budget?.tokensPerDay || key.budget?.tokensPerMonth);
    this.redis = anyBudget && redisConfig ? createRateLimitRedisClient(redisConfig) : undefined;
    this.prefix = `${redisConfig?.keyPrefix ?? 'llmgw:'}budget:`;
  }

  /** Budgets are fail-closed: wait (boundedly) for the connection so the first requests are not refused. */
  async onModuleInit(): Promise<void> {
    if (!this.redis) return;
    await waitForRedis(this.redis, 2_000).catch(() =>
      this.logger.warn('Redis for token budgets is not ready at start-up'),
    );
  }

  /** Whether the key has a token budget to check (most keys do not: then no call, no promise). */
  applies(key: GatewayKey): boolean {
    const budget = key.budget;
    return budget !== undefined && (Boolean(budget.tokensPerDay) || Boolean(budget.tokensPerMonth));
  }

  /** Throws 429 insufficient_quota when the key has used its budget, 503 when the counters are unreadable. */
  async assertWithinBudget(key: GatewayKey): Promise<void> {
    const budget = key.budget;
    if (!budget || !this.applies(key)) return;
    const periods = budgetPeriods(this.now());
    const [day, month] = await this.read(key.id, periods);
    if (
      (budget.tokensPerDay && day >= budget.tokensPerDay) ||
      (budget.tokensPerMonth && month >= budget.tokensPerMonth)
    ) {
      throw new GatewayError(429, 'insufficient_quota', `The token budget of key '${key.id}' is used up.`, {
        code: 'insufficient_quota',
        retryable: false,
      });
    }
  }

  /** Adds the tokens a request used. Losing a record during a Redis outage is logged, not thrown. */
  async record(key: GatewayKey, tokens: number): Promise<void> {
    if (!key.budget || tokens <= 0) return;
    const periods = budgetPeriods(this.now());
    const dayKey = `${this.prefix}{${key.id}}:d:${periods.day}`;
    const monthKey = `${this.prefix}{${key.id}}:m:${periods.month}`;
    if (!this.redis) {
      this.memory.set(dayKey, (this.memory.get(dayKey) ?? 0) + tokens);
      this.memory.set(monthKey, (this.memory.get(monthKey) ?? 0) + tokens);
      return;
    }
    try {
      await this.redis
        .multi()
        .incrby(dayKey, tokens)
        .expire(dayKey, periods.dayTtl)
        .incrby(monthKey, tokens)
        .expire(monthKey, periods.monthTtl)
        .exec();
    } catch (error) {
      this.logger.warn(`could not record ${tokens} tokens for key '${key.id}': ${(error as Error).message}`);
    }
  }

  async usage(keyId: string): Promise<{ day: number; month: number }> {
    const [day, month] = await this.read(keyId, budgetPeriods(this.now()));
    return { day, month };
  }

  private async read(keyId: string, periods: Periods): Promise<[number, number]> {
    const dayKey = `${this.prefix}{${keyId}}:d:${periods.day}`;
    const monthKey = `${this.prefix}{${keyId}}:m:${periods.month}`;
    if (!this.redis) return [this.memory.get(dayKey) ?? 0, this.memory.get(monthKey) ?? 0];
    try {
      const [day, month] = await this.redis.mget(dayKey, monthKey);
      return [Number(day ?? 0), Number(month ?? 0)];
    } catch {
      throw new ServiceUnavailableError('Token budgets cannot be checked right now.', 1_000, 'budget_unavailable');
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedisClient(this.redis);
  }
}
