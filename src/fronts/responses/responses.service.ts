/**
 * The Responses front's requests through the shared pipeline. On a deployment whose provider serves the Responses
 * API itself (`options.responses: native`) the client's body goes to its `/responses` as sent, but for the model
 * name, and the upstream's bytes and events come back unchanged but for the model name, which is the one the client
 * asked for (as in a translated answer); on any other provider the request is translated to
 * chat and the answer back (responses.translator.ts, responses.stream.ts). With the response store on, finished
 * responses are kept for `previous_response_id`, `GET` and `DELETE` (response-store.ts).
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { GatewayKey } from '../../auth/gateway-key.js';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import { InvalidRequestError, NotFoundError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import type { StreamingExchange, GatewayCall, StreamFold, TraceFacts } from '../../pipeline/exchange.js';
import { GatewayPipeline } from '../../pipeline/gateway-pipeline.js';
import { type NativeEvent, type NativeRequest, speaksNatively } from '../../providers/llm-provider.js';
import type { AttemptCall, StreamOpener } from '../../routing/router.service.js';
import type { Deployment } from '../../routing/model-router.js';
import { chatFor, REASONING_HEADER } from '../../pipeline/reasoning.js';
import type { TokenUsage } from '../../usage/pricing.js';
import { createResponseStore, type ResponseStore, type StoredResponse } from './response-store.js';
import { ResponsesStreamTranslator } from './responses.stream.js';
import {
  replayResponse,
  type ResponseMeta,
  responseInputItems,
  type ResponsesTranslation,
  toChatRequest,
  toResponse,
} from './responses.translator.js';
import type {
  ResponseInputItem,
  ResponseObject,
  ResponsesRequest,
  ResponseStreamEvent,
  ResponseUsage,
} from './responses.types.js';

/** A whole answer: the Response, the upstream's own text when it came natively, and which provider that was. */
export interface ResponsesAnswer {
  response: ResponseObject;
  text?: string;
  nativeProvider?: string;
}

/** One stream event: its name and JSON text as sent, and the object when the gateway made it. */
export interface ResponsesItem {
  event: string;
  data: string;
  parsed?: ResponseStreamEvent;
}

export interface ResponsesResult<T> {
  result: T;
  headers: Record<string, string>;
}

/** A stream and the event that ends it when it fails after the start. */
export interface ResponsesStream {
  items: AsyncIterable<ResponsesItem>;
  failure(error: GatewayError): ResponsesItem;
}

const STATELESS =
  'The gateway is stateless: previous_response_id and stored responses need the response store ' +
  '(set fronts.responses.store.enabled: true, with fronts.responses.store.redis to share it between replicas).';

@Injectable()
export class ResponsesService implements OnApplicationShutdown {
  private readonly builtinTools: 'drop' | 'reject';
  private readonly store: ResponseStore | undefined;

  constructor(
    private readonly pipeline: GatewayPipeline,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    const front = config.fronts.responses;
    this.builtinTools = front.builtinTools;
    this.store = front.store.enabled ? createResponseStore(front.store) : undefined;
  }

  async create(
    request: ResponsesRequest,
    rawBody: string,
    call: GatewayCall,
  ): Promise<ResponsesResult<ResponsesAnswer>> {
    const exchange = await this.exchange(request, rawBody, call.key);
    const { answer, headers } = await this.pipeline.complete(exchange, call);
    return { result: answer, headers };
  }

  async stream(
    request: ResponsesRequest,
    rawBody: string,
    call: GatewayCall,
  ): Promise<ResponsesResult<ResponsesStream>> {
    const exchange = await this.exchange(request, rawBody, call.key);
    const { items, headers } = await this.pipeline.stream(exchange, call);
    return { result: { items, failure: (error) => exchange.failure(error) }, headers };
  }

  async retrieve(id: string, key: GatewayKey): Promise<ResponseObject> {
    const stored = await this.stored(id, key, 'response_id');
    return stored.response;
  }

  async remove(id: string, key: GatewayKey): Promise<{ id: string; object: 'response'; deleted: true }> {
    if (!(await this.requireStore().delete(key.id, id))) throw notFound(id, 'response_id');
    return { id, object: 'response', deleted: true };
  }

  onApplicationShutdown(): Promise<void> | undefined {
    return this.store?.close();
  }

