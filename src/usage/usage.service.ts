/**
 * Token usage and cost: each answered request adds its tokens and cost to the token and cost metrics (by model and
 * provider) and to the totals of its gateway key, readable at GET /admin/usage.
 *
 * Per-key totals are shared by every replica in Redis when `rateLimit.redis` is configured (the Redis the token
 * budgets use), in memory otherwise. The request path only adds to an in-process Map; the sums are written to
 * Redis once a second in one MULTI (a hash per key, plus the set of key ids), and again at shutdown. Sums that
 * could not be written stay pending and go with the next write.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig, ModelPricing } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { createRateLimitRedisClient } from '../rate-limit/redis-token-bucket.js';
import { costUsd, type TokenUsage } from './pricing.js';

export interface KeyUsage {
  keyId: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  costUsd: number;
}

interface Totals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Integer nano-dollars: sums stay exact however many requests are added. */
  costNanoUsd: number;
}

const FLUSH_INTERVAL_MS = 1_000;
const NANO = 1e9;

@Injectable()
export class UsageService implements OnApplicationShutdown {
  private readonly logger = new Logger(UsageService.name);
  private readonly pricing = new Map<string, ModelPricing>();
  private readonly redis: Redis | undefined;
  private readonly prefix: string;
  /** Memory mode: the totals. Redis mode: sums not yet written. */
  private pending = new Map<string, Totals>();
  /** Sums being written right now, still counted by reads. */
  private writing: Map<string, Totals> | undefined;
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private lastErrorLogAt = 0;

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {
    for (const model of config.models) if (model.pricing) this.pricing.set(model.name, model.pricing);
    const redisConfig = config.rateLimit.redis;
    this.prefix = `${redisConfig?.keyPrefix ?? 'llmgw:'}usage:`;
    if (redisConfig) {
      this.redis = createRateLimitRedisClient(redisConfig);
      this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS).unref();
    }
  }

  /**
   * Adds one answered request. `model` is the public model that served it and `provider` the provider name (none
   * for a cache hit, which costs nothing); without usage only the request is counted. Returns the cost in USD,
   * undefined when the model has no pricing.
   */
  record(
    keyId: string,
    model: string,
    provider: string | undefined,
    usage: TokenUsage | undefined,
  ): number | undefined {
    const cost = usage ? costUsd(this.pricing.get(model), usage) : this.pricing.has(model) ? 0 : undefined;
    if (usage && provider !== undefined) {
      const series = this.metrics.model(model).usage.get(provider);
      if (series) {
        series.promptTokens.inc(usage.prompt);
        series.completionTokens.inc(usage.completion);
        if (usage.cached) series.cachedTokens.inc(usage.cached);
        if (usage.cacheWrite) series.cacheWriteTokens.inc(usage.cacheWrite);
        if (usage.reasoning) series.reasoningTokens.inc(usage.reasoning);
        if (cost) series.costUsd.inc(cost);
      }
    }
    let totals = this.pending.get(keyId);
    if (!totals) {
      totals = { requests: 0, promptTokens: 0, completionTokens: 0, costNanoUsd: 0 };
      this.pending.set(keyId, totals);
    }
    totals.requests++;
    if (usage) {
      totals.promptTokens += usage.prompt;
      totals.completionTokens += usage.completion;
    }
    if (cost) totals.costNanoUsd += Math.round(cost * NANO);
    return cost;
  }

  /** Every key that has used the gateway, by key id. */
  async all(): Promise<KeyUsage[]> {
    const totals = new Map<string, Totals>();
    const redis = this.redis;
    if (redis) {
      await readOrUnavailable(async () => {
        const keyIds = await redis.smembers(`${this.prefix}keys`);
        const stored = await Promise.all(keyIds.map((keyId) => redis.hgetall(this.hashKey(keyId))));
        keyIds.forEach((keyId, i) => totals.set(keyId, fromHash(stored[i])));
      });
    }
    for (const local of this.unwritten()) {
      for (const [keyId, sums] of local) totals.set(keyId, add(totals.get(keyId), sums));
    }
    return [...totals].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([keyId, sums]) => toKeyUsage(keyId, sums));
  }

  /** One key's totals; undefined when it has no recorded request. */
  async forKey(keyId: string): Promise<KeyUsage | undefined> {
    let totals: Totals | undefined;
    const redis = this.redis;
    if (redis) {
      const stored = await readOrUnavailable(() => redis.hgetall(this.hashKey(keyId)));
      if (Object.keys(stored).length > 0) totals = fromHash(stored);
    }
    for (const local of this.unwritten()) {
      const sums = local.get(keyId);
      if (sums) totals = add(totals, sums);
    }
    return totals && toKeyUsage(keyId, totals);
  }

  /** Writes the pending sums to Redis; one write at a time. */
  flush(): Promise<void> {
    if (!this.redis || this.pending.size === 0) return this.flushing ?? Promise.resolve();
    this.flushing ??= this.write(this.redis).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
    // Not quit(): with the offline queue off it fails while Redis is unreachable, and ioredis keeps reconnecting.
    this.redis?.disconnect();
  }

  private unwritten(): Map<string, Totals>[] {
    return this.writing ? [this.pending, this.writing] : [this.pending];
  }

  private async write(redis: Redis): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.writing = batch;
    const multi = redis.multi();
    for (const [keyId, sums] of batch) {
      const key = this.hashKey(keyId);
      multi
        .hincrby(key, 'requests', sums.requests)
        .hincrby(key, 'prompt_tokens', sums.promptTokens)
        .hincrby(key, 'completion_tokens', sums.completionTokens)
        .hincrby(key, 'cost_nano_usd', sums.costNanoUsd);
    }
    multi.sadd(`${this.prefix}keys`, ...batch.keys());
    try {
      await multi.exec();
    } catch (error) {
      for (const [keyId, sums] of batch) this.pending.set(keyId, add(this.pending.get(keyId), sums));
      const now = Date.now();
      if (now - this.lastErrorLogAt >= 60_000) {
        this.lastErrorLogAt = now;
        const reason = (error as Error).message;
        this.logger.warn(`could not write usage totals to Redis, keeping them for the next try: ${reason}`);
      }
    } finally {
      this.writing = undefined;
    }
  }

  private hashKey(keyId: string): string {
    return `${this.prefix}{${keyId}}`;
  }
}

async function readOrUnavailable<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch {
    throw new ServiceUnavailableError('Usage totals cannot be read right now.', 1_000, 'usage_unavailable');
  }
}

function fromHash(hash: Record<string, string>): Totals {
  return {
    requests: Number(hash.requests ?? 0),
    promptTokens: Number(hash.prompt_tokens ?? 0),
    completionTokens: Number(hash.completion_tokens ?? 0),
    costNanoUsd: Number(hash.cost_nano_usd ?? 0),
  };
}

function add(a: Totals | undefined, b: Totals): Totals {
  if (!a) return { ...b };
  return {
    requests: a.requests + b.requests,
    promptTokens: a.promptTokens + b.promptTokens,
    completionTokens: a.completionTokens + b.completionTokens,
    costNanoUsd: a.costNanoUsd + b.costNanoUsd,
  };
}

function toKeyUsage(keyId: string, totals: Totals): KeyUsage {
  return {
    keyId,
    requests: totals.requests,
    promptTokens: totals.promptTokens,
    completionTokens: totals.completionTokens,
    totalTokens: totals.promptTokens + totals.completionTokens,
    costUsd: totals.costNanoUsd / NANO,
  };
}
