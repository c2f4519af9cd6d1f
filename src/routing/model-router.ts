/**
 * Resolves a public model name to a deployment (provider + upstream model). The table is built once at
 * start-up; a request costs one Map lookup and one weighted draw.
 */
import { Inject, Injectable } from '@nestjs/common';
import { ModelNotFoundError } from '../common/errors/gateway.error.js';
import type { ModelObject } from '../common/openai.types.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { LlmProvider } from '../providers/llm-provider.js';
import { ProviderRegistry } from '../providers/provider-registry.js';
import { pickWeighted } from './weighted-choice.js';

export interface Deployment {
  /** `<provider>/<upstream model>`: stable, from config. */
  readonly id: string;
  readonly provider: LlmProvider;
  readonly model: string;
  readonly weight: number;
}

export interface ModelRoute {
  readonly name: string;
  readonly deployments: readonly Deployment[];
}

export const RANDOM_SOURCE = Symbol('RANDOM_SOURCE');

@Injectable()
export class ModelRouter {
  private readonly routes = new Map<string, ModelRoute>();
  readonly modelObjects: readonly ModelObject[];

  constructor(
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    registry: ProviderRegistry,
    @Inject(RANDOM_SOURCE) private readonly random: () => number,
  ) {
    const created = Math.floor(Date.now() / 1000);
    const objects: ModelObject[] = [];
    for (const model of config.models) {
      const deployments = model.deployments
        .filter((d) => d.weight > 0)
        .map((d) => ({ id: `${d.provider}/${d.model}`, provider: registry.get(d.provider), model: d.model, weight: d.weight }));
      this.routes.set(model.name, { name: model.name, deployments });
      objects.push({ id: model.name, object: 'model', created, owned_by: model.ownedBy ?? 'llm-gateway' });
    }
    this.modelObjects = objects;
  }

  route(model: string): ModelRoute {
    const route = this.routes.get(model);
    if (!route) throw new ModelNotFoundError(model);
    return route;
  }

  pick(model: string): Deployment {
    return pickWeighted(this.route(model).deployments, this.random);
  }

  has(model: string): boolean {
    return this.routes.has(model);
  }
}
