/**
 * `openai`: OpenAI itself and any OpenAI-compatible server (vLLM, DeepSeek, Azure-style URLs, Qianfan v2),
 * chosen by base URL and headers. The client's body is forwarded as is, unknown fields included.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import { credentialHeaders, SSE_ACCEPT, type UpstreamClient } from '../../upstream/upstream-client.js';
import { IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString } from 'class-validator';
import { readNativeEvents } from '../../upstream/native-events.js';
import { upstreamErrors } from '../provider-errors.js';
import {
  type ChatCompletionProvider,
  type EmbeddingProvider,
  type NativeAnswer,
  type NativeEvent,
  type NativeProtocol,
  type NativeProvider,
  type NativeRequest,
  type ProviderCallContext,
  type ProviderFactory,
  RAW_JSON,
  type WithRawJson,
} from '../llm-provider.js';
import type { Credential, ProviderRuntime } from '../provider-runtime.js';
import {
  encodeEmbeddingsBase64,
  REASONING_MODEL,
  readOpenAiChunks,
  reasoningAsContent,
  toGatewayErrorFromOpenAi,
  toOpenAiRequest,
} from './openai.mapper.js';
import {
  OPENAI_VENDORS,
  type OpenAiVendor,
  REASONING_PARAMS,
  type ReasoningModels,
  type ReasoningParam,
  reasoningModelsOf,
  resolveAdaptations,
  STREAM_ENDS,
  type StreamAdaptations,
  streamAdaptationsOf,
  type StreamEnd,
  toVendorRequest,
  USAGE_FIELDS,
  type UsageFields,
  usageWithVendorFields,
  type VendorAdaptations,
} from './openai.vendors.js';

/** `options` of an `openai` provider entry. */
export class OpenAiOptions {
  /**
   * How Responses API requests reach this upstream: `native` forwards them to its own `/responses` (OpenAI, Azure's v1
   * API, vLLM and others serve it); `translate` turns them into chat completions (any OpenAI-compatible server).
   */
  @IsIn(['native', 'translate']) responses: 'native' | 'translate' = 'translate';
  /**
   * Which models take reasoning knobs (`reasoning_effort`, mapped from `thinking`): `auto` those named like
   * reasoning models (o1, o3, o4-mini, gpt-5…, gpt-oss, DeepSeek-R1, QwQ, *-reasoner, *-thinking), `all`, or `none`.
   * The others are called without them and the answer carries `x-gateway-reasoning: ignored`. Unset: `auto`, or
   * what the `vendor` preset says (DeepSeek, Qwen, OpenRouter: all; Mistral: none; xAI: grok-3-mini).
   */
  @IsOptional() @IsIn(['auto', 'all', 'none']) reasoning?: 'auto' | 'all' | 'none';
  /**
   * A preset of the adaptations below for an OpenAI-compatible vendor (docs/vendors.md); unset: OpenAI's own API.
   * Each option below, when set, replaces the preset's value.
   */
  @IsOptional() @IsIn(OPENAI_VENDORS) vendor?: OpenAiVendor;
  /** Request fields left out before sending (the vendor refuses them), e.g. `[logprobs, logit_bias]`. */
  @IsOptional() @IsArray() @IsString({ each: true }) dropParams?: string[];
  /** Fields left out of every message, e.g. `[name]` (Groq) or `[reasoning_content]`. */
  @IsOptional() @IsArray() @IsString({ each: true }) dropMessageFields?: string[];
  /** Request fields sent under another name, e.g. `{ seed: random_seed }` (Mistral). */
  @IsOptional() @IsObject() renameParams?: Record<string, string>;
  /** `n > 1` is answered with a 400 naming `n` instead of being sent. */
  @IsOptional() @IsBoolean() singleChoice?: boolean;
  /**
   * Where `reasoning_effort` (and `thinking`) go: `reasoning_effort`; `thinking` (DeepSeek's `{type}` switch, the
   * effort kept); `enable_thinking` (DashScope, budget as `thinking_budget`); `reasoning` (OpenRouter's object).
   */
  @IsOptional() @IsIn(REASONING_PARAMS) reasoningParam?: ReasoningParam;
  /** Vendor usage fields read into OpenAI's: `deepseek` (prompt_cache_hit_tokens), `groq` (x_groq.usage). */
  @IsOptional() @IsIn(USAGE_FIELDS) usageFields?: UsageFields;
  /** `finish`: a stream that ends cleanly without `[DONE]` after every choice finished is complete. */
  @IsOptional() @IsIn(STREAM_ENDS) streamEnd?: StreamEnd;
}

/** How an OpenAI-compatible provider differs from OpenAI's own. */
export interface OpenAiCompatibleSettings {
  /** The provider type it serves as (`openai`, `ernie` for Qianfan v2). */
  type?: string;
  /** Sent with every request (Qianfan's `appid`). */
  headers?: Record<string, string>;
  /** Responses requests go to the upstream's own `/responses`. */
  nativeResponses?: boolean;
  reasoning?: OpenAiOptions['reasoning'];
  /** The vendor's adaptations (resolveAdaptations); undefined keeps the plain passthrough path. */
  adaptations?: VendorAdaptations;
  /** The preset that decides which models take reasoning knobs when `reasoning` is unset. */
  vendor?: OpenAiVendor;
}

