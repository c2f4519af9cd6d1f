/**
 * Routing as the gateway builds it (validated config, the real ProviderRegistry, ModelRouter and RouterService), over
 * ScriptedProviders instead of real ones, with a clock the test moves and a fixed random source.
 */
import { Cancellation } from '../../src/common/cancellation.js';
import { validateGatewayConfig } from '../../src/config/config-loader.js';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import { GatewayMetrics } from '../../src/metrics/gateway-metrics.js';
import type { ProviderFactory } from '../../src/providers/llm-provider.js';
import { ProviderRegistry } from '../../src/providers/provider-registry.js';
import { type Deployment, ModelRouter } from '../../src/routing/model-router.js';
import { type RouteRequestContext, RouterService } from '../../src/routing/router.service.js';
import { SecretsService } from '../../src/secrets/secrets.service.js';
import { ScriptedProvider } from './scripted-provider.js';

export interface ScriptedRouting {
  config: GatewayConfig;
  metrics: GatewayMetrics;
  models: ModelRouter;
  router: RouterService;
  /** The routing clock (breakers, hold-back start): ms, moved by the test. */
  clock: { now: number };
  providers: Map<string, ScriptedProvider>;
  /** Every upstream call of every provider, in order, as `<provider>/<upstream model>`. */
  journal: string[];
  provider(name: string): ScriptedProvider;
  /** The deployment `<provider>/<model>`. */
  deployment(id: string): Deployment;
}

export interface ScriptedRoutingOptions {
  /** The routing random source: 0 makes weighted choice take the first candidate in config order. */
  random?: () => number;
}

/**
 * `document` is a gateway config without `providers`: one `scripted` provider is declared for every provider name
 * its deployments use.
 */
export async function scriptedRouting(
  document: {
    models: Array<{ deployments: Array<{ provider: string; [field: string]: unknown }>; [field: string]: unknown }>;
    [section: string]: unknown;
  },
  options: ScriptedRoutingOptions = {},
): Promise<ScriptedRouting> {
  const names = [...new Set(document.models.flatMap((model) => model.deployments.map((d) => d.provider)))];
  const journal: string[] = [];
  const providers = new Map(names.map((name) => [name, new ScriptedProvider(name, journal)]));
  const factory: ProviderFactory = {
    type: 'scripted',
    create: (provider) => providers.get(provider.name)!,
  };
  const config = validateGatewayConfig(
    { ...document, providers: names.map((name) => ({ name, type: 'scripted', baseUrl: 'http://127.0.0.1:9' })) },
    'spec',
    [factory],
  );
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const registry = await ProviderRegistry.create(config, [factory], new SecretsService(config.secrets, quiet));
  const clock = { now: 1_000_000 };
  const now = () => clock.now;
  const models = new ModelRouter(config, registry, options.random ?? (() => 0), now);
  const metrics = new GatewayMetrics(config);
  const router = new RouterService(models, now, metrics);
  return {
    config,
    metrics,
    models,
    router,
    clock,
    providers,
    journal,
    provider: (name) => {
      const provider = providers.get(name);
      if (!provider) throw new Error(`no provider '${name}' in this routing`);
      return provider;
    },
    deployment: (id) => {
      const deployment = models.deployments().find((d) => d.id === id);
      if (!deployment) throw new Error(`no deployment '${id}' in this routing`);
      return deployment;
    },
  };
}

let requests = 0;

/** A fresh request context: its own cancellation, optionally a shorter deadline (x-gateway-timeout-ms). */
export function callContext(timeoutMs?: number): RouteRequestContext {
  return { cancellation: new Cancellation(), requestId: `req-${++requests}`, timeoutMs };
}
