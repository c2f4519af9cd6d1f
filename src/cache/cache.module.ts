/**
 * Provides the response cache: `TIERED_CACHE` (a {@link TieredCache}) and `CACHE_CONFIG` (the validated section).
 *
 * Not built on @nestjs/cache-manager's `CacheModule.register({ stores })`: that provider is cache-manager 7's
 * `createCache`, whose tiering lacks L1 backfill and surfaces Redis errors (see tiered-cache.ts), and it would
 * add a second `CACHE_MANAGER` view over the same stores. The Redis client is closed on application shutdown.
 */
import { type DynamicModule, Module } from '@nestjs/common';
import type { CacheConfig } from './cache.config.js';
import { TieredCache } from './tiered-cache.js';

/** Injection token for the {@link TieredCache}. */
export const TIERED_CACHE = Symbol('TIERED_CACHE');
/** Injection token for the validated {@link CacheConfig}. */
export const CACHE_CONFIG = Symbol('CACHE_CONFIG');

@Module({})
export class CacheModule {
  static forRoot(config: CacheConfig): DynamicModule {
    return {
      module: CacheModule,
      global: true,
      providers: [
        { provide: CACHE_CONFIG, useValue: config },
        { provide: TIERED_CACHE, useFactory: () => TieredCache.fromConfig(config) },
      ],
      exports: [TIERED_CACHE, CACHE_CONFIG],
    };
  }
}
