/**
 * Per-key token budgets (per UTC day and month), shared across replicas in Redis when `rateLimit.redis` is
 * configured, in memory otherwise. Enforced fail-closed: if the counters cannot be read, the request is
 * refused (503) rather than let through unmetered. A key over budget gets 429 `insufficient_quota`.
 *
 * Usage that cannot be written (Redis down or hung when a stream ends) is kept, summed per counter, and written again
 * with backoff until Redis takes it, and once more at shutdown: an outage costs no accounting. While it waits it
 * counts in budget checks too. The queue is bounded by counters (keys × periods), not by requests.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { CommandHealth } from '../common/command-health.js';
import { GatewayError, ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { type DependencyState, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { closeRedisClient } from '../cache/redis-client.js';
import { createRateLimitRedisClient, waitForRedis } from '../rate-limit/redis-token-bucket.js';
import { BUDGET_CLOCK } from './auth.tokens.js';
import type { GatewayKey } from './gateway-key.js';

/** Counters awaiting a write are at most this many; more are dropped and counted (a runaway set of key ids). */
const MAX_PENDING_COUNTERS = 10_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

interface PendingCount {
  tokens: number;
  ttlSeconds: number;
}

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
  /** Counter key → tokens not yet written to Redis. */
  private readonly pending = new Map<string, PendingCount>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_MIN_MS;
  private droppedRecords = 0;
  private readonly outcomes = new CommandHealth();

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(BUDGET_CLOCK) private readonly now: () => number,
    metrics: GatewayMetrics,
  ) {
    const redisConfig = config.rateLimit.redis;
    // Database keys may be given a budget at any time: with a database, budgets are always ready to count.
    const anyBudget =
      config.database !== undefined ||
      config.auth.keys.some((key) => key.budget?.tokensPerDay || key.budget?.tokensPerMonth);
    this.redis = anyBudget && redisConfig ? createRateLimitRedisClient(redisConfig) : undefined;
    this.prefix = `${redisConfig?.keyPrefix ?? 'llmgw:'}budget:`;
    if (this.redis) metrics.watchDependency('budget_redis', () => this.health());
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

  /** Adds the tokens a request used. What Redis cannot take now is kept and written later (see the file comment). */
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
    this.addPending(dayKey, tokens, periods.dayTtl);
    this.addPending(monthKey, tokens, periods.monthTtl);
    if (this.retryTimer === undefined) await this.flush();
  }

  /** Redis health for readiness and the degraded gauge: `disabled` when budgets keep their counters in memory. */
  health(): DependencyState {
    return this.redis ? this.outcomes.state(this.redis.status === 'ready') : 'disabled';
  }

  /** Tokens recorded but not yet written to Redis (tests and the shutdown log). */
  get unwrittenTokens(): number {
    let total = 0;
    for (const [counter, count] of this.pending) if (counter.includes(':d:')) total += count.tokens;
    return total;
  }

  private addPending(counter: string, tokens: number, ttlSeconds: number): void {
    const waiting = this.pending.get(counter);
    if (waiting) {
      waiting.tokens += tokens;
      return;
    }
    if (this.pending.size >= MAX_PENDING_COUNTERS) {
      this.droppedRecords++;
      return;
    }
    this.pending.set(counter, { tokens, ttlSeconds });
  }

  /** Writes every pending counter in one transaction; on failure keeps them and schedules a retry with backoff. */
  private async flush(): Promise<void> {
    const redis = this.redis;
    if (!redis || this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    const multi = redis.multi();
    for (const [counter, { tokens, ttlSeconds }] of batch) multi.incrby(counter, tokens).expire(counter, ttlSeconds);
    try {
      const results = await multi.exec();
      const failed = results?.find(([error]) => error !== null)?.[0];
      if (!results || failed) throw failed ?? new Error('the transaction was discarded');
      this.outcomes.succeeded();
      this.retryDelayMs = RETRY_MIN_MS;
    } catch (error) {
      this.outcomes.failed();
      for (const [counter, { tokens, ttlSeconds }] of batch) this.addPending(counter, tokens, ttlSeconds);
      this.logger.warn(
        `could not record token usage (${(error as Error).message}); ${this.unwrittenTokens} token(s) kept, ` +
          `retrying in ${this.retryDelayMs} ms`,
      );
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_MS);
  }

  async usage(keyId: string): Promise<{ day: number; month: number }> {
    const [day, month] = await this.read(keyId, budgetPeriods(this.now()));
    return { day, month };
  }

  private async read(keyId: string, periods: Periods): Promise<[number, number]> {
    const dayKey = `${this.prefix}{${keyId}}:d:${periods.day}`;
    const monthKey = `${this.prefix}{${keyId}}:m:${periods.month}`;
    if (!this.redis) return [this.memory.get(dayKey) ?? 0, this.memory.get(monthKey) ?? 0];
    let stored: (string | null)[];
    try {
      stored = await this.redis.mget(dayKey, monthKey);
      this.outcomes.succeeded();
    } catch {
      this.outcomes.failed();
      throw new ServiceUnavailableError('Token budgets cannot be checked right now.', 1_000, 'budget_unavailable');
    }
    const unwritten = (counter: string) => this.pending.get(counter)?.tokens ?? 0;
    return [Number(stored[0] ?? 0) + unwritten(dayKey), Number(stored[1] ?? 0) + unwritten(monthKey)];
  }

  /** One last write of what is pending (bounded by the client's command timeout), then the connection closes. */
  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (!this.redis) return;
    await this.flush();
    clearTimeout(this.retryTimer);
    if (this.pending.size > 0 || this.droppedRecords > 0) {
      this.logger.warn(`shutting down with ${this.unwrittenTokens} token(s) of usage unwritten (Redis unavailable)`);
    }
    await closeRedisClient(this.redis);
  }
}
