/**
 * `ernie`: Baidu ERNIE / Qianfan. `mode: v1` speaks the native "wenxinworkshop" API (OAuth access token, own
 * request schema, errors as HTTP 200 bodies); `mode: v2` is Qianfan's OpenAI-compatible API and reuses the
 * OpenAI strategy with the `appid` header.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Min, ValidateBy, type ValidationOptions } from 'class-validator';
import type { Cancellation } from '../../common/cancellation.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import { readSseEvents, type SseEvent } from '../../upstream/sse-parser.js';
import { readBody, type UpstreamClient, type UpstreamResponse } from '../../upstream/upstream-client.js';
import type { ChatCompletionProvider, LlmProvider, ProviderCallContext, ProviderFactory } from '../llm-provider.js';
import { OpenAiCompatibleProvider } from '../openai/openai.provider.js';
import type { Credential, ProviderRuntime } from '../provider-runtime.js';
import { upstreamErrors } from '../provider-errors.js';
import { createErnieTokenFetcher, ErnieTokenManager, toGatewayErrorFromTokenEndpoint } from './ernie-token.js';
import {
  createErnieStreamState,
  ERNIE_CHAT_PATH,
  ERNIE_ENDPOINT_PATTERN,
  ERNIE_TOKEN_ERROR_CODES,
  fromErnieResponse,
  isErnieError,
  parseErnieStreamData,
  readErnieChunks,
  resolveErnieModel,
  toErnieRequest,
  toGatewayErrorFromErnie,
  toGatewayErrorFromErnieHttp,
} from './ernie.mapper.js';
import type { ErnieChatRequest, ErnieChatResponse, ErnieErrorBody } from './ernie.types.js';

function IsEndpointMap(validationOptions?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isEndpointMap',
      validator: {
        validate: (value: unknown) =>
          value !== null &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.values(value).every(
            (endpoint) => typeof endpoint === 'string' && ERNIE_ENDPOINT_PATTERN.test(endpoint),
          ),
        defaultMessage: () => '$property must map model names to endpoint names (letters, digits, _ . -)',
      },
    },
    validationOptions,
  );
}

/** `providers[].options` of an `ernie` provider. */
export class ErnieOptions {
  @IsOptional() @IsIn(['v1', 'v2']) mode: 'v1' | 'v2' = 'v1';

  /** v1 only: the application's Secret Key (with `apiKey` as its API Key), a secret reference like any credential. */
  @IsOptional() @IsString() secretKey?: string;

  /** v2 only: the Qianfan application id, sent as the `appid` header. */
  @IsOptional() @IsString() appId?: string;

  /** v1 only. Default `<baseUrl>/oauth/2.0/token`. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  tokenUrl?: string;

  /** v1 only. Model name → chat endpoint (the last path segment), for custom deployments or to override the table. */
  @IsOptional() @IsEndpointMap() endpoints?: Record<string, string>;

  /**
   * v1 only. Refresh the access token this many seconds before it expires; default 86 400 (one day of the
   * 30-day lifetime), capped at half the token's lifetime.
   */
  @IsOptional() @IsInt() @Min(0) tokenRefreshMarginSeconds?: number;
}

type OpenedErnieCall<T> = { ok: true; value: T } | { ok: false; error: ErnieErrorBody };

export class ErnieProvider implements ChatCompletionProvider {
  readonly type = 'ernie';
  readonly name: string;
  private readonly client: UpstreamClient;
  private readonly tokenClient: UpstreamClient;
  private readonly tokens: ErnieTokenManager;
  private readonly endpoints: Readonly<Record<string, string>>;

  constructor(
    config: ProviderConfig,
    options: ErnieOptions,
    runtime: ProviderRuntime,
    credentials: { apiKey: Credential; secretKey: Credential },
  ) {
    this.name = config.name;
    this.endpoints = options.endpoints ?? {};
    this.client = runtime.upstream((status: number, body: unknown, headers: IncomingHttpHeaders) =>
      toGatewayErrorFromErnieHttp(this.name, status, body, headers),
    );
    // The token endpoint gets its own client: its error format differs, and chat headers are not for it.
    this.tokenClient = runtime.upstream(
      (status: number, body: unknown) => toGatewayErrorFromTokenEndpoint(this.name, status, body),
      { withoutConfiguredHeaders: true },
    );
    this.tokens = new ErnieTokenManager({
      fetchToken: createErnieTokenFetcher(this.tokenClient, {
        provider: this.name,
        tokenUrl: options.tokenUrl ?? `${config.baseUrl.replace(/\/+$/, '')}/oauth/2.0/token`,
        // Read at each fetch, so a rotated key is picked up.
        get apiKey() {
          return credentials.apiKey.value();
        },
        get secretKey() {
          return credentials.secretKey.value();
        },
      }),
      refreshMarginSeconds: options.tokenRefreshMarginSeconds,
    });
  }

