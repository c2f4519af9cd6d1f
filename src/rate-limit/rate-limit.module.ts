/**
 * Builds the bucket store from config — atomic Redis buckets shared by every replica, or memory when no Redis
 * is configured — and the RateLimiter over it.
 */
import { Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { Redis } from 'ioredis';
import { closeRedisClient } from '../cache/redis-client.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { MemoryBucketStore } from './memory-token-bucket.js';
import type { RateLimitConfig } from './rate-limit.config.js';
import { RateLimiter } from './rate-limiter.service.js';
import {
  BUCKET_STORE,
  RATE_LIMIT_CONFIG,
  RATE_LIMIT_HEALTH,
  RATE_LIMIT_REDIS,
  type RateLimitHealth,
} from './rate-limit.tokens.js';
import { createRateLimitRedisClient, RedisBucketStore, waitForRedis } from './redis-token-bucket.js';
import type { BucketStore } from './token-bucket.js';

@Injectable()
class RateLimitRedisCloser implements OnApplicationShutdown {
  constructor(@Inject(RATE_LIMIT_REDIS) private readonly redis: Redis | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedisClient(this.redis);
  }
}

@Module({
  providers: [
    { provide: RATE_LIMIT_CONFIG, inject: [GATEWAY_CONFIG], useFactory: (gateway: GatewayConfig) => gateway.rateLimit },
    {
      provide: RATE_LIMIT_REDIS,
      inject: [RATE_LIMIT_CONFIG],
      // Start-up waits (boundedly) for the connection, so the first requests do not meet a Redis that is
      // still connecting — in failClosed mode they would be refused.
      useFactory: async (config: RateLimitConfig) => {
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
      inject: [RATE_LIMIT_CONFIG, RATE_LIMIT_REDIS, GatewayMetrics],
      useFactory: (config: RateLimitConfig, redis: Redis | null, metrics: GatewayMetrics): BucketStore =>
        redis && config.redis
          ? new RedisBucketStore(redis, {
              keyPrefix: config.redis.keyPrefix,
              failureMode: config.failureMode,
              fallback: new MemoryBucketStore(),
              logger: new Logger('RateLimiter'),
              onRedisError: (scope, mode) => metrics.rateLimitRedisError(scope, mode),
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
  exports: [RateLimiter, RATE_LIMIT_CONFIG, RATE_LIMIT_REDIS, RATE_LIMIT_HEALTH, BUCKET_STORE],
})
export class RateLimitModule {}
