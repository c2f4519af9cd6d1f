/**
 * The routing table: public model -> group of deployments, each with live stats and a circuit breaker.
 * Built once at start-up; choosing a deployment costs a Map lookup and a pass over the group.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ModelNotFoundError } from '../common/errors/gateway.error.js';
import type { ModelObject } from '../common/openai.types.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig, ModelConfig } from '../config/gateway-config.js';
import type { LlmProvider } from '../providers/llm-provider.js';
import { ProviderRegistry } from '../providers/provider-registry.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { CLOCK, RANDOM_SOURCE } from './routing.tokens.js';
import { selectDeployment, type SelectionState } from './selection.js';

export interface DeploymentStats {
  inFlight: number;
  /** EWMA of latency (non-streaming) or time to first token (streaming), ms. */
  latencyEwmaMs: number | undefined;
  requests: number;
  failures: number;
}

export interface Deployment {
  /** `<provider>/<upstream model>`: stable, from config. */
  readonly id: string;
  readonly provider: LlmProvider;
  readonly model: string;
  readonly weight: number;
  readonly stats: DeploymentStats;
  readonly breaker: CircuitBreaker;
}

export interface ModelGroup {
  readonly name: string;
  readonly config: ModelConfig;
  readonly deployments: readonly Deployment[];
  readonly selection: SelectionState;
}

@Injectable()
export class ModelRouter {
  private readonly groups = new Map<string, ModelGroup>();
  /** Each deployment once, though several groups may use it. */
  private readonly uniqueDeployments: readonly Deployment[];
  readonly modelObjects: readonly ModelObject[];

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    registry: ProviderRegistry,
    @Inject(RANDOM_SOURCE) private readonly random: () => number,
    @Inject(CLOCK) clock: () => number,
  ) {
    const created = Math.floor(Date.now() / 1000);
    const objects: ModelObject[] = [];
    // One breaker per deployment id, shared by every group that uses the same provider + model.
    const deployments = new Map<string, Deployment>();
    for (const model of config.models) {
      const members: Deployment[] = [];
      for (const d of model.deployments) {
        if (d.weight <= 0) continue;
        const id = `${d.provider}/${d.model}`;
        let deployment = deployments.get(id);
        if (!deployment) {
          deployment = {
            id,
            provider: registry.get(d.provider),
            model: d.model,
            weight: d.weight,
            stats: { inFlight: 0, latencyEwmaMs: undefined, requests: 0, failures: 0 },
            breaker: new CircuitBreaker(config.routing.breaker, clock),
          };
          deployments.set(id, deployment);
        }
        members.push(deployment.weight === d.weight ? deployment : { ...deployment, weight: d.weight });
      }
      this.groups.set(model.name, { name: model.name, config: model, deployments: members, selection: { cursor: 0 } });
      objects.push({ id: model.name, object: 'model', created, owned_by: model.ownedBy ?? 'llm-gateway' });
    }
    this.modelObjects = objects;
    this.uniqueDeployments = [...deployments.values()];
  }

  group(model: string): ModelGroup {
    const group = this.groups.get(model);
    if (!group) throw new ModelNotFoundError(model);
    return group;
  }

  allGroups(): IterableIterator<ModelGroup> {
    return this.groups.values();
  }

  deployments(): readonly Deployment[] {
    return this.uniqueDeployments;
  }

  /**
   * The next deployment of `group` for this request, skipping those already tried. Breakers that are open
   * are skipped; if every untried deployment is open, the least recently failed is tried anyway.
   * Returns undefined when every deployment was tried. The returned deployment holds a breaker admission.
   */
  choose(group: ModelGroup, tried: ReadonlySet<Deployment>, pinned?: string): Deployment | undefined {
    // A session's pinned deployment comes first while its breaker admits traffic (see session-affinity.ts).
    if (pinned !== undefined && tried.size === 0) {
      const deployment = group.deployments.find((d) => d.id === pinned);
      if (deployment && deployment.breaker.available() && deployment.breaker.tryAcquire()) return deployment;
    }
    const untried = tried.size === 0 ? group.deployments : group.deployments.filter((d) => !tried.has(d));
    if (untried.length === 0) return undefined;
    let available = untried.filter((d) => d.breaker.available());
    while (available.length > 0) {
      const chosen = selectDeployment(group.config.strategy, available, group.selection, this.random);
      if (chosen.breaker.tryAcquire()) return chosen;
      available = available.filter((d) => d !== chosen);
    }
    let leastRecentlyFailed = untried[0];
    for (const d of untried)
      if (d.breaker.lastFailureAt < leastRecentlyFailed.breaker.lastFailureAt) leastRecentlyFailed = d;
    leastRecentlyFailed.breaker.forceAcquire();
    return leastRecentlyFailed;
  }

  /** For GET /admin/routing. */
  snapshot() {
    return [...this.groups.values()].map((group) => ({
      model: group.name,
      strategy: group.config.strategy,
      fallbacks: group.config.fallbacks,
      timeoutMs: group.config.timeoutMs,
      maxAttempts: group.config.maxAttempts,
      deployments: group.deployments.map((d) => ({
        id: d.id,
        provider: d.provider.name,
        providerType: d.provider.type,
        model: d.model,
        weight: d.weight,
        inFlight: d.stats.inFlight,
        latencyEwmaMs: d.stats.latencyEwmaMs === undefined ? null : Math.round(d.stats.latencyEwmaMs * 10) / 10,
        requests: d.stats.requests,
        failures: d.stats.failures,
        breaker: d.breaker.snapshot(),
      })),
    }));
  }
}