  /** ERNIE's v1 chat API has no reasoning knobs. */
  takesReasoning(): boolean {
    return false;
  }

  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    const { endpoint, body } = this.translate(request);
    const response = await this.call(endpoint, { ...body, stream: false }, context, (upstream) =>
      this.openJson(upstream, context),
    );
    return fromErnieResponse(response, request.model);
  }

  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const { endpoint, body } = this.translate(request);
    const events = await this.call(endpoint, { ...body, stream: true }, context, (upstream) =>
      this.openStream(upstream, context),
    );
    return readErnieChunks(events, createErnieStreamState(request), this.name);
  }

  close(): void {
    this.client.close();
    this.tokenClient.close();
  }

  /** Validation and the endpoint lookup happen before any token or upstream call. */
  private translate(request: ChatCompletionRequest): { endpoint: string; body: ErnieChatRequest } {
    const model = resolveErnieModel(this.name, request.model, this.endpoints);
    return { endpoint: model.endpoint, body: toErnieRequest(request, model) };
  }

  /**
   * Sends with the current token. If Baidu rejects the token (100/110/111), drops it and replays once with a
   * fresh one; other errors, and a second token error, are mapped and thrown. Other retries belong to the
   * transport and routing layers.
   */
  private async call<T>(
    endpoint: string,
    body: ErnieChatRequest,
    context: ProviderCallContext,
    open: (upstream: UpstreamResponse) => Promise<OpenedErnieCall<T>>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.getToken(context.cancellation.signal);
      const upstream = await this.client.send({
        path: `${ERNIE_CHAT_PATH}/${endpoint}?access_token=${encodeURIComponent(token)}`,
        body,
        headers: body.stream ? { accept: 'text/event-stream' } : undefined,
        cancellation: context.cancellation,
        deadlineAt: context.deadlineAt,
        budget: context.budget,
      });
      const opened = await open(upstream);
      if (opened.ok) return opened.value;
      if (attempt === 1 && ERNIE_TOKEN_ERROR_CODES.has(opened.error.error_code)) {
        this.tokens.invalidate(token);
        continue;
      }
      throw toGatewayErrorFromErnie(this.name, opened.error);
    }
  }

  private async openJson(
    upstream: UpstreamResponse,
    context: ProviderCallContext,
  ): Promise<OpenedErnieCall<ErnieChatResponse>> {
    const body = await this.readJson(upstream, context.cancellation);
    if (isErnieError(body)) return { ok: false, error: body };
    if (body === null || typeof body !== 'object' || typeof (body as ErnieChatResponse).result !== 'string') {
      throw upstreamErrors.invalidResponse(this.name, 'the answer has no result');
    }
    return { ok: true, value: body as ErnieChatResponse };
  }

  /**
   * Reads up to the first event, so that an error (a JSON body instead of SSE, or an error as the only SSE
   * payload) becomes an HTTP error before the stream is handed over.
   */
  private async openStream(
    upstream: UpstreamResponse,
    context: ProviderCallContext,
  ): Promise<OpenedErnieCall<AsyncIterable<SseEvent>>> {
    if (String(upstream.headers['content-type'] ?? '').includes('application/json')) {
      const body = await this.readJson(upstream, context.cancellation);
      if (isErnieError(body)) return { ok: false, error: body };
      throw upstreamErrors.invalidResponse(this.name, 'a JSON answer came back for a stream request');
    }
    const events = readSseEvents(upstream.body);
    let first: SseEvent;
    let payload: ReturnType<typeof parseErnieStreamData>;
    try {
      const next = await events.next();
      if (next.done) throw upstreamErrors.streamInterrupted(this.name, 'the stream closed without any event');
      first = next.value;
      payload = parseErnieStreamData(first.data, this.name);
    } catch (error) {
      upstream.body.destroy();
      if ((error as { status?: unknown }).status !== undefined) throw error;
      throw upstreamErrors.streamInterrupted(this.name, 'the connection was lost before the first event');
    }
    if (isErnieError(payload)) {
      upstream.body.destroy();
      return { ok: false, error: payload };
    }
    return { ok: true, value: prepend(first, events) };
  }

  private async readJson(upstream: UpstreamResponse, cancellation: Cancellation): Promise<unknown> {
    let text: string;
    try {
      text = await readBody(upstream.body, MAX_ANSWER_BYTES);
    } catch (error) {
      throw this.client.toGatewayError(error, cancellation, cancellation);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw upstreamErrors.invalidResponse(this.name, 'the answer is not valid JSON');
    }
  }
}

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** The events again, with the one already read in front. Closing it closes the upstream body. */
async function* prepend(first: SseEvent, rest: AsyncGenerator<SseEvent>): AsyncGenerator<SseEvent> {
  try {
    yield first;
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return(undefined);
  }
}

export const ernieProviderFactory: ProviderFactory<ErnieOptions> = {
  type: 'ernie',
  optionsClass: ErnieOptions,
  async create(config: ProviderConfig, options: ErnieOptions, runtime: ProviderRuntime): Promise<LlmProvider> {
    if (options.mode === 'v2') {
      if (!config.apiKey)
        throw new Error(`providers.${config.name}: an ernie v2 provider needs apiKey (the bce-v3 API key)`);
      const apiKey = await runtime.credential(config.apiKey);
      return new OpenAiCompatibleProvider(config, runtime, apiKey, {
        type: 'ernie',
        headers: options.appId ? { appid: options.appId } : {},
      });
    }
    if (!config.apiKey || !options.secretKey) {
      throw new Error(
        `providers.${config.name}: an ernie v1 provider needs apiKey (API Key) and options.secretKey (Secret Key)`,
      );
    }
    return new ErnieProvider(config, options, runtime, {
      apiKey: await runtime.credential(config.apiKey),
      secretKey: await runtime.credential(options.secretKey),
    });
  },
};
