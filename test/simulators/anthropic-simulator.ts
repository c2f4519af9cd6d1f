/**
 * Anthropic Messages API simulator for e2e tests, the demo and benchmarks (wire format: spec §3).
 * `POST /v1/messages` checks the key (`x-api-key` or `Authorization: Bearer`), the `anthropic-version` header and
 * the body rules the real API enforces (max_tokens, alternating turns starting with user, tool_use/tool_result
 * pairing), then answers deterministically:
 * - last user turn holds tool_result blocks → `Tool said: <results>`;
 * - tools given (and tool_choice is not none) → a tool_use block for the first (or the chosen) tool, input
 *   `{"city":"Paris"}`;
 * - otherwise `Hello from <model>: <last user text>`, cut at stop sequences and at max_tokens (one word = one token).
 * Streams follow the event order of spec §3.4. Faults are queued with `enqueueFault` or `POST /__sim/faults`.
 */
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
  AnthropicErrorBody,
  AnthropicMessagesResponse,
  AnthropicResponseBlock,
  AnthropicStopReason,
  AnthropicStreamEvent,
} from '../../src/providers/anthropic/anthropic.types.js';
import { abortedOf, type ParsedBody, parseJson, readBody, writeJson } from './sim-http.js';

export interface AnthropicSimulatorFault {
  /** Answer with this status and an Anthropic error body. */
  status?: number;
  /** The body's `error.type`; by default the one Anthropic uses for `status` (529 → overloaded_error, …). */
  errorType?: string;
  /** The body's `error.message`; by default a realistic text for the type. */
  message?: string;
  retryAfterSeconds?: number;
  /** Wait this long before sending headers; the answer is normal afterwards. */
  firstByteDelayMs?: number;
  /** Streams only: an `event: error` (overloaded_error unless `errorType`) after two content deltas. */
  midStreamError?: boolean;
  /** Streams only: close the connection after this many events (no `message_stop`). */
  dropAfterEvents?: number;
  /** Never answer; the request ends only when the client hangs up or the simulator stops. */
  hang?: boolean;
  /** How many requests consume the fault (stream-only faults are skipped by non-stream requests). Default 1. */
  times?: number;
}

export interface AnthropicSimulatorOptions {
  /** The key requests must carry. Default `sk-ant-sim`. */
  apiKey?: string;
  /** Delay between stream events. Default 0. */
  eventDelayMs?: number;
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

export interface AnthropicSimulatorStats {
  received: number;
  hungUp: number;
  inFlight: number;
  messages: number;
  streams: number;
  errors: number;
}

const MESSAGES_PATH = '/v1/messages';
const CONTROL_PREFIX = '/__sim/';
const TOOL_INPUT = { city: 'Paris' };
const MAX_ECHOED_CHARS = 200;
const TOKENS_PER_MESSAGE = 3;
const MIN_STREAM_PIECES = 3;
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

const DEFAULT_ERRORS: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'The simulator was asked to reject this request.' },
  401: { type: 'authentication_error', message: 'invalid x-api-key' },
  402: { type: 'billing_error', message: 'Your credit balance is too low to access the Anthropic API.' },
  403: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' },
  404: { type: 'not_found_error', message: 'The requested resource could not be found.' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' },
  429: {
    type: 'rate_limit_error',
    message: 'This request would exceed the rate limit for your organization of 50 requests per minute.',
  },
  500: { type: 'api_error', message: 'Internal server error' },
  504: { type: 'timeout_error', message: 'Request timed out' },
  529: { type: 'overloaded_error', message: 'Overloaded' },
};

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  record: RecordedRequest;
  signal: AbortSignal;
  requestId: string;
  fault?: AnthropicSimulatorFault;
  droppedByServer: boolean;
}

interface QueuedFault {
  fault: AnthropicSimulatorFault;
  remaining: number;
}

type Json = Record<string, unknown>;

export class AnthropicSimulator {
  readonly requests: RecordedRequest[] = [];
  readonly apiKey: string;
  eventDelayMs: number;
  private readonly faults: QueuedFault[] = [];
  private server?: Server;
  private stopping = false;
  private receivedCount = 0;
  private hungUpCount = 0;
  private inFlightCount = 0;
  private messageCount = 0;
  private streamCount = 0;
  private errorCount = 0;
  private idCounter = 0;
  private requestCounter = 0;

