/**
 * Builds the bucket store from config — atomic Redis buckets shared by every replica, or memory when no Redis
 * is configured — and the RateLimiter over it.
 */
import { type DynamicModule, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { closeRedisClient } from '../cache/redis-client.js';
import { type DependencyState, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { MemoryBucketStore } from './memory-token-bucket.js';
import type { RateLimitConfig } from './rate-limit.config.js';
import { BUCKET_STORE, RATE_LIMIT_CONFIG, RateLimiter } from './rate-limiter.service.js';
import { createRateLimitRedisClient, RedisBucketStore, waitForRedis } from './redis-token-bucket.js';
import type { BucketStore } from './token-bucket.js';

export const RATE_LIMIT_REDIS = Symbol('RATE_LIMIT_REDIS');
/** The health of the rate limiter's shared store: `disabled` without Redis, else from its command outcomes. */
export const RATE_LIMIT_HEALTH = Symbol('RATE_LIMIT_HEALTH');
export type RateLimitHealth = () => DependencyState;
/** Called for every bucket call Redis could not serve (a metric counts them). */
export const RATE_LIMIT_REDIS_ERROR = Symbol('RATE_LIMIT_REDIS_ERROR');

@Injectable()
class RateLimitRedisCloser implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedisClient(this.redis);
  }
}

@Module({})
export class RateLimitModule {
  static forRoot(config: RateLimitConfig): DynamicModule {
    return {
      module: RateLimitModule,
      global: true,
      providers: [
        { provide: RATE_LIMIT_CONFIG, useValue: config },
        {
          provide: RATE_LIMIT_REDIS,
          // Start-up waits (boundedly) for the connection, so the first requests do not meet a Redis that is
          // still connecting — in failClosed mode they would be refused.
          useFactory: async () => {
            if (!config.enabled || !config.redis) return null;
            const client = createRateLimitRedisClient(config.redis);
            await waitForRedis(client, config.redis.connectTimeoutMs).catch((error: unknown) =>
              new Logger('RateLimiter').warn(
                `Redis not ready at start-up, applying ${config.failureMode}: ${(error as Error).message}`,
              ),
            );
            return client;
          },
        },
        {
          provide: BUCKET_STORE,
          inject: [RATE_LIMIT_REDIS, { token: RATE_LIMIT_REDIS_ERROR, optional: true }],
          useFactory: (redis: Redis | null, onRedisError?: (scope: string, mode: string) => void): BucketStore =>
            redis && config.redis
              ? new RedisBucketStore(redis, {
                  keyPrefix: config.redis.keyPrefix,
                  failureMode: config.failureMode,
                  fallback: new MemoryBucketStore(),
                  logger: new Logger('RateLimiter'),
                  onRedisError,
                })
              : new MemoryBucketStore(),
        },
        {
          provide: RATE_LIMIT_HEALTH,
          inject: [BUCKET_STORE, GatewayMetrics],
          useFactory: (store: BucketStore, metrics: GatewayMetrics): RateLimitHealth => {
            if (!(store instanceof RedisBucketStore)) return () => 'disabled';
            const health = () => store.health();
            metrics.watchDependency('rate_limit_redis', health);
            return health;
          },
        },
        RateLimiter,
        RateLimitRedisCloser,
      ],
      exports: [RateLimiter, RATE_LIMIT_CONFIG, RATE_LIMIT_REDIS, RATE_LIMIT_HEALTH],
    };
  }
}
