/** A provider built the way the gateway builds it (validated entry, real runtime), for tests that drive one directly. */
import { validateGatewayConfig } from '../../src/config/config-loader.js';
import type { LlmProvider } from '../../src/providers/llm-provider.js';
import { PROVIDER_FACTORIES } from '../../src/providers/provider-factories.js';
import { ProviderRegistry } from '../../src/providers/provider-registry.js';
import { SecretsService } from '../../src/secrets/secrets.service.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Builds the provider of one config entry (`{ name, type, baseUrl, apiKey, options, retry, … }`). */
export async function buildProvider(entry: Record<string, unknown>): Promise<LlmProvider> {
  const name = String(entry.name);
  const config = validateGatewayConfig({
    providers: [entry],
    models: [{ name: 'm', deployments: [{ provider: name, model: 'm' }] }],
  });
  const registry = await ProviderRegistry.create(config, PROVIDER_FACTORIES, new SecretsService(config.secrets, quiet));
  return registry.get(name);
}
