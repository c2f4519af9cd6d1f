import { Module } from '@nestjs/common';
import { PROVIDER_FACTORIES } from './provider-factories.js';
import { PROVIDER_FACTORY_LIST, ProviderRegistry } from './provider-registry.js';

@Module({
  providers: [{ provide: PROVIDER_FACTORY_LIST, useValue: PROVIDER_FACTORIES }, ProviderRegistry],
  exports: [ProviderRegistry],
})
export class ProvidersModule {}
