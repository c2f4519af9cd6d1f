/**
 * Baidu ERNIE simulator (wire format: spec §2a v1, §2b v2) for provider tests, e2e tests and the demo.
 *
 * v1: `POST|GET /oauth/2.0/token` issues access tokens for the configured API Key / Secret Key; chat lives at
 * `POST /rpc/2.0/ai_custom/v1/wenxinworkshop/chat/<endpoint>?access_token=…`, answers errors with HTTP 200 and
 * `{error_code, error_msg}`, and streams `data: {…}\n\n` events (no `[DONE]`) ending with `is_end: true`.
 * v2: `POST /v2/chat/completions`, OpenAI format, `Authorization: Bearer <key>` and an `appid` header.
 *
 * Answers are deterministic: "Hello from <endpoint>: <last user text>", streamed in at least three sentences. Offered
 * functions are called when the user spoke last: the one a `SIM_TOOL <name> <json-object>` line names, with exactly
 * those arguments, else the first.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ParsedBody, parseJson, readBody, writeJson } from './sim-http.js';
import { minimalJsonInstance, parseDirectives } from './openai-sim-common.js';
import { isArray, isObject, type Json, textOf } from './sim-json.js';

export interface ErnieSimulatorOptions {
  /** The application's API Key (OAuth `client_id`). */
  apiKey?: string;
  /** The application's Secret Key (OAuth `client_secret`). */
  secretKey?: string;
  /** The v2 bearer key. Default: `apiKey`. */
  v2ApiKey?: string;
  /** The v2 `appid` header every request must carry. */
  appId?: string;
  /** Lifetime of issued tokens in seconds. Default 2 592 000 (30 days), as Baidu's. */
  expiresIn?: number;
  /** Accepted v1 chat endpoints. Default: any name. */
  endpoints?: string[];
  /** Delay between stream events. Default 0. */
  chunkDelayMs?: number;
}

/** Applies to the next v1 chat request(s) that carry a valid token. */
export interface ErnieFault {
  /** Answer HTTP 200 with `{error_code, error_msg}` instead of the result. */
  errorCode?: number;
  errorMsg?: string;
  /** Streaming: send the error body as the stream's only `data:` event instead of a JSON body. */
  asSseEvent?: boolean;
  /** Streaming: destroy the socket after this many events (no `is_end`). Otherwise: before answering. */
  dropAfterChunks?: number;
  /** How many requests consume the fault. Default 1. */
  times?: number;
}

export interface ErnieRecordedRequest {
  method: string;
  /** Path and query, with `access_token` and `client_secret` redacted. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  hungUp: boolean;
}

interface ErnieSimMessage {
  role?: unknown;
  content?: unknown;
  name?: unknown;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  record: ErnieRecordedRequest;
  signal: AbortSignal;
  droppedByServer: boolean;
}

export const TOKEN_PATH = '/oauth/2.0/token';
export const V1_CHAT_PREFIX = '/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/';
export const V2_CHAT_PATH = '/v2/chat/completions';
const REDACTED = '<redacted>';
const MAX_OUTPUT_TOKENS = 2048;
const MAX_OUTPUT_TOKENS_LONG = 4096;

/** v1 error bodies the simulator itself produces (messages as Baidu's, spec §2a). */
const ERRORS = {
  tokenInvalid: { error_code: 110, error_msg: 'Access token invalid or no longer valid' },
  tokenExpired: { error_code: 111, error_msg: 'Access token expired' },
  unsupportedMethod: { error_code: 3, error_msg: 'Unsupported openapi method' },
  invalidJson: { error_code: 336002, error_msg: 'Invalid JSON' },
} as const;

export class ErnieSimulator {
  readonly requests: ErnieRecordedRequest[] = [];
  /** Requests to the token endpoint, failed ones included. */
  tokenFetches = 0;
  /** Requests whose client closed the connection before the response finished. */
  hungUp = 0;
  private readonly apiKey: string;
  private readonly secretKey: string;
  private readonly v2ApiKey: string;
  private readonly appId: string | undefined;
  private readonly expiresIn: number;
  private readonly endpoints: ReadonlySet<string> | undefined;
  private readonly chunkDelayMs: number;
  /** Issued token → the error it now answers with (undefined while valid). */
  private readonly tokens = new Map<string, { error_code: number; error_msg: string } | undefined>();
  private readonly faults: Array<{ fault: ErnieFault; remaining: number }> = [];
  private server?: Server;
  private stopping = false;
  private counter = 0;

