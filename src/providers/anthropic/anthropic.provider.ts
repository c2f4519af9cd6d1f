/**
 * `anthropic`: the Anthropic Messages API (`POST {baseUrl}/messages`, baseUrl like `https://api.anthropic.com/v1`),
 * translated to and from the gateway's OpenAI format by anthropic.mapper.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IsIn, IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import { credentialHeaders, SSE_ACCEPT, type UpstreamClient } from '../../upstream/upstream-client.js';
import type {
  ChatCompletionProvider,
  NativeAnswer,
  NativeEvent,
  NativeProtocol,
  NativeProvider,
  NativeRequest,
  ProviderCallContext,
  ProviderFactory,
} from '../llm-provider.js';
import { readNativeEvents } from '../../upstream/native-events.js';
import type { Credential, ProviderRuntime } from '../provider-runtime.js';
import {
  type AnthropicRequestDefaults,
  createAnthropicStreamState,
  fromAnthropicResponse,
  readAnthropicChunks,
  anthropicStreamError,
  structuredOutputTool,
  toAnthropicRequest,
  toGatewayErrorFromAnthropic,
} from './anthropic.mapper.js';
import type { AnthropicMessagesResponse } from './anthropic.types.js';

/** The version this adapter was written against (spec §3.1: pin it; 2026-10-21 drops sampling parameters). */
export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
export const DEFAULT_MAX_TOKENS = 4096;

/** `options` of an `anthropic` provider entry. */
export class AnthropicOptions {
  /** The `anthropic-version` header (a date, compared as one); default 2023-06-01. */
  @IsOptional()
  @IsString()
  @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'version must be a date like 2023-06-01' })
  version?: string;
  /** `max_tokens` when the request sets none (Anthropic requires it); default 4096. */
  @IsOptional() @IsInt() @Min(1) defaultMaxTokens?: number;
  /**
   * How `response_format: json_schema` reaches the model: `native` (default) as structured outputs'
   * `output_config.format`, `tool` as a forced tool call, for models or API versions without structured outputs.
   */
  @IsOptional() @IsIn(['native', 'tool']) structuredOutput?: 'native' | 'tool';
}

/** Events of a native Messages stream after which it is complete; an `error` event is a failure. */
const MESSAGES_STREAM_END = new Set(['message_stop']);

export class AnthropicProvider implements ChatCompletionProvider, NativeProvider {
  readonly type = 'anthropic';
  /** Messages requests go upstream as the client sent them (see the Messages front). */
  readonly nativeProtocols: ReadonlySet<NativeProtocol> = new Set(['messages']);
  readonly name: string;
  private readonly client: UpstreamClient;
  private readonly defaults: AnthropicRequestDefaults;

  constructor(
    config: ProviderConfig,
    options: AnthropicOptions,
    runtime: ProviderRuntime,
    apiKey: Credential | undefined,
  ) {
    this.name = config.name;
    this.defaults = {
      version: options.version ?? DEFAULT_ANTHROPIC_VERSION,
      defaultMaxTokens: options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS,
      structuredOutput: options.structuredOutput ?? 'native',
    };
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'anthropic-version': this.defaults.version,
    };
    this.client = runtime.upstream(
      (status: number, body: unknown, responseHeaders: IncomingHttpHeaders) =>
        toGatewayErrorFromAnthropic(this.name, status, body, responseHeaders),
      {
        headers,
        authHeaders: credentialHeaders(
          () => apiKey?.value(),
          (key) => ({ 'x-api-key': key }),
        ),
      },
    );
  }

  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    const body = toAnthropicRequest(request, this.defaults);
    const response = await this.client.json<AnthropicMessagesResponse>({
      path: '/messages',
      body,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return fromAnthropicResponse(
      response.data,
      request.model,
      this.name,
      Date.now(),
      structuredOutputTool(request, this.defaults),
    );
  }

  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const body = { ...toAnthropicRequest(request, this.defaults), stream: true };
    const response = await this.client.send({
      path: '/messages',
      body,
      headers: SSE_ACCEPT,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    const state = createAnthropicStreamState({
      provider: this.name,
      model: request.model,
      includeUsage: request.stream_options?.include_usage === true,
      structuredTool: structuredOutputTool(request, this.defaults),
    });
    return readAnthropicChunks(response.body, state);
  }

  /** A Messages call passed through: the client's body and anthropic-* headers, the upstream's JSON back. */
  async forward(
    _protocol: NativeProtocol,
    request: NativeRequest,
    context: ProviderCallContext,
  ): Promise<NativeAnswer> {
    const response = await this.client.json({
      path: request.operation === 'count_tokens' ? '/messages/count_tokens' : '/messages',
      rawBody: request.body,
      headers: request.headers,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return { text: response.text, data: response.data };
  }

  async forwardStream(
    _protocol: NativeProtocol,
    request: NativeRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<NativeEvent>> {
    const response = await this.client.send({
      path: '/messages',
      rawBody: request.body,
      headers: { ...request.headers, ...SSE_ACCEPT },
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return readNativeEvents(response.body, {
      provider: this.name,
      terminal: MESSAGES_STREAM_END,
      failureOf: (event) => (event.event === 'error' ? anthropicStreamError(this.name, event.data) : undefined),
    });
  }

  close(): void {
    this.client.close();
  }
}

export const anthropicProviderFactory: ProviderFactory<AnthropicOptions> = {
  type: 'anthropic',
  optionsClass: AnthropicOptions,
  async create(config, options, runtime) {
    const apiKey = config.apiKey === undefined ? undefined : await runtime.credential(config.apiKey);
    return new AnthropicProvider(config, options, runtime, apiKey);
  },
};