  private requireStore(): ResponseStore {
    if (!this.store) throw new InvalidRequestError(STATELESS, null, 'stateless_gateway');
    return this.store;
  }

  private async stored(id: string, key: GatewayKey, param: string): Promise<StoredResponse> {
    const stored = await this.requireStore().get(key.id, id);
    if (!stored) throw notFound(id, param);
    return stored;
  }

  private async exchange(request: ResponsesRequest, rawBody: string, key: GatewayKey): Promise<ResponsesExchange> {
    const previousId = request.previous_response_id;
    const previous =
      typeof previousId === 'string' ? await this.stored(previousId, key, 'previous_response_id') : undefined;
    const keep = this.store !== undefined && request.store !== false ? this.keeper(key) : undefined;
    return new ResponsesExchange(request, rawBody, { builtinTools: this.builtinTools, previous, keep });
  }

  /** Stores a finished response under the key; a store write never holds up or fails the answer. */
  private keeper(key: GatewayKey): (stored: StoredResponse) => void {
    const store = this.store!;
    return (stored) => void store.put(key.id, stored);
  }
}

function notFound(id: string, param: string): NotFoundError {
  return new NotFoundError(`Response with id '${id.slice(0, 64)}' not found.`, 'response_not_found', param);
}

/** The Responses API's usage as the gateway counts it (input includes the cached tokens on this API). */
export function responsesTokenUsage(usage: ResponseUsage | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  const counted: TokenUsage = { prompt: usage.input_tokens, completion: usage.output_tokens, estimated: false };
  const cached = usage.input_tokens_details?.cached_tokens;
  if (cached) counted.cached = cached;
  const cacheWrite = usage.input_tokens_details?.cache_write_tokens;
  if (cacheWrite) counted.cacheWrite = cacheWrite;
  const reasoning = usage.output_tokens_details?.reasoning_tokens;
  if (reasoning) counted.reasoning = reasoning;
  return counted;
}

function itemOf(event: ResponseStreamEvent): ResponsesItem {
  return { event: event.type, data: JSON.stringify(event), parsed: event };
}

/** Events that carry generated output: a failure after one of them can no longer move to another deployment. */
const OUTPUT_EVENTS: ReadonlySet<string> = new Set([
  'response.output_item.added',
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_summary_text.delta',
  'response.reasoning_text.delta',
]);
const DELTA_EVENTS: ReadonlySet<string> = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
  'response.custom_tool_call_input.delta',
  'response.reasoning_summary_text.delta',
  'response.reasoning_text.delta',
]);
/** The events that carry the whole Response. */
const LIFECYCLE_EVENTS: ReadonlySet<string> = new Set([
  'response.created',
  'response.in_progress',
  'response.queued',
  'response.completed',
  'response.incomplete',
  'response.failed',
]);
const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['response.completed', 'response.incomplete', 'response.failed']);

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

interface ExchangeOptions {
  builtinTools: 'drop' | 'reject';
  /** The stored response named by previous_response_id. */
  previous: StoredResponse | undefined;
  /** Set when the finished response is to be stored. */
  keep: ((stored: StoredResponse) => void) | undefined;
}

class ResponsesExchange implements StreamingExchange<ResponsesAnswer, ResponsesItem> {
  readonly front = 'responses';
  readonly model: string;
  readonly maxOutputTokens: number | undefined;
  readonly traceInput: unknown;
  readonly cache: { material: Record<string, unknown>; deterministic: boolean };
  private readonly meta: ResponseMeta;
  /** The stored conversation before this request's input (previous_response_id), as input items. */
  private readonly history: ResponseInputItem[] | undefined;
  private translation: ResponsesTranslation | undefined;
  /** Reasoning state the gateway wrote for another provider must never reach a native upstream as it is. */
  private readonly carriesGatewayState: boolean;
  /** The attempt streaming now: its translator, or the native provider and how many events it sent. */
  private translator: ResponsesStreamTranslator | undefined;
  private nativeProvider: string | undefined;
  private nativeEvents = 0;

