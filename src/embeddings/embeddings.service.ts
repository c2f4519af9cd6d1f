/**
 * Embeddings through the shared pipeline: the key's model allow-list, budget and rate limits, the response cache
 * (an embedding is the same every time, so it is cached whenever the cache is on), routing and metering, as for
 * the fronts.
 */
import { Injectable } from '@nestjs/common';
import type { EmbeddingRequest, EmbeddingResponse } from '../common/openai.types.js';
import type { FrontExchange, GatewayCall, PipelineAnswer, TraceFacts } from '../pipeline/exchange.js';
import { GatewayPipeline } from '../pipeline/gateway-pipeline.js';
import { type AttemptCall, embeddingCall } from '../routing/router.service.js';
import { type TokenUsage, tokenUsage } from '../usage/pricing.js';

@Injectable()
export class EmbeddingsService {
  constructor(private readonly pipeline: GatewayPipeline) {}

  embed(request: EmbeddingRequest, call: GatewayCall): Promise<PipelineAnswer<EmbeddingResponse>> {
    return this.pipeline.complete(new EmbeddingsExchange(request), call);
  }
}

class EmbeddingsExchange implements FrontExchange<EmbeddingResponse> {
  readonly front = 'embeddings';
  readonly model: string;
  /** Nothing is generated: only the input's tokens are reserved. */
  readonly maxOutputTokens = 0;
  readonly traceInput: unknown;
  readonly cache: { material: Record<string, unknown>; deterministic: boolean };
  readonly call: AttemptCall<EmbeddingResponse>;

  constructor(request: EmbeddingRequest) {
    this.model = request.model;
    this.traceInput = request.input;
    this.cache = { material: request, deterministic: true };
    this.call = embeddingCall(request);
  }

  usageOf(answer: EmbeddingResponse): TokenUsage | undefined {
    return tokenUsage(answer.usage);
  }

  complete(): boolean {
    return true;
  }

  traceOf(answer: EmbeddingResponse): TraceFacts {
    return { responseModel: answer.model, finishReasons: [], output: () => undefined };
  }

  serialize(answer: EmbeddingResponse): string {
    return JSON.stringify(answer);
  }

  parse(text: string): EmbeddingResponse {
    return JSON.parse(text) as EmbeddingResponse;
  }
}
