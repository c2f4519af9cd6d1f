/**
 * The provider strategy contract. A provider translates between the gateway's OpenAI-format types and one
 * vendor's wire format; transport concerns (pools, timeouts, retries) live in the shared UpstreamClient.
 */
import type { ClassConstructor } from 'class-transformer';
import type { Cancellation } from '../common/cancellation.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../common/openai.types.js';
import type { ProviderConfig } from '../config/gateway-config.js';
import type { AttemptBudget } from '../routing/attempt-budget.js';
import type { ProviderRuntime } from './provider-runtime.js';

export interface ProviderCallContext {
  /** Cancelled when the client disconnects or the gateway gives up; providers pass it to the transport. */
  cancellation: Cancellation;
  requestId: string;
  /** The request's upstream attempt budget; transport retries draw from it too. */
  budget?: AttemptBudget;
  /** When `cancellation` fires at the latest (performance.now() ms): the transport needs no timer of its own past it. */
  deadlineAt?: number;
}

/** Chat is what every provider must do. `request.model` is already the upstream model name. */
export interface ChatCompletionProvider {
  readonly name: string;
  readonly type: string;
  chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion>;
  /**
   * Resolves once the upstream accepted the stream (so errors before it are plain HTTP errors), then yields
   * chunks. A failure while iterating is thrown as a GatewayError.
   */
  chatStream(request: ChatCompletionRequest, context: ProviderCallContext): Promise<AsyncIterable<ChatCompletionChunk>>;
  /**
   * Whether the upstream model takes reasoning knobs (`reasoning_effort`, `thinking`); absent: it does (the mapper
   * turns them into the provider's own). Knobs a model cannot take are left out and the answer says so
   * (`x-gateway-reasoning: ignored`) rather than failing the request.
   */
  takesReasoning?(model: string): boolean;
  /** Releases sockets and timers at shutdown. */
  close?(): void;
}

export interface EmbeddingProvider {
  embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse>;
}

/** The inbound protocols a provider may speak natively, besides chat: Anthropic's Messages, OpenAI's Responses. */
export type NativeProtocol = 'messages' | 'responses';

/** A front's call forwarded as the client made it. */
export interface NativeRequest {
  /** `create` (POST /messages, POST /responses) or `count_tokens` (POST /messages/count_tokens). */
  operation: 'create' | 'count_tokens';
  /** The body to send: the client's JSON text, with the upstream model name. */
  body: string;
  /** The client's protocol headers to pass on unchanged (anthropic-version, anthropic-beta). */
  headers: Readonly<Record<string, string>>;
}

/** A whole native answer: its JSON text as received, and parsed. */
export interface NativeAnswer {
  text: string;
  data: unknown;
}

/** One event of a native stream, its name and data exactly as the upstream sent them. */
export interface NativeEvent {
  event: string;
  data: string;
}

/**
 * A provider that serves some fronts natively: their requests go upstream as the client sent them (but the model
 * name), and the answers come back as they are. Errors are thrown as GatewayErrors like any provider's.
 */
export interface NativeProvider {
  readonly nativeProtocols: ReadonlySet<NativeProtocol>;
  forward(protocol: NativeProtocol, request: NativeRequest, context: ProviderCallContext): Promise<NativeAnswer>;
  forwardStream(
    protocol: NativeProtocol,
    request: NativeRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<NativeEvent>>;
}

export type LlmProvider = ChatCompletionProvider & Partial<EmbeddingProvider> & Partial<NativeProvider>;

export function supportsEmbeddings(provider: LlmProvider): provider is ChatCompletionProvider & EmbeddingProvider {
  return typeof provider.embed === 'function';
}

/** Whether `provider` serves `protocol` natively (else the front translates to chat). */
export function speaksNatively(
  provider: LlmProvider,
  protocol: NativeProtocol,
): provider is ChatCompletionProvider & NativeProvider {
  return provider.nativeProtocols?.has(protocol) === true;
}

/**
 * How a provider type is registered: its `type` name in the config, an optional class validating its
 * `options`, and a factory that gets the provider's runtime (credentials, transport). Adding a provider = its
 * folder + one line in provider-factories.ts.
 */
export interface ProviderFactory<Options extends object = object> {
  readonly type: string;
  readonly optionsClass?: ClassConstructor<Options>;
  /** The base URL when the entry sets none (an endpoint derived from the options); without it `baseUrl` is required. */
  defaultBaseUrl?(options: Options): string;
  create(config: ProviderConfig, options: Options, runtime: ProviderRuntime): LlmProvider | Promise<LlmProvider>;
}

/**
 * The exact JSON text a chunk or completion arrived as, when it is forwarded unchanged: the SSE writer, the
 * chat route and the cache use it as is instead of serialising the object again.
 */
export const RAW_JSON = Symbol('rawJson');
export type WithRawJson<T> = T & { [RAW_JSON]?: string };
