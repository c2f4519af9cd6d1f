/**
 * Builds one provider instance per configured provider, once at start-up, each with its runtime (credentials from
 * secret references, resolved first and then followed, so a key rotated in Vault is used without a restart; the
 * shared transport).
 */
import { type OnApplicationShutdown } from '@nestjs/common';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { SecretsService } from '../secrets/secrets.service.js';
import type { LlmProvider, ProviderFactory } from './llm-provider.js';
import { createProviderRuntime } from './provider-runtime.js';
import { secretRedactor } from '../common/redaction.js';

export class ProviderRegistry implements OnApplicationShutdown {
  private constructor(private readonly providers: Map<string, LlmProvider>) {}

  static async create(
    config: GatewayConfig,
    factories: readonly ProviderFactory[],
    secrets: SecretsService,
    metrics?: GatewayMetrics,
  ): Promise<ProviderRegistry> {
    const byType = new Map<string, ProviderFactory>();
    for (const factory of factories) {
      if (byType.has(factory.type)) throw new Error(`two provider factories claim type '${factory.type}'`);
      byType.set(factory.type, factory);
    }
    const providers = new Map<string, LlmProvider>();
    for (const provider of config.providers) {
      const factory = byType.get(provider.type);
      // The config loader already rejected unknown types; this guards programmatic configs.
      if (!factory) throw new Error(`providers.${provider.name}.type: unknown provider type '${provider.type}'`);
      registerHeaderCredentials(provider.headers);
      const runtime = createProviderRuntime(provider, secrets, metrics);
      providers.set(provider.name, await factory.create(provider, provider.options ?? {}, runtime));
    }
    return new ProviderRegistry(providers);
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

/** Configured headers that carry credentials (`api-key`, `x-goog-api-key`, `authorization`, …) are secrets too. */
function registerHeaderCredentials(headers: Record<string, string> | undefined): void {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (/auth|key|token|secret/i.test(name)) secretRedactor.add(value);
  }
}
