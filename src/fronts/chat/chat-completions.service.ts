/**
 * The Chat Completions front's request as the shared pipeline sees it (see src/pipeline/exchange.ts): chat is the
 * gateway's internal form, so every deployment is called with the request itself and the upstream's bytes are kept
 * for the client (RAW_JSON) when nothing translated them.
 */
import { Injectable } from '@nestjs/common';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import type { StreamingExchange, GatewayCall, StreamFold, TraceFacts } from '../../pipeline/exchange.js';
import { GatewayPipeline } from '../../pipeline/gateway-pipeline.js';
import { RAW_JSON, type WithRawJson } from '../../providers/llm-provider.js';
import type { AttemptCall, StreamOpener } from '../../routing/router.service.js';
import { chunkHasOutput } from '../../routing/router.service.js';
import { chatFor, REASONING_HEADER } from '../../pipeline/reasoning.js';
import { type TokenUsage, tokenUsage } from '../../usage/pricing.js';
import { completionToChunks, isUsageChunk, StreamAccumulator } from './stream-accumulator.js';

export type { GatewayCall } from '../../pipeline/exchange.js';

export interface CompletionResult {
  completion: ChatCompletion;
  headers: Record<string, string>;
}

export interface StreamResult {
  chunks: AsyncIterable<ChatCompletionChunk>;
  headers: Record<string, string>;
}

@Injectable()
export class ChatCompletionsService {
  constructor(private readonly pipeline: GatewayPipeline) {}

  async complete(request: ChatCompletionRequest, call: GatewayCall): Promise<CompletionResult> {
    const { answer, headers } = await this.pipeline.complete(new ChatExchange(request), call);
    return { completion: answer, headers };
  }

  async stream(request: ChatCompletionRequest, call: GatewayCall): Promise<StreamResult> {
    const { items, headers } = await this.pipeline.stream(new ChatExchange(request), call);
    return { chunks: items, headers };
  }
}

function finishReasons(completion: ChatCompletion): string[] {
  const reasons: string[] = [];
  for (const choice of completion.choices) if (choice.finish_reason) reasons.push(choice.finish_reason);
  return reasons;
}

class ChatExchange implements StreamingExchange<ChatCompletion, ChatCompletionChunk> {
  readonly front = 'chat';
  readonly model: string;
  readonly maxOutputTokens: number | undefined;
  readonly traceInput: unknown;
  readonly cache: { material: Record<string, unknown>; deterministic: boolean };
  private readonly includeUsage: boolean;

  constructor(private readonly request: ChatCompletionRequest) {
    this.model = request.model;
    this.maxOutputTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    this.traceInput = request.messages;
    this.cache = {
      material: request,
      deterministic: request.temperature === 0 || (request.seed !== undefined && request.seed !== null),
    };
    this.includeUsage = request.stream_options?.include_usage === true;
  }

  /** The serving attempt's deployment could not take the reasoning knobs asked for. */
  private reasoningIgnored = false;

  readonly call: AttemptCall<ChatCompletion> = (deployment, context) => {
    const prepared = chatFor(this.request, deployment);
    this.reasoningIgnored = prepared.reasoningIgnored;
    return deployment.provider.chat(prepared.request, context);
  };

  readonly opener: StreamOpener<ChatCompletionChunk> = {
    open: (deployment, context) => {
      // Usage is always asked for upstream (accounting needs it); the usage chunk reaches the client only if it asked.
      const request = this.includeUsage
        ? this.request
        : { ...this.request, stream_options: { ...this.request.stream_options, include_usage: true } };
      const prepared = chatFor(request, deployment);
      this.reasoningIgnored = prepared.reasoningIgnored;
      return deployment.provider.chatStream(prepared.request, context);
    },
    hasOutput: chunkHasOutput,
  };

  addHeaders(headers: Record<string, string>): void {
    if (this.reasoningIgnored) headers[REASONING_HEADER] = 'ignored';
  }

  usageOf(completion: ChatCompletion): TokenUsage | undefined {
    return tokenUsage(completion.usage);
  }

  complete(completion: ChatCompletion): boolean {
    return completion.choices.every((choice) => choice.finish_reason !== null);
  }

  traceOf(completion: ChatCompletion): TraceFacts {
    return {
      responseModel: completion.model,
      finishReasons: finishReasons(completion),
      output: () => completion.choices.map((choice) => choice.message),
    };
  }

  /** The upstream's own bytes when it was not translated: no second serialisation. */
  serialize(completion: WithRawJson<ChatCompletion>): string {
    return completion[RAW_JSON] ?? JSON.stringify(completion);
  }

  parse(text: string): ChatCompletion {
    const completion = JSON.parse(text) as WithRawJson<ChatCompletion>;
    completion[RAW_JSON] = text;
    return completion;
  }

  fold(): StreamFold<ChatCompletion, ChatCompletionChunk> {
    return new ChatFold(this.includeUsage);
  }

  replay(completion: ChatCompletion): ChatCompletionChunk[] {
    return completionToChunks(completion, this.includeUsage);
  }
}

/** Folds chat chunks into the completion they make; hides the usage chunk from a client that did not ask for it. */
class ChatFold implements StreamFold<ChatCompletion, ChatCompletionChunk> {
  private readonly accumulator = new StreamAccumulator();

  constructor(private readonly includeUsage: boolean) {}

  add(chunk: ChatCompletionChunk): boolean {
    this.accumulator.add(chunk);
    return this.includeUsage || !isUsageChunk(chunk);
  }

  usage(): TokenUsage | undefined {
    return tokenUsage(this.accumulator.usage);
  }

  get outputChars(): number {
    return this.accumulator.outputChars;
  }

  answer(): ChatCompletion | undefined {
    return this.accumulator.complete ? this.accumulator.toCompletion() : undefined;
  }

  trace(): TraceFacts {
    const accumulator = this.accumulator;
    return {
      responseModel: accumulator.responseModel || undefined,
      finishReasons: accumulator.finishReasons(),
      output: () => accumulator.toCompletion().choices.map((choice) => choice.message),
    };
  }
}
