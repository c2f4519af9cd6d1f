/**
 * SecretsService for the modules that read credentials (providers, gateway keys): they `await secrets.resolve(ref)`
 * at start-up and keep `secrets.handle(ref)`. Vault's health is watched in the metrics.
 */
import { Module } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { SecretsService } from './secrets.service.js';

@Module({
  providers: [
    {
      provide: SecretsService,
      inject: [GATEWAY_CONFIG, GatewayMetrics],
      useFactory: (config: GatewayConfig, metrics: GatewayMetrics) => {
        const secrets = new SecretsService(config.secrets);
        metrics.watchDependency('vault', () => secrets.status().vault);
        return secrets;
      },
    },
  ],
  exports: [SecretsService],
})
export class SecretsModule {}
