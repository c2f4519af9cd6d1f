/**
 * OpenAI-compatible provider simulator for e2e tests, the demo and benchmarks (wire format: spec §1).
 * Answers are deterministic: chat echoes the last user message, embeddings are derived from a hash of the input.
 * Faults (error statuses, delays, dropped, malformed or failing streams, hangs) can be queued from code with
 * `enqueueFault` or from another process with `POST /__sim/faults`.
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
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkChoice,
  Embedding,
  EmbeddingRequest,
  EmbeddingResponse,
  FinishReason,
  ModelObject,
  Usage,
} from '../../src/common/openai.types.js';
import { abortedOf, type ParsedBody, parseJson, readBody, writeJson } from './sim-http.js';

export interface SimulatorFault {
  /** Answer with this status and an OpenAI error body (or `body`, sent as is). */
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
  /** Streaming: one content chunk, then a `data: {"error":…}` event and the end of the stream (no `[DONE]`). */
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
}

export interface RecordedRequest {
  method: string;
  path: string;
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
const CONTROL_PREFIX = '/__sim/';
const MAX_ECHOED_CHARS = 200;
const TOKENS_PER_MESSAGE = 3;
const DEFAULT_EMBEDDING_DIMENSIONS = 8;
const MAX_EMBEDDING_DIMENSIONS = 4096;
const TOOL_ARGUMENTS = '{"city":"Paris"}';
const TOOL_ARGUMENT_FRAGMENT_CHARS = 4;
const MODEL_CREATED = 1_721_172_741;
const MODEL_IDS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'text-embedding-3-small', 'text-embedding-3-large'];

