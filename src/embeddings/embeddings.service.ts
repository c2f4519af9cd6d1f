import { Injectable } from '@nestjs/common';
import { InvalidRequestError } from '../common/errors/gateway.error.js';
import type { EmbeddingRequest, EmbeddingResponse } from '../common/openai.types.js';
import { supportsEmbeddings, type ProviderCallContext } from '../providers/llm-provider.js';
import { ModelRouter } from '../routing/model-router.js';

@Injectable()
export class EmbeddingsService {
  constructor(private readonly router: ModelRouter) {}

  embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse> {
    const deployment = this.router.pick(request.model);
    if (!supportsEmbeddings(deployment.provider)) {
      throw new InvalidRequestError(
        `The model '${request.model}' does not support embeddings.`,
        'model',
        'model_not_supported',
      );
    }
    return deployment.provider.embed({ ...request, model: deployment.model }, context);
  }
}
