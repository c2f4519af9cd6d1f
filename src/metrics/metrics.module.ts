/**
 * `GET /metrics` on the API port, through @willsoto/nestjs-prometheus with our controller (the app's own
 * registry, see GatewayMetrics) and without its default metrics (they would go to the global registry, once per
 * app: a second app in the process would fail to register them). Global: every feature module counts into it, and
 * the modules that own a dependency (cache, rate limits, budgets, secrets) register its health here themselves.
 */
import { Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { MetricsController } from './metrics.controller.js';

@Global()
@Module({
  imports: [PrometheusModule.register({ controller: MetricsController, defaultMetrics: { enabled: false } })],
  providers: [
    {
      provide: GatewayMetrics,
      inject: [GATEWAY_CONFIG],
      useFactory: (config: GatewayConfig) => new GatewayMetrics(config),
    },
  ],
  exports: [GatewayMetrics],
})
export class MetricsModule {}
