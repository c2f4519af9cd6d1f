/** Builds one provider instance per configured provider, once at start-up. */
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { LlmProvider, ProviderFactory } from './llm-provider.js';
import { PROVIDER_FACTORIES } from './provider-factories.js';

export const PROVIDER_FACTORY_LIST = Symbol('PROVIDER_FACTORY_LIST');

@Injectable()
export class ProviderRegistry implements OnApplicationShutdown {
  private readonly providers = new Map<string, LlmProvider>();

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Inject(PROVIDER_FACTORY_LIST) factories: readonly ProviderFactory[] = PROVIDER_FACTORIES,
  ) {
    const byType = new Map<string, ProviderFactory>();
    for (const factory of factories) {
      if (byType.has(factory.type)) throw new Error(`two provider factories claim type '${factory.type}'`);
      byType.set(factory.type, factory);
    }
    for (const provider of config.providers) {
      const factory = byType.get(provider.type);
      // The config loader already rejected unknown types; this guards programmatic configs.
      if (!factory) throw new Error(`providers.${provider.name}.type: unknown provider type '${provider.type}'`);
      this.providers.set(provider.name, factory.create(provider, (provider.options ?? {}) as object));
    }
  }

  get(name: string): LlmProvider {
    const provider = this.providers.get(name);
    if (!provider) throw new Error(`provider '${name}' is not configured`);
    return provider;
  }

  get size(): number {
    return this.providers.size;
  }

  onApplicationShutdown(): void {
    for (const provider of this.providers.values()) provider.close?.();
  }
}
