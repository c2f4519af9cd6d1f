import { Injectable } from '@nestjs/common';
import type { EmbeddingRequest, EmbeddingResponse } from '../common/openai.types.js';
import { type RouteInfo, type RouteRequestContext, RouterService } from '../routing/router.service.js';
import { tokenUsage } from '../usage/pricing.js';
import { UsageService } from '../usage/usage.service.js';

export interface EmbeddingResult {
  response: EmbeddingResponse;
  route: RouteInfo;
  /** USD; undefined when the model has no pricing. */
  costUsd: number | undefined;
}

@Injectable()
export class EmbeddingsService {
  constructor(
    private readonly router: RouterService,
    private readonly usage: UsageService,
  ) {}

  /** Routes the request, then meters its prompt tokens and cost for `keyId`. */
  async embed(request: EmbeddingRequest, context: RouteRequestContext, keyId: string): Promise<EmbeddingResult> {
    const telemetry = context.telemetry;
    telemetry?.requested(request.model, false);
    const { response, route } = await this.router.embed(request, context);
    const usage = tokenUsage(response.usage);
    const costUsd = this.usage.record(keyId, route.model, route.provider, usage);
    if (telemetry) {
      telemetry.route = route;
      telemetry.accounted(usage, costUsd);
      telemetry.trace?.completed({ inputTokens: usage?.prompt, responseModel: response.model });
    }
    return { response, route, costUsd };
  }
}
