/**
 * Two-level cache of serialized completions: an in-process LRU (L1) in front of Redis (L2, optional).
 *
 * The tiering is written here on top of two Keyv instances rather than with cache-manager 7's
 * `createCache({ stores: [l1, l2] })`, because that `get` returns an L2 hit without copying it into L1
 * (only `wrap` backfills, and then with the wrap TTL rather than the entry's remaining TTL), and its
 * `set`/`del` reject when Redis is down — or, with Keyv's default `throwOnErrors: false`, every Redis error
 * is swallowed unseen, so neither "degraded" health nor the error log would be possible.
 * Redis trouble never escapes get/set/delete: the request simply proceeds on L1.
 */
import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { LRUCache } from 'lru-cache';
import type { CacheConfig } from './cache.config.js';
import { createRedisClient, type RedisLogger, ThrottledLogger } from './redis-client.js';
import { RedisKeyvStore } from './redis-keyv-store.js';

export type CacheHealth = 'up' | 'degraded' | 'disabled';

export interface TieredCacheOptions {
  l1: { maxEntries: number; maxBytes: number };
  /** TTL given to an L2 entry without an expiry when it is copied into L1. */
  defaultTtlMs: number;
  /** L2; the cache owns the client and closes it on shutdown. */
  redis?: { client: Redis; keyPrefix: string };
  /** Receives Redis failures; throttle it (see {@link ThrottledLogger}). */
  logger: RedisLogger;
}

export interface TieredCacheStats {
  l1Hits: number;
  l2Hits: number;
  misses: number;
  sets: number;
  /** Redis commands that failed or timed out. */
  l2Errors: number;
  l1Entries: number;
  /** Total length of the JSON strings held in L1. */
  l1Bytes: number;
  health: CacheHealth;
}

/**
 * The LRU as a Map-like Keyv store. Keyv calls `set(key, value, ttlMs)`, but lru-cache 11 takes an options
 * object there (and throws when given a number), so the TTL is handed over as `{ ttl }`; the LRU then
 * expires entries too, on top of the `expires` Keyv keeps beside each value.
 */
function lruKeyvStore(lru: LRUCache<string, string>) {
  return {
    get: (key: string) => lru.get(key),
    set: (key: string, stored: string, ttlMs?: number) => {
      lru.set(key, stored, { ttl: ttlMs === undefined ? undefined : Math.ceil(ttlMs) });
      return lru.has(key);
    },
    delete: (key: string) => lru.delete(key),
    clear: () => lru.clear(),
  };
}

/** After a Redis command fails, L2 is left alone this long (unless the connection comes back sooner). */
const L2_PAUSE_AFTER_ERROR_MS = 1_000;

export class TieredCache implements OnApplicationShutdown {
  private readonly lru: LRUCache<string, string>;
  private readonly l1: Keyv<string>;
  private readonly l2?: Keyv<string>;
  private readonly redis?: Redis;
  private readonly logger: RedisLogger;
  private readonly defaultTtlMs: number;
  private l2PausedUntil = 0;
  private closed = false;
  private readonly counters = { l1Hits: 0, l2Hits: 0, misses: 0, sets: 0, l2Errors: 0 };

  /** Builds the cache described by the `cache` config section; Redis only if configured and the cache enabled. */
  static fromConfig(config: CacheConfig, logger: RedisLogger = new Logger(TieredCache.name)): TieredCache {
    const throttled = new ThrottledLogger(logger, config.errorLogIntervalMs);
    const redisConfig = config.enabled ? config.redis : undefined;
    const redis = redisConfig && {
      client: createRedisClient(
        redisConfig.url,
        {
          connectTimeoutMs: redisConfig.connectTimeoutMs,
          commandTimeoutMs: redisConfig.commandTimeoutMs,
          reconnectMaxDelayMs: redisConfig.reconnectMaxDelayMs,
          connectionName: 'llmgw-cache',
        },
        throttled,
      ),
      keyPrefix: redisConfig.keyPrefix,
    };
    return new TieredCache({ l1: config.l1, defaultTtlMs: config.defaultTtlSeconds * 1_000, redis, logger: throttled });
  }

