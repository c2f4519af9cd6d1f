/**
 * Builds one provider instance per configured provider, once at start-up. Credentials may be secret
 * references (env:, file:, vault:): they are resolved first, and each provider reads the current value per
 * request, so a key rotated in Vault is used without a restart.
 */
import { type OnApplicationShutdown } from '@nestjs/common';
import type { GatewayConfig, ProviderConfig } from '../config/gateway-config.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { SecretHandle, SecretsService } from '../secrets/secrets.service.js';
import type { LlmProvider, ProviderFactory } from './llm-provider.js';
import { secretRedactor } from '../common/redaction.js';

export const PROVIDER_FACTORY_LIST = Symbol('PROVIDER_FACTORY_LIST');

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
      const live = await withLiveCredentials(provider, secrets);
      const retries = metrics?.provider(provider.name)?.retries;
      if (retries) live.onTransportRetry = () => retries.inc();
      providers.set(provider.name, factory.create(live, provider.options ?? {}));
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

/** A copy of the provider config whose `apiKey`/`secretKey` always read the secret's current value. */
async function withLiveCredentials(config: ProviderConfig, secrets: SecretsService): Promise<ProviderConfig> {
  const live = Object.assign(Object.create(Object.getPrototypeOf(config) as object) as ProviderConfig, config);
  const handles: SecretHandle[] = [];
  for (const field of ['apiKey', 'secretKey'] as const) {
    const reference = config[field];
    if (reference === undefined) continue;
    await secrets.resolve(reference);
    const handle = secrets.handle(reference);
    handles.push(handle);
    Object.defineProperty(live, field, { enumerable: true, get: () => handle.value() });
  }
  live.onCredentialRejected = () => {
    for (const handle of handles) handle.onAuthFailure();
  };
  return live;
}
