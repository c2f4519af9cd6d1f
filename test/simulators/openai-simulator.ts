/**
 * OpenAI-compatible provider simulator for e2e tests, the demo and benchmarks (wire format: spec §1): chat
 * completions, embeddings, models and the Responses API, optionally with the quirks of an OpenAI-compatible
 * vendor (`vendor` option; see openai-vendors.ts) or as Azure OpenAI (AzureOpenAiSimulator).
 * Answers are deterministic: chat echoes the last user message, embeddings are derived from a hash of the input;
 * the SIM_TOOL / SIM_TEXT / SIM_FAIL directives of the last user turn script tool calls, answers and failures.
 * Faults (error statuses, delays, dropped, malformed or failing streams, hangs) can be queued from code with
 * `enqueueFault` or from another process with `POST /__sim/faults`.
 *
 * Follows https://platform.openai.com/docs/api-reference/chat/create, https://platform.openai.com/docs/api-reference/chat-streaming,
 * https://platform.openai.com/docs/api-reference/embeddings, https://platform.openai.com/docs/guides/error-codes,
 * https://platform.openai.com/docs/guides/prompt-caching (cached_tokens) and
 * https://platform.openai.com/docs/guides/reasoning (reasoning_tokens, reasoning_effort); the Responses API as
 * documented in openai-responses.ts.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  ChatCompletionRequest,
  ChatMessage,
  Embedding,
  EmbeddingRequest,
  EmbeddingResponse,
  FinishReason,
  ModelObject,
} from '../../src/common/openai.types.js';
import {
  countWords,
  parseDirectives,
  planAnswer,
  PromptPrefixCache,
  type Reasoning,
  reasoningFor,
  simId,
  splitEvery,
  splitIntoPieces,
  type ToolChoiceMode,
  type ToolOffer,
} from './openai-sim-common.js';
import { ResponsesEngine, responsesErrorEvent } from './openai-responses.js';
import {
  chatReasons,
  chatRequestRefusal,
  chatReturnsReasoningText,
  groqUsage,
  openRouterReasoningDetail,
  reasoningFieldOf,
  reportsTokenDetails,
  type SimError,
  systemFingerprintOf,
  type Vendor,
  vendorErrorBody,
  type VendorRefusal,
  vendorUsageExtras,
} from './openai-vendors.js';
import { abortedOf, type ParsedBody, parseJson, readBody, writeJson } from './sim-http.js';
import { asString, isArray, isObject, type Json, textOf } from './sim-json.js';

export type { Vendor } from './openai-vendors.js';

export interface SimulatorFault {
  /** Answer with this status and the vendor's error body (or `body`, sent as is). */
  status?: number;
  body?: Record<string, unknown>;
  /** Extra response headers, e.g. `x-should-retry`. */
  headers?: Record<string, string>;
  retryAfterSeconds?: number;
  /** Wait this long before sending headers; the answer is normal afterwards. */
  firstByteDelayMs?: number;
  /** Overrides the simulator's delay between stream chunks for this request. */
  chunkDelayMs?: number;
  /** Streaming: destroy the socket after this many chunks (no `[DONE]`). Otherwise: destroy it before answering. */
  dropAfterChunks?: number;
  /** Streaming: after this many chunks, pause for `stallMs` before going on (an upstream gone silent). */
  stallAfterChunks?: number;
  stallMs?: number;
  /** Streaming: one event with invalid JSON after the first chunk. Otherwise: a 200 body that is not JSON. */
  malformed?: boolean;
  /**
   * Streaming: two events, then an error event and the end of the stream (no `[DONE]`): `data: {"error":…}` for
   * chat completions, `event: error` for the Responses API.
   */
  midStreamError?: boolean;
  /** Never answer; the request ends only when the client hangs up or the simulator stops. */
  hang?: boolean;
  /** Paths the fault applies to, with or without the `/v1` prefix. Default: chat completions only. */
  paths?: string[];
  /** How many matching requests consume the fault. Default 1. */
  times?: number;
}

export interface OpenAiSimulatorOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Delay between stream chunks. Default 0. */
  chunkDelayMs?: number;
  /** Identifies this instance in the `x-simulator` header and `system_fingerprint`. Default `openai`. */
  name?: string;
  /** Whose quirks to show: error bodies, refused parameters, reasoning fields, usage extras. Default `openai`. */
  vendor?: Vendor;
  /** Prompt prefixes shorter than this are not cached (OpenAI caches from 1024 tokens). Default 0. */
  promptCacheMinTokens?: number;
  /**
   * Chat streams end after the finish (and usage) chunk without `data: [DONE]`, as some OpenAI-compatible servers'
   * streams do; the connection closes cleanly. Default false.
   */
  omitDone?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** Query parameters (the last value of a repeated one). */
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  /** True once the client closed the connection before the response finished. */
  hungUp: boolean;
}