  constructor(options: AnthropicSimulatorOptions = {}) {
    this.apiKey = options.apiKey ?? 'sk-ant-sim';
    this.eventDelayMs = options.eventDelayMs ?? 0;
  }

  get received(): number {
    return this.receivedCount;
  }

  /** Requests whose client closed the connection before the response finished. */
  get hungUp(): number {
    return this.hungUpCount;
  }

  stats(): AnthropicSimulatorStats {
    return {
      received: this.receivedCount,
      hungUp: this.hungUpCount,
      inFlight: this.inFlightCount,
      messages: this.messageCount,
      streams: this.streamCount,
      errors: this.errorCount,
    };
  }

  /** Starts listening and returns the base URL, e.g. `http://127.0.0.1:41234/v1`. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    return `http://${host}:${(server.address() as AddressInfo).port}/v1`;
  }

  /** Closes the server and every connection, hung requests included. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  /** Queues a fault for the next request(s) it applies to, first in first out. */
  enqueueFault(fault: AnthropicSimulatorFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Clears faults, recorded requests and counters. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.receivedCount = 0;
    this.hungUpCount = 0;
    this.messageCount = 0;
    this.streamCount = 0;
    this.errorCount = 0;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    if (path.startsWith(CONTROL_PREFIX)) {
      this.handleControl(req, res, path).catch((error: unknown) => {
        if (!res.headersSent) writeJson(res, 500, anthropicError('api_error', describe(error)));
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
      requestId: `req_sim_${String(++this.requestCounter).padStart(6, '0')}`,
      droppedByServer: false,
    };
    this.requests.push(record);
    this.receivedCount++;
    this.inFlightCount++;
    res.on('close', () => {
      this.inFlightCount--;
      if (!res.writableFinished && !exchange.droppedByServer && !this.stopping) {
        record.hungUp = true;
        this.hungUpCount++;
      }
      controller.abort();
    });
    this.handle(exchange).catch((error: unknown) => this.failExchange(exchange, error));
  }

  private async handle(exchange: Exchange): Promise<void> {
    const body = parseJson(await readBody(exchange.req));
    exchange.record.body = body.value;
    const streaming = isObject(body.value) && body.value.stream === true;
    const fault = this.takeFault(streaming);
    if (fault) {
      exchange.fault = fault;
      if (fault.hang) return abortedOf(exchange.signal);
      if (fault.firstByteDelayMs) await sleep(fault.firstByteDelayMs, undefined, { signal: exchange.signal });
      if (fault.status !== undefined) {
        const defaults = DEFAULT_ERRORS[fault.status] ?? DEFAULT_ERRORS[fault.status >= 500 ? 500 : 400];
        const type = fault.errorType ?? defaults.type;
        const message = fault.message ?? DEFAULT_ERRORS[statusOfType(type)]?.message ?? defaults.message;
        return this.sendError(exchange, fault.status, type, message);
      }
    }

    const { method } = exchange.record;
    if (method !== 'POST' || exchange.path !== MESSAGES_PATH) {
      return this.sendError(exchange, 404, 'not_found_error', 'Not Found');
    }
    if (!this.authorized(exchange.req))
      return this.sendError(exchange, 401, 'authentication_error', 'invalid x-api-key');
    if (!exchange.req.headers['anthropic-version']) {
      return this.sendError(exchange, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    if (!body.valid)
      return this.sendError(exchange, 400, 'invalid_request_error', 'There was an error parsing the body.');
    const problem = requestProblem(body.value);
    if (problem) return this.sendError(exchange, 400, 'invalid_request_error', problem);

    const message = this.answer(body.value as Json);
    if (streaming) return this.stream(exchange, message);
    this.messageCount++;
    this.sendJson(exchange, 200, message);
  }

  private authorized(req: IncomingMessage): boolean {
    return req.headers['x-api-key'] === this.apiKey || req.headers.authorization === `Bearer ${this.apiKey}`;
  }

  private takeFault(streaming: boolean): AnthropicSimulatorFault | undefined {
    const index = this.faults.findIndex(
      ({ fault }) => streaming || (!fault.midStreamError && fault.dropAfterEvents === undefined),
    );
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  private answer(request: Json): AnthropicMessagesResponse {
    const model = request.model as string;
    const messages = request.messages as Json[];
    const lastUser = messages.findLast((message) => message.role === 'user') as Json;
    const last = messages.at(-1) as Json;
    const inputTokens =
      countWords(systemText(request.system)) +
      messages.reduce((sum, message) => sum + countWords(contentText(message.content)) + TOKENS_PER_MESSAGE, 0);
    const id = ++this.idCounter;
    const response = (
      content: AnthropicResponseBlock[],
      stopReason: AnthropicStopReason,
      outputTokens: number,
      stopSequence: string | null = null,
    ): AnthropicMessagesResponse => ({
      id: `msg_sim_${String(id).padStart(6, '0')}`,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: stopSequence,
      usage: {
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });

    const toolResults =
      last.role === 'user' && Array.isArray(last.content)
        ? (last.content as Json[]).filter((block) => block.type === 'tool_result')
        : [];
    const tools = Array.isArray(request.tools) ? (request.tools as Json[]) : [];
    const choice = isObject(request.tool_choice) ? request.tool_choice : undefined;
    if (toolResults.length === 0 && tools.length > 0 && last.role === 'user' && choice?.type !== 'none') {
      const name = choice?.type === 'tool' ? (choice.name as string) : (tools[0].name as string);
      const block: AnthropicResponseBlock = {
        type: 'tool_use',
        id: `toolu_sim_${String(id).padStart(6, '0')}`,
        name,
        input: { ...TOOL_INPUT },
      };
      return response([block], 'tool_use', countWords(JSON.stringify(TOOL_INPUT)) + TOKENS_PER_MESSAGE);
    }

    let text =
      toolResults.length > 0
        ? `Tool said: ${toolResults
            .map((block) => contentText(block.content))
            .join('; ')
            .slice(0, MAX_ECHOED_CHARS)}`
        : `Hello from ${model}: ${contentText(lastUser.content).slice(0, MAX_ECHOED_CHARS)}`;
    let stopReason: AnthropicStopReason = 'end_turn';
    let stopSequence: string | null = null;
    for (const sequence of Array.isArray(request.stop_sequences) ? (request.stop_sequences as string[]) : []) {
      const at = text.indexOf(sequence);
      if (at >= 0 && (stopSequence === null || at < text.indexOf(stopSequence))) stopSequence = sequence;
    }
    if (stopSequence !== null) {
      text = text.slice(0, text.indexOf(stopSequence));
      stopReason = 'stop_sequence';
    }
    const words = splitWords(text);
    const maxTokens = request.max_tokens as number;
    if (words.length > maxTokens) {
      text = words.slice(0, maxTokens).join('').trimEnd();
      stopReason = 'max_tokens';
      stopSequence = null;
    }
    return response(text === '' ? [] : [{ type: 'text', text }], stopReason, countWords(text), stopSequence);
  }

  private async stream(exchange: Exchange, message: AnthropicMessagesResponse): Promise<void> {
    this.streamCount++;
    const fault = exchange.fault ?? {};
    const events = streamEvents(message);
    if (fault.midStreamError) {
      let deltas = 0;
      const cut = events.findIndex((event) => event.type === 'content_block_delta' && ++deltas === 2);
      events.splice(cut < 0 ? 1 : cut + 1);
      const type = fault.errorType ?? 'overloaded_error';
      events.push({
        type: 'error',
        error: { type, message: fault.message ?? DEFAULT_ERRORS[statusOfType(type)]?.message ?? 'Error' },
      });
    }
    const { res, signal } = exchange;
    res.writeHead(200, this.headers(exchange, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' }));
    res.flushHeaders();
    for (const [index, event] of events.entries()) {
      if (index === fault.dropAfterEvents) return this.drop(exchange);
      if (index > 0 && this.eventDelayMs > 0) await sleep(this.eventDelayMs, undefined, { signal });
      await this.writeEvent(
        exchange,
        `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
        index + 1 === fault.dropAfterEvents,
      );
    }
    if (fault.dropAfterEvents !== undefined) return this.drop(exchange);
    res.end();
  }

  /** Writes one event; with `flush`, waits until it reached the socket so that a drop that follows keeps it. */
  private async writeEvent(exchange: Exchange, text: string, flush: boolean): Promise<void> {
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
          anthropicError('invalid_request_error', 'Expected a fault object or an array of them.'),
        );
      }
      for (const fault of faults) this.enqueueFault(fault as AnthropicSimulatorFault);
      return writeJson(res, 200, { queued: this.faults.length });
    }
    writeJson(res, 404, anthropicError('not_found_error', 'Not Found'));
  }

  private failExchange(exchange: Exchange, error: unknown): void {
    // Aborted means the client hung up or the simulator stopped: nobody is left to answer.
    if (exchange.signal.aborted) return;
    if (exchange.res.headersSent) {
      exchange.res.destroy();
      return;
    }
    this.sendError(exchange, 500, 'api_error', `Simulator failure: ${describe(error)}`);
  }

  private headers(exchange: Exchange, contentType: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const retryAfter = exchange.fault?.retryAfterSeconds;
    return {
      'content-type': contentType,
      'request-id': exchange.requestId,
      'anthropic-organization-id': 'org-simulator',
      ...extra,
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    };
  }

  private sendError(exchange: Exchange, status: number, type: string, message: string): void {
    this.errorCount++;
    this.sendJson(exchange, status, anthropicError(type, message, exchange.requestId));
  }

  private sendJson(exchange: Exchange, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    exchange.res.writeHead(
      status,
      this.headers(exchange, 'application/json', { 'content-length': Buffer.byteLength(text) }),
    );
    exchange.res.end(text);
  }
}

function anthropicError(type: string, message: string, requestId?: string): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: 'error', error: { type, message } };
  if (requestId) body.request_id = requestId;
  return body;
}

function statusOfType(type: string): number {
  const entry = Object.entries(DEFAULT_ERRORS).find(([, error]) => error.type === type);
  return entry ? Number(entry[0]) : 0;
}

/** What the real API rejects with 400 `invalid_request_error` (its message texts where known). */
function requestProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'Input should be a valid dictionary';
  if (typeof value.model !== 'string' || value.model === '') return 'model: Field required';
  if (value.max_tokens === undefined) return 'max_tokens: Field required';
  if (!Number.isInteger(value.max_tokens) || (value.max_tokens as number) < 0) {
    return 'max_tokens: Input should be a valid integer';
  }
  for (const field of ['temperature', 'top_p']) {
    const number = value[field];
    if (number !== undefined && (typeof number !== 'number' || number < 0 || number > 1)) {
      return `${field}: Input should be less than or equal to 1`;
    }
  }
  if (value.system !== undefined && typeof value.system !== 'string' && !isTextBlockList(value.system)) {
    return 'system: Input should be a valid string';
  }
  if (value.tools !== undefined) {
    if (!Array.isArray(value.tools)) return 'tools: Input should be a valid list';
    const index = value.tools.findIndex(
      (tool) => !isObject(tool) || typeof tool.name !== 'string' || !isObject(tool.input_schema),
    );
    if (index >= 0) return `tools.${index}.input_schema: Field required`;
  }
  return messagesProblem(value.messages);
}

function messagesProblem(messages: unknown): string | undefined {
  if (messages === undefined) return 'messages: Field required';
  if (!Array.isArray(messages)) return 'messages: Input should be a valid list';
  if (messages.length === 0) return 'messages: at least one message is required';
  for (const [i, message] of messages.entries()) {
    if (!isObject(message) || (message.role !== 'user' && message.role !== 'assistant')) {
      return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    }
    if (i === 0 && message.role !== 'user') return 'messages: first message must use the "user" role';
    if (i > 0 && (messages[i - 1] as Json).role === message.role) {
      return `messages: roles must alternate between "user" and "assistant", but found multiple "${message.role}" roles in a row`;
    }
    const content = message.content;
    const isFinalAssistant = i === messages.length - 1 && message.role === 'assistant';
    if (typeof content === 'string') {
      if (content === '' && !isFinalAssistant) {
        return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
      }
      continue;
    }
    if (!Array.isArray(content)) return `messages.${i}.content: Input should be a valid list`;
    if (content.length === 0 && !isFinalAssistant) {
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    for (const [j, block] of content.entries()) {
      const problem = blockProblem(block, message.role as string, `messages.${i}.content.${j}`);
      if (problem) return problem;
    }
  }
  return toolPairingProblem(messages as Json[]);
}

function blockProblem(block: unknown, role: string, path: string): string | undefined {
  if (!isObject(block)) return `${path}: Input should be a valid dictionary`;
  switch (block.type) {
    case 'text':
      if (typeof block.text !== 'string') return `${path}.text: Field required`;
      return block.text === '' ? 'messages: text content blocks must be non-empty' : undefined;
    case 'image': {
      const source = block.source;
      if (role !== 'user') return `${path}: image blocks are only allowed in user messages`;
      if (isObject(source) && source.type === 'url' && typeof source.url === 'string') return undefined;
      if (isObject(source) && source.type === 'base64' && typeof source.data === 'string') {
        return IMAGE_MEDIA_TYPES.has(source.media_type as string)
          ? undefined
          : `${path}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`;
      }
      return `${path}.source: Input tag does not match any of the expected tags: 'base64', 'url', 'file'`;
    }
    case 'tool_use':
      if (role !== 'assistant') return `${path}: tool_use blocks are only allowed in assistant messages`;
      return typeof block.id === 'string' && typeof block.name === 'string' && isObject(block.input)
        ? undefined
        : `${path}.input: Input should be a valid dictionary`;
    case 'tool_result':
      if (role !== 'user') return `${path}: tool_result blocks are only allowed in user messages`;
      return typeof block.tool_use_id === 'string' ? undefined : `${path}.tool_use_id: Field required`;
    default:
      return `${path}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags`;
  }
}

/** Every tool_use needs a tool_result in the next turn and every tool_result a tool_use in the previous one. */
function toolPairingProblem(messages: Json[]): string | undefined {
  for (let i = 0; i < messages.length; i++) {
    const blocks = Array.isArray(messages[i].content) ? (messages[i].content as Json[]) : [];
    if (messages[i].role === 'assistant') {
      const next = messages[i + 1];
      if (!next) continue;
      const answered = new Set(
        (Array.isArray(next.content) ? (next.content as Json[]) : [])
          .filter((block) => block.type === 'tool_result')
          .map((block) => block.tool_use_id),
      );
      const missing = blocks
        .filter((block) => block.type === 'tool_use' && !answered.has(block.id))
        .map((block) => block.id);
      if (missing.length > 0) {
        return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
      }
      continue;
    }
    const previous = i > 0 ? messages[i - 1] : undefined;
    const offered = new Set(
      (Array.isArray(previous?.content) ? (previous.content as Json[]) : [])
        .filter((block) => block.type === 'tool_use')
        .map((block) => block.id),
    );
    for (const [j, block] of blocks.entries()) {
      if (block.type === 'tool_result' && !offered.has(block.tool_use_id)) {
        return `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
    }
  }
  return undefined;
}

function isTextBlockList(value: unknown): boolean {
  return (
    Array.isArray(value) &&
    value.every((block) => isObject(block) && block.type === 'text' && typeof block.text === 'string')
  );
}

function systemText(system: unknown): string {
  return typeof system === 'string' ? system : contentText(system);
}

/** The text of a string or of a block list's text blocks (tool_result contents included). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as unknown[])
    .flatMap((block) => {
      if (!isObject(block)) return [];
      if (block.type === 'text' && typeof block.text === 'string') return [block.text];
      if (block.type === 'tool_result') return [contentText(block.content)];
      return [];
    })
    .join(' ');
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** Word-sized pieces (leading whitespace kept with the first) whose concatenation is exactly `text`. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/gy) ?? [];
}

/** At least MIN_STREAM_PIECES non-empty pieces (when the text is long enough) whose concatenation is `text`. */
function splitForStream(text: string): string[] {
  const words = splitWords(text);
  if (words.length >= MIN_STREAM_PIECES || text.length < MIN_STREAM_PIECES) return words;
  const size = Math.ceil(text.length / MIN_STREAM_PIECES);
  const pieces: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) pieces.push(text.slice(offset, offset + size));
  return pieces;
}

/** The event sequence of spec §3.4 for a finished message. */
function streamEvents(message: AnthropicMessagesResponse): AnthropicStreamEvent[] {
  const events: AnthropicStreamEvent[] = [
    {
      type: 'message_start',
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...message.usage, output_tokens: 1 },
      },
    },
  ];
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      if (index === 0) events.push({ type: 'ping' });
      for (const text of splitForStream(block.text)) {
        events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
      }
    } else if (block.type === 'tool_use') {
      events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
      if (index === 0) events.push({ type: 'ping' });
      // The API's first input_json_delta is often empty.
      for (const partial_json of ['', ...splitForStream(JSON.stringify(block.input))]) {
        events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
      }
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
    usage: { output_tokens: message.usage.output_tokens },
  });
  events.push({ type: 'message_stop' });
  return events;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
