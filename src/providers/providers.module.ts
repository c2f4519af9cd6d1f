/** The configured providers, built once at start-up from the registered factories (see provider-factories.ts). */
import { Module } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { SecretsModule } from '../secrets/secrets.module.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { PROVIDER_FACTORIES } from './provider-factories.js';
import { ProviderRegistry } from './provider-registry.js';

@Module({
  imports: [SecretsModule],
  providers: [
    {
      provide: ProviderRegistry,
      inject: [GATEWAY_CONFIG, SecretsService, GatewayMetrics],
      useFactory: (config: GatewayConfig, secrets: SecretsService, metrics: GatewayMetrics) =>
        ProviderRegistry.create(config, PROVIDER_FACTORIES, secrets, metrics),
    },
  ],
  exports: [ProviderRegistry],
})
export class ProvidersModule {}
