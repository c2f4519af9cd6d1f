/** Chooses a deployment for the public model and calls its provider. */
import { Injectable } from '@nestjs/common';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../common/openai.types.js';
import type { ProviderCallContext } from '../providers/llm-provider.js';
import { ModelRouter } from '../routing/model-router.js';

@Injectable()
export class ChatCompletionsService {
  constructor(private readonly router: ModelRouter) {}

  complete(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    const deployment = this.router.pick(request.model);
    return deployment.provider.chat({ ...request, model: deployment.model }, context);
  }

  stream(request: ChatCompletionRequest, context: ProviderCallContext): Promise<AsyncIterable<ChatCompletionChunk>> {
    const deployment = this.router.pick(request.model);
    return deployment.provider.chatStream({ ...request, model: deployment.model }, context);
  }
}