/** Events of a native Responses stream after which it is complete; an `error` event is a failure. */
const RESPONSES_STREAM_END = new Set(['response.completed', 'response.incomplete', 'response.failed']);

export class OpenAiCompatibleProvider implements ChatCompletionProvider, EmbeddingProvider, NativeProvider {
  readonly name: string;
  readonly nativeProtocols: ReadonlySet<NativeProtocol>;
  protected readonly client: UpstreamClient;

  readonly type: string;
  private readonly reasoningModels: ReasoningModels;
  private readonly adaptations: VendorAdaptations | undefined;
  private readonly streamAdaptations: StreamAdaptations | undefined;

  constructor(
    config: ProviderConfig,
    runtime: ProviderRuntime,
    apiKey: Credential | undefined,
    settings: OpenAiCompatibleSettings = {},
  ) {
    this.name = config.name;
    this.type = settings.type ?? 'openai';
    this.reasoningModels = reasoningModelsOf(settings.reasoning, settings.vendor, REASONING_MODEL);
    this.adaptations = settings.adaptations;
    this.streamAdaptations = streamAdaptationsOf(settings.adaptations);
    this.nativeProtocols = new Set(settings.nativeResponses ? ['responses'] : []);
    this.client = runtime.upstream(
      (status: number, body: unknown, responseHeaders: IncomingHttpHeaders) =>
        toGatewayErrorFromOpenAi(this.name, status, body, responseHeaders),
      {
        headers: settings.headers ?? {},
        authHeaders: credentialHeaders(
          () => apiKey?.value(),
          (key) => ({ authorization: `Bearer ${key}` }),
        ),
      },
    );
  }

  takesReasoning(model: string): boolean {
    const models = this.reasoningModels;
    return typeof models === 'string' ? models === 'all' : models.test(model);
  }

  /** The upstream body: the plain OpenAI-compatible one, or the vendor's when it has adaptations. */
  private bodyFor(request: ChatCompletionRequest): ChatCompletionRequest {
    const body = toOpenAiRequest(request);
    const adaptations = this.adaptations;
    return adaptations ? toVendorRequest(request, body, adaptations, this.name) : body;
  }

  /** The completion as the upstream sent it, its bytes kept under RAW_JSON so the gateway need not re-serialise it. */
  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<WithRawJson<ChatCompletion>> {
    const response = await this.client.json<WithRawJson<ChatCompletion>>({
      path: '/chat/completions',
      body: this.bodyFor(request),
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    const completion = response.data;
    let renamed = false;
    for (const choice of completion.choices ?? []) renamed = reasoningAsContent(choice.message) || renamed;
    const adaptations = this.adaptations;
    if (adaptations) renamed = usageWithVendorFields(completion.usage, adaptations.usageFields) || renamed;
    if (!renamed) completion[RAW_JSON] = response.text;
    return completion;
  }

  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const response = await this.client.send({
      path: '/chat/completions',
      body: this.bodyFor(request.stream === true ? request : { ...request, stream: true }),
      headers: SSE_ACCEPT,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return readOpenAiChunks(response.body, this.name, this.streamAdaptations);
  }

  /** Always asks the upstream for floats (not every compatible server does base64) and encodes here if asked. */
  async embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse> {
    const wantsBase64 = request.encoding_format === 'base64';
    const response = await this.client.json<EmbeddingResponse>({
      path: '/embeddings',
      body: request.encoding_format === 'float' ? request : { ...request, encoding_format: 'float' },
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return wantsBase64 ? encodeEmbeddingsBase64(response.data) : response.data;
  }

  /** A Responses call passed through to the upstream's own `/responses`. */
  async forward(
    _protocol: NativeProtocol,
    request: NativeRequest,
    context: ProviderCallContext,
  ): Promise<NativeAnswer> {
    const response = await this.client.json({
      path: '/responses',
      rawBody: request.body,
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
      path: '/responses',
      rawBody: request.body,
      headers: SSE_ACCEPT,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return readNativeEvents(response.body, {
      provider: this.name,
      terminal: RESPONSES_STREAM_END,
      failureOf: (event) => (event.event === 'error' ? responsesStreamError(this.name, event.data) : undefined),
    });
  }

  close(): void {
    this.client.close();
  }
}

function responsesStreamError(provider: string, data: string) {
  try {
    const parsed = JSON.parse(data) as { message?: string; error?: { message?: string } };
    return upstreamErrors.streamInterrupted(provider, parsed.message ?? parsed.error?.message);
  } catch {
    return upstreamErrors.streamInterrupted(provider);
  }
}

export const openAiProviderFactory: ProviderFactory<OpenAiOptions> = {
  type: 'openai',
  optionsClass: OpenAiOptions,
  async create(config, options, runtime) {
    const apiKey = config.apiKey === undefined ? undefined : await runtime.credential(config.apiKey);
    return new OpenAiCompatibleProvider(config, runtime, apiKey, {
      nativeResponses: options.responses === 'native',
      reasoning: options.reasoning,
      vendor: options.vendor,
      adaptations: resolveAdaptations(options),
    });
  },
};