  constructor(options: TieredCacheOptions) {
    this.logger = options.logger;
    this.defaultTtlMs = options.defaultTtlMs;
    this.lru = new LRUCache<string, string>({
      max: options.l1.maxEntries,
      maxSize: options.l1.maxBytes,
      sizeCalculation: (stored) => Buffer.byteLength(stored),
    });
    this.l1 = new Keyv<string>({ store: lruKeyvStore(this.lru), namespace: undefined, useKeyPrefix: false });
    if (options.redis) {
      this.redis = options.redis.client;
      // throwOnErrors: without it Keyv's get turns a Redis failure into a silent miss.
      this.l2 = new Keyv<string>({
        store: new RedisKeyvStore(this.redis, options.redis.keyPrefix),
        namespace: undefined,
        useKeyPrefix: false,
        throwOnErrors: true,
      });
      this.redis.on('ready', () => {
        this.l2PausedUntil = 0;
      });
    }
  }

  /** L1, then L2; an L2 hit is copied into L1 for the rest of its TTL. */
  async get(key: string): Promise<string | undefined> {
    const local = await this.l1.get(key);
    if (local !== undefined) {
      this.counters.l1Hits += 1;
      return local;
    }
    const remote = await this.fromL2(key);
    if (remote?.value === undefined) {
      this.counters.misses += 1;
      return undefined;
    }
    this.counters.l2Hits += 1;
    const ttlMs = remote.expires === undefined ? this.defaultTtlMs : remote.expires - Date.now();
    if (ttlMs > 0) await this.l1.set(key, remote.value, ttlMs);
    return remote.value;
  }

  /** Stores in both levels; a non-positive TTL stores nothing. */
  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return;
    this.counters.sets += 1;
    await this.l1.set(key, value, ttlMs);
    if (this.l2 && this.l2Usable()) {
      try {
        await this.l2.set(key, value, ttlMs);
      } catch (error) {
        this.onL2Error('set', error);
      }
    }
  }

  /** While Redis is unreachable only L1 is cleared. */
  async delete(key: string): Promise<void> {
    await this.l1.delete(key);
    if (this.l2 && this.l2Usable()) {
      try {
        await this.l2.delete(key);
      } catch (error) {
        this.onL2Error('delete', error);
      }
    }
  }

  /** For readiness: `degraded` while Redis is configured but unreachable or failing. */
  health(): CacheHealth {
    if (!this.redis) return 'disabled';
    return this.l2Usable() ? 'up' : 'degraded';
  }

  stats(): TieredCacheStats {
    return { ...this.counters, l1Entries: this.lru.size, l1Bytes: this.lru.calculatedSize, health: this.health() };
  }

  /** Closes the Redis connection, once (pending replies are not awaited: it is only a cache). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A second disconnect() would arm ioredis's disconnect timer on the already closed socket.
    this.redis?.disconnect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private async fromL2(key: string): Promise<{ value?: string; expires?: number } | undefined> {
    if (!this.l2 || !this.l2Usable()) return undefined;
    try {
      return await this.l2.get(key, { raw: true });
    } catch (error) {
      this.onL2Error('get', error);
      return undefined;
    }
  }

  /**
   * Connected, and no command failed recently: a down Redis costs requests nothing, a hung one costs one
   * command timeout per pause.
   */
  private l2Usable(): boolean {
    return this.redis?.status === 'ready' && Date.now() >= this.l2PausedUntil;
  }

  private onL2Error(operation: string, error: unknown): void {
    this.counters.l2Errors += 1;
    this.l2PausedUntil = Date.now() + L2_PAUSE_AFTER_ERROR_MS;
    const message = error instanceof Error ? error.message : String(error);
    this.logger.warn(`Redis ${operation} failed, serving from the in-process cache only: ${message}`);
  }
}