export interface SimulatorStats {
  received: number;
  hungUp: number;
  inFlight: number;
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const CHAT_PATH = '/v1/chat/completions';
const EMBEDDINGS_PATH = '/v1/embeddings';
const MODELS_PATH = '/v1/models';
const RESPONSES_PATH = '/v1/responses';

/** The last message that is a turn: system and developer messages (also mid-conversation ones) are instructions. */
function lastTurn<M extends { role: string }>(messages: readonly M[]): M | undefined {
  return messages.findLast((message) => message.role !== 'system' && message.role !== 'developer');
}
const CONTROL_PREFIX = '/__sim/';
const TOKENS_PER_MESSAGE = 3;
const DEFAULT_EMBEDDING_DIMENSIONS = 8;
const MAX_EMBEDDING_DIMENSIONS = 4096;
const TOOL_ARGUMENT_FRAGMENT_CHARS = 4;
const MODEL_CREATED = 1_721_172_741;
const MODEL_IDS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'text-embedding-3-small', 'text-embedding-3-large'];
const DONE_FRAME = 'data: [DONE]\n\n';

/** One request being answered, with what the close handler needs to tell a hang-up from a deliberate drop. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  record: RecordedRequest;
  signal: AbortSignal;
  requestId: string;
  fault?: SimulatorFault;
  droppedByServer: boolean;
}

/** What a route answers for: the model it answers as, when the path names it (Azure deployments). */
export interface RouteContext {
  model?: string;
}

interface QueuedFault {
  fault: SimulatorFault;
  remaining: number;
}

interface HangUpWaiter {
  atLeast: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface ChatAnswer {
  /** Content split into stream-sized pieces; null for a tool call. */
  pieces: string[] | null;
  toolCall?: { id: string; name: string; argumentFragments: string[] };
  /** Reasoning the model did; `text` is set when the vendor returns the reasoning text. */
  reasoning?: Reasoning & { text?: string };
  finishReason: FinishReason;
  usage: Json;
  /** SIM_FAIL: the model fails with this message. */
  failure?: string;
}

interface ResponseMeta {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string | null;
}

/** A stream's frames and how it ends and breaks, per wire format. */
interface StreamPlan {
  frames: string[];
  /** Sent after the last frame (chat: `[DONE]`). */
  terminal?: string;
  /** The error frame a `midStreamError` fault sends after the second frame. */
  errorFrame: () => string;
  /** The broken frame a `malformed` fault sends after the first frame. */
  malformedFrame: string;
}

export class OpenAiSimulator {
  readonly name: string;
  readonly vendor: Vendor;
  readonly requests: RecordedRequest[] = [];
  protected apiKey?: string;
  protected readonly promptCache: PromptPrefixCache;
  protected readonly responsesEngine: ResponsesEngine;
  private readonly chunkDelayMs: number;
  private readonly omitDone: boolean;
  private readonly faults: QueuedFault[] = [];
  private readonly hangUpWaiters = new Set<HangUpWaiter>();
  private server?: Server;
  private stopping = false;
  private receivedCount = 0;
  private hungUpCount = 0;
  private inFlightCount = 0;
  private completionCounter = 0;
  private requestCounter = 0;

  constructor(options: OpenAiSimulatorOptions = {}) {
    this.apiKey = options.apiKey;
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.omitDone = options.omitDone ?? false;
    this.name = options.name ?? 'openai';
    this.vendor = options.vendor ?? 'openai';
    this.promptCache = new PromptPrefixCache(options.promptCacheMinTokens ?? 0);
    const secret = createHash('sha256').update(`sim-reasoning:${this.name}`).digest();
    this.responsesEngine = new ResponsesEngine(this.name, this.promptCache, secret);
  }

  /** Requests received, control endpoints excluded. */
  get received(): number {
    return this.receivedCount;
  }

