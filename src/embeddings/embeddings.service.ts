import { Injectable } from '@nestjs/common';
import type { EmbeddingRequest, EmbeddingResponse } from '../common/openai.types.js';
import { type RouteInfo, type RouteRequestContext, RouterService } from '../routing/router.service.js';

@Injectable()
export class EmbeddingsService {
  constructor(private readonly router: RouterService) {}

  embed(request: EmbeddingRequest, context: RouteRequestContext): Promise<{ response: EmbeddingResponse; route: RouteInfo }> {
    return this.router.embed(request, context);
  }
}
