/**
 * The programmatic face of the gateway for other NestJS modules: ask a configured public model for text,
 * whole or streamed, through the same routing and providers as the HTTP API.
 */
import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { INTERNAL_KEY } from '../auth/gateway-key.js';
import { Cancellation } from '../common/cancellation.js';
import { ClientClosedError } from '../common/errors/gateway.error.js';
import type { ChatCompletionRequest, ChatMessage } from '../common/openai.types.js';
import { ChatCompletionsService } from '../fronts/chat/chat-completions.service.js';

export interface LlmCompleteOptions {
  model: string;
  temperature?: number;
  maxTokens?: number;
  /** A system prompt put before a plain-text prompt. */
  system?: string;
  signal?: AbortSignal;
  /** Any other OpenAI request fields. */
  extra?: Partial<ChatCompletionRequest>;
}

@Injectable()
export class LlmClient {
  constructor(private readonly completions: ChatCompletionsService) {}

  /** Returns the first choice's text. */
  async complete(prompt: string | ChatMessage[], options: LlmCompleteOptions): Promise<string> {
    const { completion } = await this.completions.complete(this.request(prompt, options, false), {
      key: INTERNAL_KEY,
      context: { cancellation: Cancellation.following(options.signal), requestId: randomUUID() },
    });
    return completion.choices[0]?.message.content ?? '';
  }

  /** Yields the first choice's text deltas as they arrive; breaking out of the loop cancels the upstream call. */
  async *streamComplete(prompt: string | ChatMessage[], options: LlmCompleteOptions): AsyncGenerator<string> {
    const cancellation = Cancellation.following(options.signal);
    try {
      const { chunks } = await this.completions.stream(this.request(prompt, options, true), {
        key: INTERNAL_KEY,
        context: { cancellation, requestId: randomUUID() },
      });
      for await (const chunk of chunks) {
        const text = chunk.choices[0]?.delta.content;
        if (text) yield text;
      }
    } finally {
      cancellation.cancel(new ClientClosedError());
    }
  }

  private request(prompt: string | ChatMessage[], options: LlmCompleteOptions, stream: boolean): ChatCompletionRequest {
    const messages: ChatMessage[] =
      typeof prompt === 'string'
        ? [
            ...(options.system ? [{ role: 'system' as const, content: options.system }] : []),
            { role: 'user', content: prompt },
          ]
        : prompt;
    const request: ChatCompletionRequest = { ...options.extra, model: options.model, messages, stream };
    if (options.temperature !== undefined) request.temperature = options.temperature;
    if (options.maxTokens !== undefined) request.max_tokens = options.maxTokens;
    return request;
  }
}
