/**
 * Kubernetes probes. Liveness checks only the process; readiness checks that the gateway can serve
 * (config loaded, providers built). Probes never call a model.
 */
import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { TrafficService } from '../lifecycle/traffic.service.js';
import { ProviderRegistry } from '../providers/provider-registry.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: ProviderRegistry,
    private readonly traffic: TrafficService,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {}

  @Get('live')
  @HealthCheck()
  live() {
    return this.health.check([() => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) })]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => {
        const lifecycle = this.indicators.check('lifecycle');
        return this.traffic.draining ? lifecycle.down({ draining: true }) : lifecycle.up({ inFlight: this.traffic.inFlight });
      },
      () => this.indicators.check('config').up({ models: this.config.models.length }),
      () => {
        const providers = this.indicators.check('providers');
        return this.registry.size === this.config.providers.length
          ? providers.up({ count: this.registry.size })
          : providers.down({ count: this.registry.size });
      },
    ]);
  }
}
