/**
 * What a front hands the shared pipeline for one request: the facts admission needs, how its answer is cached and
 * replayed, and how each attempt reaches a deployment (natively, or translated to chat). The pipeline
 * (gateway-pipeline.ts) does everything else the same way for every front.
 */
import type { GatewayKey } from '../auth/gateway-key.js';
import type { AttemptCall, RouteRequestContext, StreamOpener } from '../routing/router.service.js';
import type { TokenUsage } from '../usage/pricing.js';

/** The inbound APIs: the three fronts, and embeddings (OpenAI's, not a front of its own). */
export type Front = 'chat' | 'responses' | 'messages' | 'embeddings';

export interface GatewayCall {
  key: GatewayKey;
  context: RouteRequestContext;
  /** The request's Cache-Control header: `no-cache` skips the lookup, `no-store` bypasses the cache. */
  cacheControl?: string;
  /** Request body size, a free estimate of prompt tokens for token-rate limits. */
  bodyBytes?: number;
}

/** What a finished answer tells the trace (GenAI attributes). */
export interface TraceFacts {
  responseModel?: string;
  finishReasons: string[];
  /** The output messages, read only when content recording is on. */
  output: () => unknown;
}

/** Folds a front's stream items as they pass: what to account, and the whole answer for the cache. */
export interface StreamFold<Answer, Item> {
  /** Takes one item; returns false to keep it from the client (the chat usage chunk nobody asked for). */
  add(item: Item): boolean;
  /** The upstream's usage, once it came. */
  usage(): TokenUsage | undefined;
  /** Characters of output seen, to estimate usage of a stream that ended without any. */
  readonly outputChars: number;
  /** The whole answer when the stream completed (cacheable), else undefined. */
  answer(): Answer | undefined;
  trace(): TraceFacts;
}

export interface FrontExchange<Answer> {
  front: Front;
  /** The public model asked for. */
  model: string;
  /** Output tokens the request may use (token-rate reservation); undefined: the default reservation. */
  maxOutputTokens: number | undefined;
  /** What the trace records as input when content recording is on. */
  traceInput: unknown;
  /**
   * The request as the cache sees it (undefined: never cached): fields that change the answer, not those that change
   * how it is delivered. `deterministic` says whether it asks for a repeatable answer (temperature 0 or a seed).
   */
  cache: { material: Record<string, unknown>; deterministic: boolean } | undefined;
  /** One attempt's call on a deployment (non-streaming). */
  call: AttemptCall<Answer>;
  usageOf(answer: Answer): TokenUsage | undefined;
  /** Whether a (non-streamed) answer is complete, so it may be cached. */
  complete(answer: Answer): boolean;
  traceOf(answer: Answer): TraceFacts;
  /** The answer as cached text, and back. */
  serialize(answer: Answer): string;
  parse(text: string): Answer;
  /** Called with every whole answer the client got (fresh or cached, streamed to its end or not). */
  finished?(answer: Answer): void;
  /** Adds what the serving attempt left out (reasoning knobs, tools) to the response headers once routing chose. */
  addHeaders?(headers: Record<string, string>): void;
}

/** A front's request that may also be streamed. */
export interface StreamingExchange<Answer, Item> extends FrontExchange<Answer> {
  /** One attempt's stream on a deployment, and which items carry output. */
  opener: StreamOpener<Item>;
  /** A new fold for one stream; `assemble`: the stream may be cached, so its whole answer is needed. */
  fold(assemble: boolean): StreamFold<Answer, Item>;
  /** A cached answer as the stream the front sends. */
  replay(answer: Answer): Item[];
}

export interface PipelineAnswer<Answer> {
  answer: Answer;
  /** Response headers: rate limits, routing facts, cache result, cost. */
  headers: Record<string, string>;
}

export interface PipelineStream<Item> {
  items: AsyncIterable<Item>;
  headers: Record<string, string>;
}