  constructor(
    private readonly request: ResponsesRequest,
    private readonly rawBody: string,
    private readonly options: ExchangeOptions,
  ) {
    this.model = request.model;
    this.maxOutputTokens = request.max_output_tokens ?? undefined;
    this.traceInput = request.input;
    this.meta = {
      id: `resp_${randomUUID().replace(/-/g, '')}`,
      createdAt: Math.floor(Date.now() / 1_000),
      model: request.model,
    };
    const previous = options.previous;
    this.history = previous && [...previous.input, ...(previous.response.output as ResponseInputItem[])];
    const temperature = request.temperature;
    this.cache = { material: request, deterministic: temperature === 0 };
    this.carriesGatewayState = rawBody.includes('"gw1.');
  }

  /** The request as chat, made once, for the deployments that need it. */
  private chat(): ChatCompletionRequest {
    this.translation ??= toChatRequest(this.request, {
      model: this.request.model,
      history: this.history,
      builtinTools: this.options.builtinTools,
    });
    return this.translation.chat;
  }

  /** Names the built-in tools a translated request left out, and says when reasoning knobs were. */
  addHeaders(headers: Record<string, string>): void {
    const dropped = this.translated && this.translation?.droppedTools;
    if (dropped && dropped.length > 0) headers['x-gateway-dropped-tools'] = dropped.join(', ');
    if (this.reasoningIgnored) headers[REASONING_HEADER] = 'ignored';
  }

  /**
   * The body for a native upstream. A continued conversation keeps previous_response_id when that upstream made the
   * previous response (it holds it too); anywhere else the stored history is sent as input instead.
   */
  private native(providerName: string, model: string): NativeRequest {
    const previous = this.options.previous;
    let body: string;
    if (previous !== undefined && previous.nativeProvider !== providerName) {
      const input = [...this.history!, ...responseInputItems(this.request)];
      body = JSON.stringify({ ...this.request, model, input, previous_response_id: undefined });
    } else {
      body = this.request.model === model ? this.rawBody : JSON.stringify({ ...this.request, model });
    }
    return { operation: 'create', body, headers: NO_HEADERS };
  }

  /** Whether the serving attempt was translated, and whether its deployment could not take the reasoning knobs. */
  private translated = false;
  private reasoningIgnored = false;

  private servedNatively(): void {
    this.translated = false;
    this.reasoningIgnored = false;
  }

  /** The chat request for a translated attempt on this deployment. */
  private prepare(chat: ChatCompletionRequest, deployment: Deployment): ChatCompletionRequest {
    const prepared = chatFor(chat, deployment);
    this.translated = true;
    this.reasoningIgnored = prepared.reasoningIgnored;
    return prepared.request;
  }

  readonly call: AttemptCall<ResponsesAnswer> = async (deployment, context) => {
    const provider = deployment.provider;
    if (speaksNatively(provider, 'responses') && !this.carriesGatewayState) {
      this.servedNatively();
      const answer = await provider.forward('responses', this.native(provider.name, deployment.model), context);
      const response = answer.data as ResponseObject;
      if (deployment.model === this.model) return { response, text: answer.text, nativeProvider: provider.name };
      response.model = this.model;
      return { response, nativeProvider: provider.name };
    }
    const completion = await provider.chat(this.prepare(this.chat(), deployment), context);
    const response = toResponse(completion, this.request, this.meta);
    response.completed_at = Math.floor(Date.now() / 1_000);
    return { response };
  };

  readonly opener: StreamOpener<ResponsesItem> = {
    open: async (deployment, context) => {
      const provider = deployment.provider;
      if (speaksNatively(provider, 'responses') && !this.carriesGatewayState) {
        this.servedNatively();
        const events = await provider.forwardStream('responses', this.native(provider.name, deployment.model), context);
        this.translator = undefined;
        this.nativeProvider = provider.name;
        this.nativeEvents = 0;
        return this.nativeItems(events, deployment.model === this.model ? undefined : this.model);
      }
      const chunks = await provider.chatStream(
        this.prepare({ ...this.chat(), stream: true, stream_options: { include_usage: true } }, deployment),
        context,
      );
      const translator = new ResponsesStreamTranslator(this.request, this.meta);
      this.translator = translator;
      this.nativeProvider = undefined;
      return translatedItems(chunks, translator);
    },
    hasOutput: (item) => OUTPUT_EVENTS.has(item.event),
  };

