/**
 * Kubernetes probes. Liveness checks only the process. Readiness checks that the gateway can serve: config
 * loaded, providers built, not draining. Redis, Vault and PostgreSQL outages are reported as `degraded` but keep the
 * instance ready — it still serves (cache on L1, limits per replica or fail-closed, last good secrets), and
 * taking every replica out of rotation because a shared dependency hiccups would turn a partial outage into
 * a total one. Probes never call a model.
 */
import { Access } from '../http/route-config.js';
import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { BudgetService } from '../auth/budget.service.js';
import { TIERED_CACHE } from '../cache/cache.module.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { TrafficService } from '../lifecycle/traffic.service.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { ProviderRegistry } from '../providers/provider-registry.js';
import { RATE_LIMIT_HEALTH, type RateLimitHealth } from '../rate-limit/rate-limit.tokens.js';
import { SecretsService } from '../secrets/secrets.service.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: ProviderRegistry,
    private readonly traffic: TrafficService,
    private readonly secrets: SecretsService,
    private readonly budgets: BudgetService,
    @Inject(TIERED_CACHE) private readonly cache: TieredCache,
    @Inject(RATE_LIMIT_HEALTH) private readonly rateLimitHealth: RateLimitHealth,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
  ) {}

  @Get('live')
  @Access('public', { servedWhileDraining: true })
  @HealthCheck()
  live() {
    return this.health.check([
      () => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) }),
    ]);
  }

  @Get('ready')
  @Access('public', { servedWhileDraining: true })
  @HealthCheck()
  ready() {
    return this.health.check([
      () => {
        const lifecycle = this.indicators.check('lifecycle');
        return this.traffic.draining
          ? lifecycle.down({ draining: true })
          : lifecycle.up({ inFlight: this.traffic.inFlight });
      },
      () => this.indicators.check('config').up({ models: this.config.models.length }),
      () => {
        const providers = this.indicators.check('providers');
        return this.registry.size === this.config.providers.length
          ? providers.up({ count: this.registry.size })
          : providers.down({ count: this.registry.size });
      },
      () => this.indicators.check('cacheRedis').up({ state: this.cache.health() }),
      () => this.indicators.check('rateLimitRedis').up({ state: this.rateLimitHealth() }),
      () => this.indicators.check('budgetRedis').up({ state: this.budgets.health() }),
      () => this.indicators.check('vault').up({ state: this.secrets.status().vault }),
      // The management plane's PostgreSQL: degraded keeps the replica ready (it serves its cached keys).
      () => this.indicators.check('database').up({ state: this.metrics.dependencyState('database') }),
      () => this.indicators.check('spendRedis').up({ state: this.metrics.dependencyState('spend_redis') }),
    ]);
  }
}
