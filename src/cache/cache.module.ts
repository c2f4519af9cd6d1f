/**
 * The response cache: `TIERED_CACHE` (a {@link TieredCache}) and `CACHE_CONFIG` (the validated section), its Redis
 * health watched in the metrics.
 *
 * Not built on @nestjs/cache-manager's `CacheModule.register({ stores })`: that provider is cache-manager 7's
 * `createCache`, whose tiering lacks L1 backfill and surfaces Redis errors (see tiered-cache.ts), and it would
 * add a second `CACHE_MANAGER` view over the same stores. The Redis client is closed on application shutdown.
 */
import { Module } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { TieredCache } from './tiered-cache.js';

/** Injection token for the {@link TieredCache}. */
export const TIERED_CACHE = Symbol('TIERED_CACHE');
/** Injection token for the validated {@link CacheConfig}. */
export const CACHE_CONFIG = Symbol('CACHE_CONFIG');

@Module({
  providers: [
    { provide: CACHE_CONFIG, inject: [GATEWAY_CONFIG], useFactory: (config: GatewayConfig) => config.cache },
    {
      provide: TIERED_CACHE,
      inject: [GATEWAY_CONFIG, GatewayMetrics],
      useFactory: (config: GatewayConfig, metrics: GatewayMetrics) => {
        const cache = TieredCache.fromConfig(config.cache);
        metrics.watchDependency('cache_redis', () => cache.health());
        return cache;
      },
    },
  ],
  exports: [TIERED_CACHE, CACHE_CONFIG],
})
export class CacheModule {}
