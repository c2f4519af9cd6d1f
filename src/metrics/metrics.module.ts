/**
 * `GET /metrics` on the API port, through @willsoto/nestjs-prometheus with our controller (the app's own
 * registry, see GatewayMetrics) and without its default metrics (they would go to the global registry, once per
 * app: a second app in the process would fail to register them).
 *
 * Also provides RATE_LIMIT_REDIS_ERROR (the rate limiter's Redis failure callback) as a counter, and watches the
 * degraded state of the cache's Redis and Vault (the rate limiter watches its own store).
 */
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { TIERED_CACHE } from '../cache/cache.module.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { RATE_LIMIT_REDIS_ERROR } from '../rate-limit/rate-limit.module.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { MetricsController } from './metrics.controller.js';

@Global()
@Module({})
export class MetricsModule {
  static forRoot(): DynamicModule {
    return {
      module: MetricsModule,
      imports: [PrometheusModule.register({ controller: MetricsController, defaultMetrics: { enabled: false } })],
      providers: [
        {
          provide: GatewayMetrics,
          inject: [GATEWAY_CONFIG, TIERED_CACHE, SecretsService],
          useFactory: (config: GatewayConfig, cache: TieredCache, secrets: SecretsService) => {
            const metrics = new GatewayMetrics(config);
            metrics.watchDependency('cache_redis', () => cache.health());
            metrics.watchDependency('vault', () => secrets.status().vault);
            return metrics;
          },
        },
        {
          provide: RATE_LIMIT_REDIS_ERROR,
          inject: [GatewayMetrics],
          useFactory: (metrics: GatewayMetrics) => (scope: string, mode: string) =>
            metrics.rateLimitRedisError(scope, mode),
        },
      ],
      exports: [GatewayMetrics, RATE_LIMIT_REDIS_ERROR],
    };
  }
}