/** One request being answered, with what the close handler needs to tell a hang-up from a deliberate drop. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  record: RecordedRequest;
  signal: AbortSignal;
  requestId: string;
  fault?: SimulatorFault;
  droppedByServer: boolean;
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
  finishReason: FinishReason;
  usage: Usage;
}

interface ResponseMeta {
  id: string;
  created: number;
  model: string;
  systemFingerprint: string;
}

export class OpenAiSimulator {
  readonly name: string;
  readonly requests: RecordedRequest[] = [];
  private apiKey?: string;
  private readonly chunkDelayMs: number;
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
    this.name = options.name ?? 'openai';
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
    return `http://${hostPart}:${address.port}/v1`;
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

  /** Queues a fault for the next matching request(s), first in first out. */
  /** Accepts a different key from now on (a rotation at the provider). */
  setApiKey(apiKey: string | undefined): void {
    this.apiKey = apiKey;
  }

  enqueueFault(fault: SimulatorFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Clears faults, recorded requests and counters (requests still in flight keep being counted in `inFlight`). */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.receivedCount = 0;
    this.hungUpCount = 0;
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

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
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
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    const exchange: Exchange = {
      req,
      res,
      path,
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
    const authError = this.authError(exchange.req);
    if (authError) return this.sendJson(exchange, 401, authError);

    const fault = this.takeFault(exchange.path);
    const streaming = exchange.path === CHAT_PATH && isObject(body.value) && body.value.stream === true;
    if (fault && (await this.applyFault(exchange, fault, streaming))) return;

    const { method } = exchange.record;
    if (method === 'POST' && exchange.path === CHAT_PATH) return this.chat(exchange, body);
    if (method === 'POST' && exchange.path === EMBEDDINGS_PATH) return this.embeddings(exchange, body);
    if (method === 'GET' && exchange.path === MODELS_PATH) {
      return this.sendJson(exchange, 200, { object: 'list', data: MODEL_IDS.map(modelObject) });
    }
    if (method === 'GET' && exchange.path.startsWith(`${MODELS_PATH}/`)) {
      return this.sendJson(exchange, 200, modelObject(decodeURIComponent(exchange.path.slice(MODELS_PATH.length + 1))));
    }
    this.sendJson(
      exchange,
      404,
      openAiError(`Invalid URL (${method} ${exchange.path})`, 'invalid_request_error', null),
    );
  }

  private authError(req: IncomingMessage): OpenAiErrorBody | undefined {
    if (this.apiKey === undefined) return undefined;
    const authorization = req.headers.authorization;
    if (authorization === `Bearer ${this.apiKey}`) return undefined;
    const message = authorization
      ? `Incorrect API key provided: ${maskKey(authorization.replace(/^Bearer\s*/i, ''))}. You can find your API key at https://platform.openai.com/account/api-keys.`
      : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.";
    return openAiError(message, 'invalid_request_error', 'invalid_api_key');
  }

  private takeFault(path: string): SimulatorFault | undefined {
    const index = this.faults.findIndex(({ fault }) =>
      (fault.paths ?? [CHAT_PATH]).some((pattern) => pattern === path || `/v1${pattern}` === path),
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
      this.sendJson(exchange, fault.status, fault.body ?? faultErrorBody(fault.status, exchange.record.body));
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

  private async chat(exchange: Exchange, body: ParsedBody): Promise<void> {
    const problem = chatRequestProblem(body);
    if (problem) return this.sendJson(exchange, 400, problem);
    const request = body.value as ChatCompletionRequest;
    const counter = ++this.completionCounter;
    const answer = answerChat(request, counter);
    const meta: ResponseMeta = {
      id: `chatcmpl-sim-${counter}`,
      created: Math.floor(Date.now() / 1000),
      model: request.model,
      systemFingerprint: `fp_sim_${this.name}`,
    };
    if (request.stream === true) {
      return this.streamChat(exchange, toStreamChunks(meta, answer, request.stream_options?.include_usage === true));
    }
    this.sendJson(exchange, 200, toCompletion(meta, answer));
  }

  private async streamChat(exchange: Exchange, chunks: ChatCompletionChunk[]): Promise<void> {
    const fault = exchange.fault ?? {};
    const delayMs = fault.chunkDelayMs ?? this.chunkDelayMs;
    const { res, signal } = exchange;
    res.writeHead(200, this.headers(exchange, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }));
    res.flushHeaders();
    for (const [index, chunk] of chunks.entries()) {
      if (index === fault.dropAfterChunks) return this.drop(exchange);
      if (index > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
      if (index > 0 && index === fault.stallAfterChunks) await sleep(fault.stallMs ?? 1_000, undefined, { signal });
      await this.writeEvent(exchange, sseEvent(chunk), index + 1 === fault.dropAfterChunks);
      if (index === 0 && fault.malformed) {
        await this.writeEvent(exchange, `data: {"id":"${chunk.id}","object":"chat.completion.chunk","choices":[{\n\n`);
      }
      if (index === 1 && fault.midStreamError) {
        await this.writeEvent(exchange, sseEvent(faultErrorBody(500, undefined)));
        res.end();
        return;
      }
    }
    if (fault.dropAfterChunks !== undefined) return this.drop(exchange);
    await this.writeEvent(exchange, 'data: [DONE]\n\n');
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

  private embeddings(exchange: Exchange, body: ParsedBody): void {
    const problem = embeddingRequestProblem(body);
    if (problem) return this.sendJson(exchange, 400, problem);
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
      model: request.model,
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
      const faults = Array.isArray(body.value) ? body.value : [body.value];
      if (!body.valid || !faults.every(isObject)) {
        return writeJson(
          res,
          400,
          openAiError('Expected a fault object or an array of them.', 'invalid_request_error', null),
        );
      }
      for (const fault of faults) this.enqueueFault(fault as SimulatorFault);
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

  private headers(exchange: Exchange, contentType: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
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

  private sendJson(exchange: Exchange, status: number, body: unknown): void {
    this.sendText(exchange, status, 'application/json', JSON.stringify(body));
  }

  private sendText(exchange: Exchange, status: number, contentType: string, text: string): void {
    exchange.res.writeHead(status, this.headers(exchange, contentType, { 'content-length': Buffer.byteLength(text) }));
    exchange.res.end(text);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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

/** The body OpenAI sends for `status`, so that clients see realistic messages, types and codes. */
function faultErrorBody(status: number, requestBody: unknown): OpenAiErrorBody {
  const model = isObject(requestBody) && typeof requestBody.model === 'string' ? requestBody.model : 'gpt-4o-mini';
  switch (status) {
    case 400:
      return openAiError(
        'Invalid request: the simulator was asked to reject this request.',
        'invalid_request_error',
        null,
      );
    case 401:
      return openAiError(
        'Incorrect API key provided: sk-***sim. You can find your API key at https://platform.openai.com/account/api-keys.',
        'invalid_request_error',
        'invalid_api_key',
      );
    case 403:
      return openAiError(
        'Country, region, or territory not supported',
        'request_forbidden',
        'unsupported_country_region_territory',
      );
    case 404:
      return openAiError(
        `The model \`${model}\` does not exist or you do not have access to it.`,
        'invalid_request_error',
        'model_not_found',
        'model',
      );
    case 408:
      return openAiError('Request timed out.', 'server_error', null);
    case 409:
      return openAiError('The request conflicted with another request. Please try again.', 'server_error', null);
    case 429:
      return openAiError(
        `Rate limit reached for ${model} in organization org-simulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        'requests',
        'rate_limit_exceeded',
      );
    case 500:
      return openAiError(
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        null,
      );
    case 502:
      return openAiError('Bad gateway.', 'server_error', null);
    case 503:
      return openAiError('The engine is currently overloaded, please try again later.', 'server_error', null);
    case 504:
      return openAiError('Gateway timeout.', 'server_error', null);
    default:
      return status >= 500
        ? openAiError(`The server returned status ${status}.`, 'server_error', null)
        : openAiError(`The request failed with status ${status}.`, 'invalid_request_error', null);
  }
}

function missingParameter(param: string): OpenAiErrorBody {
  return openAiError(
    `Missing required parameter: '${param}'.`,
    'invalid_request_error',
    'missing_required_parameter',
    param,
  );
}

function bodyProblem(body: ParsedBody): OpenAiErrorBody | undefined {
  if (!body.valid) {
    return openAiError(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
      'invalid_request_error',
      null,
    );
  }
  if (!isObject(body.value)) {
    return openAiError("Invalid type for '$': expected an object.", 'invalid_request_error', 'invalid_type');
  }
  if (typeof body.value.model !== 'string' || body.value.model === '') {
    return openAiError('you must provide a model parameter', 'invalid_request_error', null);
  }
  return undefined;
}

function chatRequestProblem(body: ParsedBody): OpenAiErrorBody | undefined {
  const problem = bodyProblem(body);
  if (problem) return problem;
  const messages = (body.value as Record<string, unknown>).messages;
  if (messages === undefined) return missingParameter('messages');
  if (!Array.isArray(messages)) {
    return openAiError(
      "Invalid type for 'messages': expected an array.",
      'invalid_request_error',
      'invalid_type',
      'messages',
    );
  }
  if (messages.length === 0) {
    return openAiError(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'invalid_request_error',
      'empty_array',
      'messages',
    );
  }
  const index = messages.findIndex((message) => !isObject(message) || typeof message.role !== 'string');
  return index < 0 ? undefined : missingParameter(`messages[${index}].role`);
}

function embeddingRequestProblem(body: ParsedBody): OpenAiErrorBody | undefined {
  const problem = bodyProblem(body);
  if (problem) return problem;
  const request = body.value as Record<string, unknown>;
  if (request.input === undefined) return missingParameter('input');
  if (!embeddingInputs(request.input)) {
    return openAiError(
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
    return openAiError(
      `Invalid value for 'dimensions': ${String(dimensions)}.`,
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
  if (!Array.isArray(content)) return '';
  return content.flatMap((part) => (part.type === 'text' ? [part.text] : [])).join(' ');
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** Word-sized pieces whose concatenation is exactly `text` (it never starts with whitespace). */
function splitIntoPieces(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

function splitEvery(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) parts.push(text.slice(offset, offset + size));
  return parts;
}

function usageOf(promptTokens: number, completionTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function answerChat(request: ChatCompletionRequest, counter: number): ChatAnswer {
  const messages = request.messages;
  const last = messages.at(-1);
  const promptTokens = messages.reduce(
    (sum, message) => sum + countWords(messageText(message.content)) + TOKENS_PER_MESSAGE,
    0,
  );
  const toolName = Array.isArray(request.tools) ? request.tools[0]?.function?.name : undefined;
  if (typeof toolName === 'string' && last?.role === 'user' && request.tool_choice !== 'none') {
    const argumentFragments = splitEvery(TOOL_ARGUMENTS, TOOL_ARGUMENT_FRAGMENT_CHARS);
    return {
      pieces: null,
      toolCall: { id: `call_sim_${counter}`, name: toolName, argumentFragments },
      finishReason: 'tool_calls',
      usage: usageOf(promptTokens, argumentFragments.length),
    };
  }
  const text =
    last?.role === 'tool'
      ? `Tool said: ${messageText(last.content).slice(0, MAX_ECHOED_CHARS)}`
      : `Hello from ${request.model}: ${messageText(messages.findLast((message) => message.role === 'user')?.content).slice(0, MAX_ECHOED_CHARS)}`;
  const pieces = splitIntoPieces(text);
  const limit = request.max_completion_tokens ?? request.max_tokens;
  const truncated = typeof limit === 'number' && limit >= 0 && limit < pieces.length;
  const kept = truncated ? pieces.slice(0, limit) : pieces;
  return { pieces: kept, finishReason: truncated ? 'length' : 'stop', usage: usageOf(promptTokens, kept.length) };
}

function toCompletion(meta: ResponseMeta, answer: ChatAnswer): ChatCompletion {
  const toolCall = answer.toolCall;
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
          content: answer.pieces?.join('') ?? null,
          refusal: null,
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
      },
    ],
    usage: answer.usage,
    service_tier: 'default',
    system_fingerprint: meta.systemFingerprint,
  };
}

/** The chunks of spec §1.5, in order; `[DONE]` is added by the writer. */
function toStreamChunks(meta: ResponseMeta, answer: ChatAnswer, includeUsage: boolean): ChatCompletionChunk[] {
  const chunk = (choices: ChunkChoice[], usage: Usage | null = null): ChatCompletionChunk => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    service_tier: 'default',
    system_fingerprint: meta.systemFingerprint,
    choices,
    usage,
  });
  const deltaChunk = (delta: ChunkChoice['delta'], finishReason: FinishReason | null = null) =>
    chunk([{ index: 0, delta, logprobs: null, finish_reason: finishReason }]);

  const chunks: ChatCompletionChunk[] = [];
  const toolCall = answer.toolCall;
  if (toolCall) {
    // As OpenAI does for tool calls: content stays null, the call's id, type and name come first, then arguments.
    chunks.push(deltaChunk({ role: 'assistant', content: null }));
    chunks.push(
      deltaChunk({
        tool_calls: [{ index: 0, id: toolCall.id, type: 'function', function: { name: toolCall.name, arguments: '' } }],
      }),
    );
    for (const fragment of toolCall.argumentFragments) {
      chunks.push(deltaChunk({ tool_calls: [{ index: 0, function: { arguments: fragment } }] }));
    }
  } else {
    chunks.push(deltaChunk({ role: 'assistant', content: '' }));
    for (const piece of answer.pieces ?? []) chunks.push(deltaChunk({ content: piece }));
  }
  chunks.push(deltaChunk({}, answer.finishReason));
  if (includeUsage) chunks.push(chunk([], answer.usage));
  return chunks;
}

/** A string, an array of strings, one token array, or an array of token arrays; undefined when none fits. */
function embeddingInputs(input: unknown): Array<string | number[]> | undefined {
  const isTokens = (value: unknown): value is number[] =>
    Array.isArray(value) && value.length > 0 && value.every((token) => Number.isInteger(token));
  if (typeof input === 'string') return input === '' ? undefined : [input];
  if (isTokens(input)) return [input];
  if (!Array.isArray(input) || input.length === 0) return undefined;
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
