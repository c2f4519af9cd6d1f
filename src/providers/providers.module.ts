import { Module } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { SecretsService } from '../secrets/secrets.service.js';
import type { ProviderFactory } from './llm-provider.js';
import { PROVIDER_FACTORIES } from './provider-factories.js';
import { PROVIDER_FACTORY_LIST, ProviderRegistry } from './provider-registry.js';

@Module({
  providers: [
    { provide: PROVIDER_FACTORY_LIST, useValue: PROVIDER_FACTORIES },
    {
      provide: ProviderRegistry,
      inject: [GATEWAY_CONFIG, PROVIDER_FACTORY_LIST, SecretsService, GatewayMetrics],
      useFactory: (
        config: GatewayConfig,
        factories: readonly ProviderFactory[],
        secrets: SecretsService,
        metrics: GatewayMetrics,
      ) => ProviderRegistry.create(config, factories, secrets, metrics),
    },
  ],
  exports: [ProviderRegistry],
})
export class ProvidersModule {}