  constructor(options: ErnieSimulatorOptions = {}) {
    this.apiKey = options.apiKey ?? 'sim-api-key';
    this.secretKey = options.secretKey ?? 'sim-secret-key';
    this.v2ApiKey = options.v2ApiKey ?? this.apiKey;
    this.appId = options.appId;
    this.expiresIn = options.expiresIn ?? 2_592_000;
    this.endpoints = options.endpoints ? new Set(options.endpoints) : undefined;
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
  }

  /** Starts listening; returns the host root, e.g. `http://127.0.0.1:41234` (v2 base: `<root>/v2`). */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  enqueueFault(fault: ErnieFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Every token issued so far now answers `errorCode` (111 "expired" or 110 "invalid"). */
  expireTokens(errorCode: 110 | 111 = 111): void {
    const error = errorCode === 110 ? ERRORS.tokenInvalid : ERRORS.tokenExpired;
    for (const token of this.tokens.keys()) this.tokens.set(token, error);
  }

  /** Clears faults, records and counters; issued tokens stay valid. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.tokenFetches = 0;
    this.hungUp = 0;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const redacted = new URL(url);
    for (const name of ['access_token', 'client_secret']) {
      if (redacted.searchParams.has(name)) redacted.searchParams.set(name, REDACTED);
    }
    const record: ErnieRecordedRequest = {
      method: req.method ?? 'GET',
      path: `${redacted.pathname}${redacted.search}`,
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    this.requests.push(record);
    const controller = new AbortController();
    const exchange: Exchange = { req, res, url, record, signal: controller.signal, droppedByServer: false };
    res.on('close', () => {
      if (!res.writableFinished && !exchange.droppedByServer && !this.stopping) {
        record.hungUp = true;
        this.hungUp++;
      }
      controller.abort();
    });
    this.handle(exchange).catch(() => {
      if (exchange.signal.aborted) return;
      if (res.headersSent) res.destroy();
      else writeJson(res, 500, { error_code: 1, error_msg: 'Unknown error' });
    });
  }

  private async handle(exchange: Exchange): Promise<void> {
    const text = await readBody(exchange.req);
    const parsed = parseJson(text);
    exchange.record.body = parsed.valid ? parsed.value : text || undefined;
    const { pathname } = exchange.url;
    if (pathname === TOKEN_PATH) return this.token(exchange);
    if (pathname.startsWith(V1_CHAT_PREFIX) && exchange.req.method === 'POST') {
      return this.v1Chat(exchange, pathname.slice(V1_CHAT_PREFIX.length), parsed);
    }
    if (pathname === V2_CHAT_PATH && exchange.req.method === 'POST') return this.v2Chat(exchange, parsed);
    writeJson(exchange.res, 404, ERRORS.unsupportedMethod);
  }

  /** OAuth client credentials from the query string (spec §2a "Auth"). */
  private token(exchange: Exchange): void {
    this.tokenFetches++;
    const query = exchange.url.searchParams;
    const { res } = exchange;
    if (query.get('grant_type') !== 'client_credentials' || !query.get('client_id') || !query.get('client_secret')) {
      return writeJson(res, 400, {
        error: 'invalid_request',
        error_description: 'The request is missing a required parameter',
      });
    }
    if (query.get('client_id') !== this.apiKey) {
      return writeJson(res, 401, { error: 'invalid_client', error_description: 'unknown client id' });
    }
    if (query.get('client_secret') !== this.secretKey) {
      return writeJson(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' });
    }
    const serial = ++this.counter;
    const issuedAt = Math.floor(Date.now() / 1000);
    const token = `24.${digest(`token:${serial}`)}.${this.expiresIn}.${issuedAt}.${serial}-sim`;
    this.tokens.set(token, undefined);
    writeJson(res, 200, {
      access_token: token,
      expires_in: this.expiresIn,
      refresh_token: `25.${digest(`refresh:${serial}`)}`,
      scope: 'public wenxinworkshop_mgr',
      session_key: digest(`session:${serial}`),
      session_secret: digest(`secret:${serial}`),
    });
  }

  private async v1Chat(exchange: Exchange, endpoint: string, parsed: ParsedBody): Promise<void> {
    const { res } = exchange;
    const token = exchange.url.searchParams.get('access_token');
    if (!token || !this.tokens.has(token)) return writeJson(res, 200, ERRORS.tokenInvalid);
    const tokenError = this.tokens.get(token);
    if (tokenError) return writeJson(res, 200, tokenError);
    if (this.endpoints && !this.endpoints.has(endpoint)) return writeJson(res, 200, ERRORS.unsupportedMethod);
    if (!parsed.valid || !isObject(parsed.value)) return writeJson(res, 200, ERRORS.invalidJson);

    const request = parsed.value;
    const id = `as-sim${++this.counter}`;
    const streaming = request.stream === true;
    const fault = this.takeFault();
    if (fault?.errorCode !== undefined) {
      const error = { error_code: fault.errorCode, error_msg: fault.errorMsg ?? 'simulated error', id };
      if (streaming && fault.asSseEvent) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify(error)}\n\n`);
        return;
      }
      return writeJson(res, 200, error);
    }
    if (fault?.dropAfterChunks !== undefined && !streaming) return this.drop(exchange);

    const problem = v1RequestProblem(request, endpoint);
    if (problem) return writeJson(res, 200, { error_code: problem.code, error_msg: problem.message, id });

    const messages = request.messages as ErnieSimMessage[];
    const last = messages[messages.length - 1];
    const created = Math.floor(Date.now() / 1000);
    const promptTokens =
      countWords(typeof request.system === 'string' ? request.system : '') +
      messages.reduce((sum, message) => sum + countWords(textOf(message.content ?? '')), 0);
    const functions = isArray(request.functions) ? (request.functions as Array<{ name?: unknown }>) : [];
    const forced =
      isObject(request.tool_choice) && isObject(request.tool_choice.function)
        ? request.tool_choice.function.name
        : undefined;
    // `SIM_TOOL <name> <json>` in the user's turn calls that offered function with exactly those arguments.
    const directed = last.role === 'user' ? parseDirectives(textOf(last.content ?? '')).tool : undefined;
    const directedName = functions.some((fn) => fn.name === directed?.name) ? directed?.name : undefined;
    const functionName = typeof forced === 'string' ? forced : (directedName ?? functions[0]?.name);

    // A function call when functions are offered and the last turn is the user's; a tool result gets text back.
    if (typeof functionName === 'string' && last.role === 'user') {
      const call = {
        name: functionName,
        arguments:
          directed && functionName === directedName
            ? directed.arguments
            : JSON.stringify({ query: String(last.content) }),
        thoughts: 'The user asked; call the function.',
      };
      const answer = {
        id,
        object: 'chat.completion',
        created,
        result: '',
        is_truncated: false,
        need_clear_history: false,
        finish_reason: 'function_call',
        function_call: call,
        usage: usageOf(promptTokens, 8),
      };
      if (!streaming) return writeJson(res, 200, answer);
      return this.stream(exchange, [{ ...answer, sentence_id: 0, is_end: true }], fault);
    }

    const sentences = jsonModeAnswer(request) ?? [`Hello `, `from ${endpoint}: `, String(last.content)];
    const completionTokens = countWords(sentences.join(''));
    if (!streaming) {
      return writeJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        result: sentences.join(''),
        is_truncated: false,
        need_clear_history: false,
        finish_reason: 'normal',
        usage: usageOf(promptTokens, completionTokens),
      });
    }
    let soFar = 0;
    const events = sentences.map((result, index) => {
      soFar += countWords(result);
      const isEnd = index === sentences.length - 1;
      return {
        id,
        object: 'chat.completion',
        created: created + index,
        sentence_id: index,
        is_end: isEnd,
        is_truncated: false,
        result,
        need_clear_history: false,
        finish_reason: 'normal',
        // Repeated on every event; only the last one's counts are final (spec §2a "Streaming").
        usage: usageOf(promptTokens, isEnd ? completionTokens : soFar),
      };
    });
    return this.stream(exchange, events, fault);
  }

  private async stream(exchange: Exchange, events: unknown[], fault: ErnieFault | undefined): Promise<void> {
    const { res, signal } = exchange;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [index, event] of events.entries()) {
      if (index === fault?.dropAfterChunks) return this.drop(exchange);
      if (index > 0 && this.chunkDelayMs > 0) await sleep(this.chunkDelayMs, undefined, { signal });
      await writeFlushed(res, `data: ${JSON.stringify(event)}\n\n`, signal);
    }
    if (fault?.dropAfterChunks !== undefined) return this.drop(exchange);
    res.end();
  }

  /** v2: OpenAI format behind a bearer key and the `appid` header (spec §2b). */
  private async v2Chat(exchange: Exchange, parsed: ParsedBody): Promise<void> {
    const { req, res } = exchange;
    const id = `as-sim${++this.counter}`;
    if (req.headers.authorization !== `Bearer ${this.v2ApiKey}`) {
      return writeJson(res, 401, {
        error: { code: 'access_denied', message: 'Invalid API key', type: 'access_denied' },
        id,
      });
    }
    if (this.appId !== undefined && req.headers.appid !== this.appId) {
      return writeJson(res, 401, {
        error: { code: 'access_denied', message: 'No permission for this app', type: 'access_denied' },
        id,
      });
    }
    const request = parsed.valid && isObject(parsed.value) ? parsed.value : undefined;
    if (!request || typeof request.model !== 'string' || !isArray(request.messages) || request.messages.length === 0) {
      return writeJson(res, 400, {
        error: { code: 'malformed_json', message: 'Invalid Argument', type: 'invalid_request_error' },
        id,
      });
    }
    const messages = request.messages as ErnieSimMessage[];
    const lastUser = [...messages].reverse().find((message) => message.role === 'user');
    const text = `Hello from ${request.model}: ${textOf(lastUser?.content ?? '')}`;
    const created = Math.floor(Date.now() / 1000);
    const usage = usageOf(
      messages.reduce((sum, message) => sum + countWords(textOf(message.content ?? '')), 0),
      countWords(text),
    );
    if (request.stream !== true) {
      return writeJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: request.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop', flag: 0 }],
        usage,
      });
    }
    const includeUsage = isObject(request.stream_options) && request.stream_options.include_usage === true;
    const chunk = (delta: Json, finishReason: string | null, chunkUsage: unknown = null, choices = true) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: request.model,
      choices: choices ? [{ index: 0, delta, finish_reason: finishReason, flag: 0 }] : [],
      usage: chunkUsage,
    });
    const pieces = text.match(/\S+\s*/g) ?? [];
    const chunks = pieces.map((piece, index) =>
      chunk(index === 0 ? { role: 'assistant', content: piece } : { content: piece }, null),
    );
    chunks.push(chunk({}, 'stop'));
    if (includeUsage) chunks.push(chunk({}, null, usage, false));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const item of chunks) await writeFlushed(res, `data: ${JSON.stringify(item)}\n\n`, exchange.signal);
    res.end('data: [DONE]\n\n');
  }

  private takeFault(): ErnieFault | undefined {
    const queued = this.faults[0];
    if (!queued) return undefined;
    if (--queued.remaining <= 0) this.faults.shift();
    return queued.fault;
  }

  private drop(exchange: Exchange): void {
    exchange.droppedByServer = true;
    exchange.res.destroy();
  }
}

/** The v1 checks of Baidu's mock server and parameter ranges (spec §2a "Request body"), as `336xxx` errors. */
function v1RequestProblem(request: Json, endpoint: string): { code: number; message: string } | undefined {
  const messages = request.messages;
  if (!isArray(messages) || messages.length === 0) return { code: 336003, message: 'messages is empty' };
  if (messages.length % 2 === 0) return { code: 336006, message: 'the length of messages must be an odd number' };
  for (const [index, message] of (messages as ErnieSimMessage[]).entries()) {
    const role = message.role;
    const ok = index % 2 === 1 ? role === 'assistant' : role === 'user' || (role === 'function' && index > 0);
    if (!ok) return { code: 336006, message: `the role of message with index ${index} is invalid` };
    if (typeof message.content !== 'string')
      return { code: 336003, message: `the content of message ${index} must be a string` };
    if (role === 'function' && typeof message.name !== 'string')
      return { code: 336003, message: 'function message needs a name' };
  }
  if (String((messages as ErnieSimMessage[])[messages.length - 1].content).trim() === '') {
    return { code: 336003, message: 'the content of the last message must not be blank' };
  }
  const range = (name: string, ok: (value: number) => boolean, text: string) => {
    const value = request[name];
    return value === undefined || (typeof value === 'number' && ok(value))
      ? undefined
      : { code: 336003, message: text };
  };
  const maxOutput = endpoint.includes('128k') ? MAX_OUTPUT_TOKENS_LONG : MAX_OUTPUT_TOKENS;
  const stop = request.stop;
  if (
    stop !== undefined &&
    (!isArray(stop) || stop.length > 4 || stop.some((item) => typeof item !== 'string' || item.length > 20))
  ) {
    return { code: 336003, message: 'stop must be at most 4 strings of at most 20 characters' };
  }
  if (request.system !== undefined && typeof request.system !== 'string')
    return { code: 336104, message: 'invalid system' };
  return (
    range('temperature', (v) => v > 0 && v <= 1, 'the range of temperature is (0, 1.0]') ??
    range('top_p', (v) => v >= 0 && v <= 1, 'the range of top_p is [0, 1.0]') ??
    range('penalty_score', (v) => v >= 1 && v <= 2, 'the range of penalty_score is [1.0, 2.0]') ??
    range(
      'max_output_tokens',
      (v) => Number.isInteger(v) && v >= 2 && v <= maxOutput,
      `the range of max_output_tokens is [2, ${maxOutput}]`,
    )
  );
}

/** Resolves once the bytes reached the socket, so that a drop that follows does not discard them. */
async function writeFlushed(res: ServerResponse, text: string, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  await new Promise<void>((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    res.write(text, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
  signal.throwIfAborted();
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

function usageOf(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

function digest(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * JSON mode (`response_format: "json_object"`) answers JSON, as ERNIE does: the smallest instance of the last JSON
 * Schema the system prompt shows (where a gateway describes the format it wants), else an object with the answer.
 */
function jsonModeAnswer(request: Record<string, unknown>): string[] | undefined {
  if (request.response_format !== 'json_object') return undefined;
  const system = typeof request.system === 'string' ? request.system : '';
  const start = system.lastIndexOf('\n{');
  let schema: unknown;
  try {
    schema = start < 0 ? undefined : JSON.parse(system.slice(start + 1));
  } catch {
    schema = undefined;
  }
  const text = JSON.stringify(schema === undefined ? { answer: 'Hello' } : minimalJsonInstance(schema));
  // Streamed in two pieces, like the prose answers.
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)];
}