  /**
   * A native stream's events as items, counted for the sequence number of a failure event; unchanged but for the
   * model name of the events carrying the Response when the public name differs (`rename`).
   */
  private async *nativeItems(
    events: AsyncIterable<NativeEvent>,
    rename: string | undefined,
  ): AsyncGenerator<ResponsesItem> {
    for await (const event of events) {
      this.nativeEvents += 1;
      if (rename !== undefined && LIFECYCLE_EVENTS.has(event.event)) {
        const parsed = JSON.parse(event.data) as Extract<ResponseStreamEvent, { response: ResponseObject }>;
        parsed.response.model = rename;
        yield itemOf(parsed);
      } else {
        yield { event: event.event, data: event.data };
      }
    }
  }

  /**
   * The event ending a stream that failed after the start: `response.failed` when the gateway made the stream (its
   * Response as it stood), the API's `error` event after a native upstream's events.
   */
  failure(error: GatewayError): ResponsesItem {
    const translator = this.translator;
    if (translator) {
      const events = translator.fail({ code: error.code ?? 'server_error', message: error.message });
      return itemOf(events.at(-1)!);
    }
    const event = {
      type: 'error',
      code: error.code ?? 'server_error',
      message: error.message,
      param: error.param,
      sequence_number: this.nativeEvents,
    };
    return { event: 'error', data: JSON.stringify(event) };
  }

  usageOf(answer: ResponsesAnswer): TokenUsage | undefined {
    return responsesTokenUsage(answer.response.usage);
  }

  complete(answer: ResponsesAnswer): boolean {
    const status = answer.response.status;
    return status === 'completed' || status === 'incomplete';
  }

  traceOf(answer: ResponsesAnswer): TraceFacts {
    return traceFacts(answer.response);
  }

  serialize(answer: ResponsesAnswer): string {
    return answer.text ?? JSON.stringify(answer.response);
  }

  parse(text: string): ResponsesAnswer {
    return { response: JSON.parse(text) as ResponseObject, text };
  }

  fold(): StreamFold<ResponsesAnswer, ResponsesItem> {
    return new ResponsesFold(() => this.nativeProvider);
  }

  replay(answer: ResponsesAnswer): ResponsesItem[] {
    return replayResponse(answer.response).map(itemOf);
  }

  finished(answer: ResponsesAnswer): void {
    const keep = this.options.keep;
    if (!keep || !this.complete(answer)) return;
    const input = responseInputItems(this.request);
    keep({
      response: answer.response,
      input: this.history ? [...this.history, ...input] : input,
      nativeProvider: answer.nativeProvider,
    });
  }
}

function traceFacts(response: ResponseObject): TraceFacts {
  return {
    responseModel: response.model,
    finishReasons: [response.incomplete_details?.reason ?? response.status],
    output: () => response.output,
  };
}

/** A chat stream as Responses events, from response.created to the terminal event. */
async function* translatedItems(
  chunks: AsyncIterable<ChatCompletionChunk>,
  translator: ResponsesStreamTranslator,
): AsyncGenerator<ResponsesItem> {
  for (const event of translator.start()) yield itemOf(event);
  for await (const chunk of chunks) for (const event of translator.push(chunk)) yield itemOf(event);
  for (const event of translator.finish()) yield itemOf(event);
}

/**
 * The terminal event carries the whole Response (usage included), so nothing else is parsed; deltas are only
 * measured, to estimate the usage of a stream cut short.
 */
class ResponsesFold implements StreamFold<ResponsesAnswer, ResponsesItem> {
  private final: ResponseObject | undefined;
  outputChars = 0;

  constructor(private readonly nativeProvider: () => string | undefined) {}

  add(item: ResponsesItem): boolean {
    const kind = item.event;
    if (DELTA_EVENTS.has(kind)) this.outputChars += item.data.length;
    else if (TERMINAL_EVENTS.has(kind)) {
      const event = item.parsed ?? (JSON.parse(item.data) as ResponseStreamEvent);
      if ('response' in event) this.final = event.response;
    }
    return true;
  }

  usage(): TokenUsage | undefined {
    return responsesTokenUsage(this.final?.usage);
  }

  answer(): ResponsesAnswer | undefined {
    const final = this.final;
    if (!final || final.status === 'failed') return undefined;
    return { response: final, nativeProvider: this.nativeProvider() };
  }

  trace(): TraceFacts {
    return this.final ? traceFacts(this.final) : { finishReasons: [], output: () => [] };
  }
}