  /** Requests whose client closed the connection before the response finished. */
  get hungUp(): number {
    return this.hungUpCount;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  stats(): SimulatorStats {
    return { received: this.receivedCount, hungUp: this.hungUpCount, inFlight: this.inFlightCount };
  }

  /** Starts listening and returns the base URL, e.g. `http://127.0.0.1:41234/v1`. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    const address = server.address() as AddressInfo;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return this.baseUrl(`http://${hostPart}:${address.port}`);
  }

  /** Closes the server and every connection, hung requests included; pending hang-up waits are rejected. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    for (const waiter of this.hangUpWaiters) waiter.reject(new Error(`${this.name} simulator stopped`));
    this.hangUpWaiters.clear();
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  /** Accepts a different key from now on (a rotation at the provider). */
  setApiKey(apiKey: string | undefined): void {
    this.apiKey = apiKey;
  }

  /** Queues a fault for the next matching request(s), first in first out. */
  enqueueFault(fault: SimulatorFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /**
   * Clears faults, recorded requests, counters, remembered prompt prefixes and stored responses (requests still in
   * flight keep being counted in `inFlight`).
   */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.receivedCount = 0;
    this.hungUpCount = 0;
    this.promptCache.clear();
    this.responsesEngine.reset();
  }

  /** Resolves once `hungUp` (counted since the last reset) reaches `atLeast`; rejects after `timeoutMs`. */
  waitForHangUp(timeoutMs = 2_000, atLeast = 1): Promise<void> {
    if (this.hungUpCount >= atLeast) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.hangUpWaiters.delete(waiter);
        reject(new Error(`${this.name} simulator: no client hang-up within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: HangUpWaiter = {
        atLeast,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.hangUpWaiters.add(waiter);
    });
  }

  /** The base URL clients are given for the server's origin. */
  protected baseUrl(origin: string): string {
    return `${origin}/v1`;
  }

  /** Paths that are chat completions, the default target of faults. */
  protected isChatPath(path: string): boolean {
    return path === CHAT_PATH;
  }

  protected faultMatches(pattern: string, path: string): boolean {
    return pattern === path || `/v1${pattern}` === path;
  }

  /** The refusal for a request without valid credentials, or undefined. */
  protected authRefusal(exchange: Exchange): VendorRefusal | undefined {
    if (this.apiKey === undefined) return undefined;
    const authorization = exchange.req.headers.authorization;
    if (authorization === `Bearer ${this.apiKey}`) return undefined;
    const message = authorization
      ? `Incorrect API key provided: ${maskKey(authorization.replace(/^Bearer\s*/i, ''))}. You can find your API key at https://platform.openai.com/account/api-keys.`
      : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.";
    return this.refusal({ status: 401, message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
  }

  /** Answers a request that passed authentication and faults. */
  protected async route(exchange: Exchange, body: ParsedBody): Promise<void> {
    const { method } = exchange.record;
    const path = exchange.path;
    if (method === 'POST' && path === CHAT_PATH) return this.chat(exchange, body, {});
    if (method === 'POST' && path === EMBEDDINGS_PATH) return this.embeddings(exchange, body, {});
    if (method === 'POST' && path === RESPONSES_PATH) return this.responses(exchange, body, {});
    if (path.startsWith(`${RESPONSES_PATH}/`) && (method === 'GET' || method === 'DELETE')) {
      return this.storedResponse(exchange, decodeURIComponent(path.slice(RESPONSES_PATH.length + 1)));
    }
    if (method === 'GET' && path === MODELS_PATH) {
      return this.sendJson(exchange, 200, { object: 'list', data: MODEL_IDS.map(modelObject) });
    }
    if (method === 'GET' && path.startsWith(`${MODELS_PATH}/`)) {
      return this.sendJson(exchange, 200, modelObject(decodeURIComponent(path.slice(MODELS_PATH.length + 1))));
    }
    this.sendRefusal(exchange, this.invalidUrl(exchange));
  }

  protected invalidUrl(exchange: Exchange): VendorRefusal {
    const message = `Invalid URL (${exchange.record.method} ${exchange.path})`;
    return this.refusal({ status: 404, message, type: 'invalid_request_error', param: null, code: null });
  }

  /** Shapes an error the way this simulator's vendor sends it. */
  protected refusal(error: SimError): VendorRefusal {
    return { status: error.status, body: vendorErrorBody(this.vendor, error, `sim-${this.requestCounter}`) };
  }

  /** Azure's content filter hooks: the filter is off for OpenAI and its compatible vendors. */
  protected get contentFilter(): boolean {
    return false;
  }

  /** The 400 Azure sends when its prompt filter refuses a request. */
  protected promptFilterRefusal(): unknown {
    return undefined;
  }

  /** Extra fields of a chat completion (Azure: prompt_filter_results). */
  protected completionExtras(_filtered: boolean): Json {
    return {};
  }

  /** Extra fields of each choice (Azure: content_filter_results). */
  protected choiceExtras(_filtered: boolean): Json {
    return {};
  }

  /** Frames sent before the first chunk (Azure: the prompt annotation chunk). */
  protected leadingChunks(): Json[] {
    return [];
  }

  protected headers(exchange: Exchange, contentType: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const fault = exchange.fault;
    return {
      'content-type': contentType,
      'x-request-id': exchange.requestId,
      'openai-version': '2020-10-01',
      'x-simulator': this.name,
      ...extra,
      ...(fault?.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {}),
      ...fault?.headers,
    };
  }

  protected sendJson(exchange: Exchange, status: number, body: unknown): void {
    this.sendText(exchange, status, 'application/json', JSON.stringify(body));
  }

  protected sendRefusal(exchange: Exchange, refusal: VendorRefusal): void {
    this.sendJson(exchange, refusal.status, refusal.body);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    if (path.startsWith(CONTROL_PREFIX)) {
      this.handleControl(req, res, path).catch((error: unknown) => {
        if (!res.headersSent) writeJson(res, 500, openAiError(describe(error), 'server_error', null));
      });
      return;
    }
    const controller = new AbortController();
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    const exchange: Exchange = {
      req,
      res,
      path,
      query: url.searchParams,
      record,
      signal: controller.signal,
      requestId: createHash('md5').update(`${this.name}:${++this.requestCounter}`).digest('hex'),
      droppedByServer: false,
    };
    this.requests.push(record);
    this.receivedCount++;
    this.inFlightCount++;
    res.on('close', () => {
      this.inFlightCount--;
      if (!res.writableFinished && !exchange.droppedByServer && !this.stopping) {
        record.hungUp = true;
        this.noteHangUp();
      }
      // Ends pending delays, hangs and drain waits of this request.
      controller.abort();
    });
    this.handle(exchange).catch((error: unknown) => this.failExchange(exchange, error));
  }

  private noteHangUp(): void {
    this.hungUpCount++;
    for (const waiter of this.hangUpWaiters) {
      if (this.hungUpCount < waiter.atLeast) continue;
      this.hangUpWaiters.delete(waiter);
      waiter.resolve();
    }
  }

  private async handle(exchange: Exchange): Promise<void> {
    const body = parseJson(await readBody(exchange.req));
    exchange.record.body = body.value;
    const authRefusal = this.authRefusal(exchange);
    if (authRefusal) return this.sendRefusal(exchange, authRefusal);

    const fault = this.takeFault(exchange.path);
    const streaming = exchange.record.method === 'POST' && isObject(body.value) && body.value.stream === true;
    if (fault && (await this.applyFault(exchange, fault, streaming))) return;
    return this.route(exchange, body);
  }

  private takeFault(path: string): SimulatorFault | undefined {
    const index = this.faults.findIndex(({ fault }) =>
      fault.paths === undefined
        ? this.isChatPath(path)
        : fault.paths.some((pattern) => this.faultMatches(pattern, path)),
    );
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  /** Applies the parts of a fault that act before the answer; returns true when the exchange is finished. */
  private async applyFault(exchange: Exchange, fault: SimulatorFault, streaming: boolean): Promise<boolean> {
    exchange.fault = fault;
    if (fault.hang) {
      await abortedOf(exchange.signal);
      return true;
    }
    if (fault.firstByteDelayMs) await sleep(fault.firstByteDelayMs, undefined, { signal: exchange.signal });
    if (fault.status !== undefined) {
      if (fault.body) this.sendJson(exchange, fault.status, fault.body);
      else this.sendRefusal(exchange, this.refusal(faultError(fault.status, exchange.record.body)));
      return true;
    }
    if (!streaming && fault.dropAfterChunks !== undefined) {
      exchange.droppedByServer = true;
      exchange.req.socket.destroy();
      return true;
    }
    if (!streaming && fault.malformed) {
      this.sendText(
        exchange,
        200,
        'application/json',
        '{"id":"chatcmpl-sim-malformed","object":"chat.completion","choices":[{',
      );
      return true;
    }
    return false;
  }

  protected async chat(exchange: Exchange, body: ParsedBody, context: RouteContext): Promise<void> {
    const problem = chatRequestProblem(body, context.model !== undefined);
    if (problem) return this.sendRefusal(exchange, this.refusal(problem));
    const model = context.model ?? (body.value as ChatCompletionRequest).model;
    const request = { ...(body.value as ChatCompletionRequest), model };
    const refusal = chatRequestRefusal(this.vendor, request, (error) => this.refusal(error));
    if (refusal) return this.sendRefusal(exchange, refusal);
    const lastUser = request.messages.findLast((message) => message.role === 'user');
    const directives = parseDirectives(messageText(lastUser?.content));
    const lastIsUser = lastTurn(request.messages) === lastUser;
    if (this.contentFilter && lastIsUser && directives.filterPrompt) {
      return this.sendJson(exchange, 400, this.promptFilterRefusal());
    }
    const counter = ++this.completionCounter;
    const filtered = this.contentFilter && lastIsUser && directives.filterOutput;
    const answer = this.answerChat(request, model, counter, filtered);
    const meta: ResponseMeta = {
      id: this.vendor === 'ollama' ? `chatcmpl-${counter % 1000}` : `chatcmpl-sim-${counter}`,
      created: Math.floor(Date.now() / 1000),
      model,
      systemFingerprint: systemFingerprintOf(this.vendor, this.name),
    };
    if (answer.failure !== undefined && request.stream !== true) {
      return this.sendRefusal(exchange, this.refusal(simError(500, answer.failure, 'server_error', null)));
    }
    if (request.stream === true) {
      const failure = answer.failure;
      if (failure !== undefined) exchange.fault = { ...exchange.fault, midStreamError: true };
      const chunks = this.toStreamChunks(meta, answer, request.stream_options?.include_usage === true, filtered);
      return this.stream(exchange, {
        frames: chunks.map(sseEvent),
        ...(!this.omitDone && { terminal: DONE_FRAME }),
        errorFrame: () =>
          sseEvent(
            this.refusal(
              failure === undefined ? faultError(500, undefined) : simError(500, failure, 'server_error', null),
            ).body,
          ),
        malformedFrame: `data: {"id":"${meta.id}","object":"chat.completion.chunk","choices":[{\n\n`,
      });
    }
    this.sendJson(exchange, 200, this.toCompletion(meta, answer, filtered));
  }

  private answerChat(request: ChatCompletionRequest, model: string, counter: number, filtered: boolean): ChatAnswer {
    const messages = request.messages;
    const last = lastTurn(messages);
    const lastUser = messages.findLast((message) => message.role === 'user');
    const segments = messages.map((message) => ({
      key: JSON.stringify(message),
      tokens: countWords(messageText(message.content)) + TOKENS_PER_MESSAGE,
    }));
    const promptTokens = segments.reduce((sum, segment) => sum + segment.tokens, 0);
    const boundary = Math.max(
      0,
      messages.findLastIndex((message) => message.role === 'user'),
    );
    const cachedTokens = this.promptCache.lookupAndRemember(model, segments, boundary);
    const toolOutput = last?.role === 'tool' ? messageText(last.content) : undefined;
    const plan = planAnswer({
      model,
      lastIsUser: last !== undefined && last === lastUser,
      ...(toolOutput !== undefined && { toolOutput }),
      userText: messageText(lastUser?.content),
      tools: chatToolOffers(request.tools),
      toolChoice: chatToolChoice(request.tool_choice),
      jsonSchema:
        request.response_format?.type === 'json_schema'
          ? (request.response_format.json_schema?.schema ?? {})
          : undefined,
    });
    const reasoning = chatReasons(this.vendor, request)
      ? reasoningFor(toolOutput ?? messageText(lastUser?.content), asString(request.reasoning_effort))
      : undefined;
    const reasoningText = reasoning && chatReturnsReasoningText(this.vendor, request) ? reasoning.summary : undefined;
    const usage = (completionTokens: number) =>
      this.chatUsage(promptTokens, cachedTokens, completionTokens + (reasoning?.tokens ?? 0), reasoning?.tokens ?? 0);
    const withReasoning = reasoning && {
      reasoning: { ...reasoning, ...(reasoningText !== undefined && { text: reasoningText }) },
    };
    if (plan.kind === 'tool') {
      const argumentFragments = splitEvery(plan.arguments, TOOL_ARGUMENT_FRAGMENT_CHARS);
      return {
        pieces: null,
        toolCall: { id: `call_sim_${counter}`, name: plan.name, argumentFragments },
        ...withReasoning,
        finishReason: 'tool_calls',
        usage: usage(argumentFragments.length),
      };
    }
    if (plan.kind === 'fail') {
      return { pieces: splitIntoPieces('Working on it'), failure: plan.message, finishReason: 'stop', usage: usage(0) };
    }
    const pieces = splitIntoPieces(plan.text);
    const limit = request.max_completion_tokens ?? request.max_tokens;
    const truncated = typeof limit === 'number' && limit >= 0 && limit < pieces.length;
    let kept = truncated ? pieces.slice(0, limit) : pieces;
    if (filtered) kept = kept.slice(0, Math.floor(kept.length / 2));
    const finishReason: FinishReason = filtered ? 'content_filter' : truncated ? 'length' : 'stop';
    return { pieces: kept, ...withReasoning, finishReason, usage: usage(kept.length) };
  }

  private chatUsage(
    promptTokens: number,
    cachedTokens: number,
    completionTokens: number,
    reasoningTokens: number,
  ): Json {
    return {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      ...(reportsTokenDetails(this.vendor) && {
        prompt_tokens_details: { cached_tokens: cachedTokens, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: reasoningTokens,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      }),
      ...vendorUsageExtras(this.vendor, promptTokens, cachedTokens),
    };
  }

  /** The message or delta fields that carry reasoning text, per vendor. */
  private reasoningFields(text: string | null, detailId: string): Json {
    switch (reasoningFieldOf(this.vendor)) {
      case 'reasoning_content':
        return { reasoning_content: text };
      case 'reasoning':
        return this.vendor === 'openrouter'
          ? { reasoning: text, reasoning_details: text === null ? [] : [openRouterReasoningDetail(text, detailId)] }
          : text === null
            ? {}
            : { reasoning: text };
      default:
        return {};
    }
  }

  private toCompletion(meta: ResponseMeta, answer: ChatAnswer, filtered: boolean): Json {
    const toolCall = answer.toolCall;
    const reasoningText = answer.reasoning?.text;
    return {
      id: meta.id,
      object: 'chat.completion',
      created: meta.created,
      model: meta.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: filtered ? null : (answer.pieces?.join('') ?? null),
            refusal: null,
            ...(reasoningText !== undefined && this.reasoningFields(reasoningText, `rs_${meta.id}`)),
            ...(toolCall && {
              tool_calls: [
                {
                  id: toolCall.id,
                  type: 'function',
                  function: { name: toolCall.name, arguments: toolCall.argumentFragments.join('') },
                },
              ],
            }),
          },
          logprobs: null,
          finish_reason: answer.finishReason,
          ...this.choiceExtras(filtered),
        },
      ],
      usage: answer.usage,
      service_tier: 'default',
      system_fingerprint: meta.systemFingerprint,
      ...this.completionExtras(filtered),
    };
  }

  /** The chunks of spec §1.5, in order, with the vendor's reasoning deltas; `[DONE]` is added by the writer. */
  private toStreamChunks(meta: ResponseMeta, answer: ChatAnswer, includeUsage: boolean, filtered: boolean): Json[] {
    const chunk = (choices: Json[], usage: Json | null = null): Json => ({
      id: meta.id,
      object: 'chat.completion.chunk',
      created: meta.created,
      model: meta.model,
      service_tier: 'default',
      system_fingerprint: meta.systemFingerprint,
      choices,
      usage,
    });
    const deltaChunk = (delta: Json, finishReason: FinishReason | null = null, extras: Json = {}) =>
      chunk([{ index: 0, delta, logprobs: null, finish_reason: finishReason, ...extras }]);
    const reasoningText = answer.reasoning?.text;
    const noReasoning = reasoningText === undefined ? {} : this.reasoningFields(null, `rs_${meta.id}`);

    const chunks: Json[] = [...this.leadingChunks()];
    if (reasoningText !== undefined) {
      chunks.push(
        deltaChunk({
          role: 'assistant',
          content: this.vendor === 'deepseek' ? null : '',
          ...this.reasoningFields('', `rs_${meta.id}`),
        }),
      );
      for (const piece of splitIntoPieces(reasoningText)) {
        chunks.push(
          deltaChunk({
            content: this.vendor === 'deepseek' ? null : '',
            ...this.reasoningFields(piece, `rs_${meta.id}`),
          }),
        );
      }
    }
    const toolCall = answer.toolCall;
    if (toolCall) {
      // As OpenAI does for tool calls: content stays null, the call's id, type and name come first, then arguments.
      if (reasoningText === undefined) chunks.push(deltaChunk({ role: 'assistant', content: null }));
      chunks.push(
        deltaChunk({
          tool_calls: [
            { index: 0, id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: '' } },
          ],
          ...noReasoning,
        }),
      );
      for (const fragment of toolCall.argumentFragments) {
        chunks.push(deltaChunk({ tool_calls: [{ index: 0, function: { arguments: fragment } }], ...noReasoning }));
      }
    } else {
      if (reasoningText === undefined)
        chunks.push(deltaChunk({ role: 'assistant', content: '' }, null, this.choiceExtras(false)));
      for (const piece of answer.pieces ?? [])
        chunks.push(deltaChunk({ content: piece, ...noReasoning }, null, this.choiceExtras(false)));
    }
    const finish = deltaChunk({}, answer.finishReason, filtered ? this.choiceExtras(true) : {});
    if (this.vendor === 'groq') {
      chunks[0] = { ...chunks[0], x_groq: { id: `req_${simId(meta.id, 26)}` } };
      const usage = answer.usage as { prompt_tokens: number; completion_tokens: number };
      finish.x_groq = {
        id: `req_${simId(meta.id, 26)}`,
        usage: groqUsage(usage.prompt_tokens, usage.completion_tokens),
      };
    }
    chunks.push(finish);
    if (includeUsage) chunks.push(chunk([], answer.usage));
    return chunks;
  }

  protected async responses(exchange: Exchange, body: ParsedBody, context: RouteContext): Promise<void> {
    const problem = bodyProblem(body, context.model !== undefined);
    if (problem) return this.sendRefusal(exchange, this.refusal(problem));
    const outcome = this.responsesEngine.create(body.value as Json, {
      ...(context.model !== undefined && { model: context.model }),
      ...(this.contentFilter && { contentFilter: { promptRefusal: () => this.promptFilterRefusal() } }),
    });
    if (outcome.kind === 'error') return this.sendRefusal(exchange, this.refusal(outcome.error));
    if (outcome.kind === 'refusal') return this.sendJson(exchange, outcome.status, outcome.body);
    if ((body.value as Json).stream !== true) return this.sendJson(exchange, 200, outcome.response);
    const events = outcome.events;
    return this.stream(exchange, {
      frames: events.map((event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`),
      errorFrame: () => {
        const event = responsesErrorEvent(
          2,
          'The server had an error while processing your request. Sorry about that!',
        );
        return `event: error\ndata: ${JSON.stringify(event)}\n\n`;
      },
      malformedFrame: 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":\n\n',
    });
  }

  protected storedResponse(exchange: Exchange, id: string): void {
    const notFound = () =>
      this.sendRefusal(
        exchange,
        this.refusal({
          status: 404,
          message: `Response with id '${id}' not found.`,
          type: 'invalid_request_error',
          param: null,
          code: null,
        }),
      );
    if (exchange.record.method === 'DELETE') {
      if (!this.responsesEngine.delete(id)) return notFound();
      return this.sendJson(exchange, 200, { id, object: 'response', deleted: true });
    }
    const response = this.responsesEngine.retrieve(id);
    if (!response) return notFound();
    this.sendJson(exchange, 200, response);
  }

  private async stream(exchange: Exchange, plan: StreamPlan): Promise<void> {
    const fault = exchange.fault ?? {};
    const delayMs = fault.chunkDelayMs ?? this.chunkDelayMs;
    const { res, signal } = exchange;
    res.writeHead(200, this.headers(exchange, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }));
    res.flushHeaders();
    for (const [index, frame] of plan.frames.entries()) {
      if (index === fault.dropAfterChunks) return this.drop(exchange);
      if (index > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
      if (index > 0 && index === fault.stallAfterChunks) await sleep(fault.stallMs ?? 1_000, undefined, { signal });
      await this.writeEvent(exchange, frame, index + 1 === fault.dropAfterChunks);
      if (index === 0 && fault.malformed) await this.writeEvent(exchange, plan.malformedFrame);
      if (index === 1 && fault.midStreamError) {
        await this.writeEvent(exchange, plan.errorFrame());
        res.end();
        return;
      }
    }
    if (fault.dropAfterChunks !== undefined) return this.drop(exchange);
    if (plan.terminal !== undefined) await this.writeEvent(exchange, plan.terminal);
    res.end();
  }

  /**
   * Writes one SSE event, waiting for `drain` when the socket buffer is full. With `flush`, waits until the bytes
   * reached the socket, so that a drop that follows does not discard them.
   */
  private async writeEvent(exchange: Exchange, text: string, flush = false): Promise<void> {
    const { res, signal } = exchange;
    signal.throwIfAborted();
    if (flush) {
      await new Promise<void>((resolve) => {
        res.write(text, () => resolve());
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      signal.throwIfAborted();
    } else if (!res.write(text)) {
      await once(res, 'drain', { signal });
    }
  }

  private drop(exchange: Exchange): void {
    exchange.droppedByServer = true;
    exchange.res.destroy();
  }

  protected embeddings(exchange: Exchange, body: ParsedBody, context: RouteContext): void {
    const problem = embeddingRequestProblem(body, context.model !== undefined);
    if (problem) return this.sendRefusal(exchange, this.refusal(problem));
    const request = body.value as EmbeddingRequest;
    const inputs = embeddingInputs(request.input) ?? [];
    const dimensions = request.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
    const data: Embedding[] = inputs.map((input, index) => {
      const vector = embeddingVector(typeof input === 'string' ? input : JSON.stringify(input), dimensions);
      return {
        object: 'embedding',
        index,
        embedding: request.encoding_format === 'base64' ? toBase64Float32(vector) : vector,
      };
    });
    const promptTokens = inputs.reduce<number>(
      (sum, input) => sum + (typeof input === 'string' ? countWords(input) : input.length),
      0,
    );
    const response: EmbeddingResponse = {
      object: 'list',
      data,
      model: context.model ?? request.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    };
    this.sendJson(exchange, 200, response);
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__sim/stats') return writeJson(res, 200, this.stats());
    if (route === 'POST /__sim/reset') {
      this.reset();
      return writeJson(res, 200, { reset: true });
    }
    if (route === 'POST /__sim/faults') {
      const body = parseJson(await readBody(req));
      const faults = isArray(body.value) ? body.value : [body.value];
      if (!body.valid || !faults.every(isObject)) {
        return writeJson(
          res,
          400,
          openAiError('Expected a fault object or an array of them.', 'invalid_request_error', null),
        );
      }
      for (const fault of faults) this.enqueueFault(fault);
      return writeJson(res, 200, { queued: this.faults.length });
    }
    writeJson(res, 404, openAiError(`Invalid URL (${route})`, 'invalid_request_error', null));
  }

  private failExchange(exchange: Exchange, error: unknown): void {
    // Aborted means the client hung up or the simulator stopped: nobody is left to answer.
    if (exchange.signal.aborted) return;
    if (exchange.res.headersSent) {
      exchange.res.destroy();
      return;
    }
    this.sendJson(exchange, 500, openAiError(`Simulator failure: ${describe(error)}`, 'server_error', null));
  }

  private sendText(exchange: Exchange, status: number, contentType: string, text: string): void {
    exchange.res.writeHead(status, this.headers(exchange, contentType, { 'content-length': Buffer.byteLength(text) }));
    exchange.res.end(text);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function maskKey(key: string): string {
  return key.length > 8 ? `${key.slice(0, 3)}***${key.slice(-4)}` : '***';
}

function sseEvent(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function openAiError(message: string, type: string, code: string | null, param: string | null = null): OpenAiErrorBody {
  return { error: { message, type, param, code } };
}

function simError(
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
): SimError {
  return { status, message, type, param, code };
}

/** The error OpenAI sends for `status`, so that clients see realistic messages, types and codes. */
function faultError(status: number, requestBody: unknown): SimError {
  const model = isObject(requestBody) && typeof requestBody.model === 'string' ? requestBody.model : 'gpt-4o-mini';
  switch (status) {
    case 400:
      return simError(
        400,
        'Invalid request: the simulator was asked to reject this request.',
        'invalid_request_error',
        null,
      );
    case 401:
      return simError(
        401,
        'Incorrect API key provided: sk-***sim. You can find your API key at https://platform.openai.com/account/api-keys.',
        'invalid_request_error',
        'invalid_api_key',
      );
    case 403:
      return simError(
        403,
        'Country, region, or territory not supported',
        'request_forbidden',
        'unsupported_country_region_territory',
      );
    case 404:
      return simError(
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        'model_not_found',
        'model',
      );
    case 408:
      return simError(408, 'Request timed out.', 'server_error', null);
    case 409:
      return simError(409, 'The request conflicted with another request. Please try again.', 'server_error', null);
    case 429:
      return simError(
        429,
        `Rate limit reached for ${model} in organization org-simulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        'requests',
        'rate_limit_exceeded',
      );
    case 500:
      return simError(
        500,
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        null,
      );
    case 502:
      return simError(502, 'Bad gateway.', 'server_error', null);
    case 503:
      return simError(503, 'The engine is currently overloaded, please try again later.', 'server_error', null);
    case 504:
      return simError(504, 'Gateway timeout.', 'server_error', null);
    default:
      return status >= 500
        ? simError(status, `The server returned status ${status}.`, 'server_error', null)
        : simError(status, `The request failed with status ${status}.`, 'invalid_request_error', null);
  }
}

function missingParameter(param: string): SimError {
  return simError(
    400,
    `Missing required parameter: '${param}'.`,
    'invalid_request_error',
    'missing_required_parameter',
    param,
  );
}

/** Problems with the body as a whole; `modelFromPath` when the path names the model (Azure deployments). */
function bodyProblem(body: ParsedBody, modelFromPath: boolean): SimError | undefined {
  if (!body.valid) {
    return simError(
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      'invalid_request_error',
      null,
    );
  }
  if (!isObject(body.value)) {
    return simError(400, "Invalid type for '$': expected an object.", 'invalid_request_error', 'invalid_type');
  }
  if (!modelFromPath && (typeof body.value.model !== 'string' || body.value.model === '')) {
    return simError(400, 'you must provide a model parameter', 'invalid_request_error', null);
  }
  return undefined;
}

function chatRequestProblem(body: ParsedBody, modelFromPath: boolean): SimError | undefined {
  const problem = bodyProblem(body, modelFromPath);
  if (problem) return problem;
  const messages = (body.value as Json).messages;
  if (messages === undefined) return missingParameter('messages');
  if (!isArray(messages)) {
    return simError(
      400,
      "Invalid type for 'messages': expected an array.",
      'invalid_request_error',
      'invalid_type',
      'messages',
    );
  }
  if (messages.length === 0) {
    return simError(
      400,
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'invalid_request_error',
      'empty_array',
      'messages',
    );
  }
  const index = messages.findIndex((message) => !isObject(message) || typeof message.role !== 'string');
  return index < 0 ? undefined : missingParameter(`messages[${index}].role`);
}

function embeddingRequestProblem(body: ParsedBody, modelFromPath: boolean): SimError | undefined {
  const problem = bodyProblem(body, modelFromPath);
  if (problem) return problem;
  const request = body.value as Json;
  if (request.input === undefined) return missingParameter('input');
  if (!embeddingInputs(request.input)) {
    return simError(
      400,
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      'invalid_request_error',
      null,
    );
  }
  const dimensions = request.dimensions;
  if (
    dimensions !== undefined &&
    !(Number.isInteger(dimensions) && (dimensions as number) >= 1 && (dimensions as number) <= MAX_EMBEDDING_DIMENSIONS)
  ) {
    return simError(
      400,
      `Invalid value for 'dimensions': ${textOf(dimensions)}.`,
      'invalid_request_error',
      'invalid_value',
      'dimensions',
    );
  }
  return undefined;
}

function modelObject(id: string): ModelObject {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: 'system' };
}

function messageText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!isArray(content)) return '';
  return content.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join(' ');
}

function chatToolOffers(tools: ChatCompletionRequest['tools']): ToolOffer[] {
  if (!isArray(tools)) return [];
  return tools.flatMap((tool) =>
    isObject(tool) && isObject(tool.function) && typeof tool.function.name === 'string'
      ? [{ name: tool.function.name, kind: 'function' as const }]
      : [],
  );
}

function chatToolChoice(choice: ChatCompletionRequest['tool_choice']): ToolChoiceMode {
  if (choice === 'none' || choice === 'required') return { mode: choice };
  if (
    isObject(choice) &&
    choice.type === 'function' &&
    isObject(choice.function) &&
    typeof choice.function.name === 'string'
  ) {
    return { mode: 'function', name: choice.function.name };
  }
  return { mode: 'auto' };
}

/** A string, an array of strings, one token array, or an array of token arrays; undefined when none fits. */
function embeddingInputs(input: unknown): Array<string | number[]> | undefined {
  const isTokens = (value: unknown): value is number[] =>
    isArray(value) && value.length > 0 && value.every((token) => Number.isInteger(token));
  if (typeof input === 'string') return input === '' ? undefined : [input];
  if (isTokens(input)) return [input];
  if (!isArray(input) || input.length === 0) return undefined;
  const valid = input.every((item) => (typeof item === 'string' && item !== '') || isTokens(item));
  return valid ? (input as Array<string | number[]>) : undefined;
}

/** A unit-length vector from SHA-256 of the text, rounded to float32 so float and base64 answers agree. */
function embeddingVector(text: string, dimensions: number): number[] {
  const raw: number[] = [];
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let offset = 0; offset < digest.length && raw.length < dimensions; offset += 2) {
      raw.push((digest.readUInt16LE(offset) / 0xffff) * 2 - 1);
    }
  }
  const norm = Math.hypot(...raw) || 1;
  return raw.map((value) => Math.fround(value / norm));
}

function toBase64Float32(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
}
