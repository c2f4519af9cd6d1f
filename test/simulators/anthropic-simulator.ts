/**
 * Anthropic Messages API simulator for e2e tests, the demo and benchmarks (wire format: spec §3 and
 * ../shared/spec/fronts.md). Routes:
 * - `POST /v1/messages` (also `?beta=true`, as Claude Code sends it) checks the key (`x-api-key` or
 *   `Authorization: Bearer`), the `anthropic-version` header and the body rules the real API enforces, then answers
 *   deterministically (see `answer`): tool calls, thinking, prompt-cache usage, structured output;
 * - `POST /v1/messages/count_tokens` → `{input_tokens}` with the same validation, max_tokens not required;
 * - `GET /v1/models` and `GET /v1/models/{id}` in the Models API list format.
 * Triggers in the text of the last user turn (tool results included), one per line:
 * `SIM_TOOL <tool-name> <json-object>`, `SIM_TEXT <text>`, `SIM_THINKING <text>`, `SIM_REDACTED_THINKING`,
 * `SIM_REFUSAL`. Faults are queued with `enqueueFault` or `POST /__sim/faults`.
 *
 * Documentation followed:
 * - https://platform.claude.com/docs/en/api/messages (request, Message, content blocks, usage)
 * - https://docs.anthropic.com/en/api/messages-streaming (event order, ping, error events)
 * - https://platform.claude.com/docs/en/build-with-claude/thinking,
 *   https://platform.claude.com/docs/en/build-with-claude/extended-thinking,
 *   https://platform.claude.com/docs/en/build-with-claude/adaptive-thinking,
 *   https://platform.claude.com/docs/en/build-with-claude/thinking-tool-workflows,
 *   https://platform.claude.com/docs/en/build-with-claude/thinking-troubleshooting (signatures, redacted_thinking,
 *   interleaved thinking, preserving thinking blocks and the 400s for breaking that rule)
 * - https://platform.claude.com/docs/en/build-with-claude/prompt-caching (breakpoints, prefix order, lookback, usage)
 * - https://platform.claude.com/docs/en/build-with-claude/structured-outputs (`output_config.format`)
 * - https://platform.claude.com/docs/en/build-with-claude/token-counting
 * - https://docs.anthropic.com/en/api/models-list, https://docs.anthropic.com/en/api/models
 * - https://docs.claude.com/en/api/errors, https://docs.anthropic.com/en/api/rate-limits
 * Response objects are typed with the installed `@anthropic-ai/sdk` types, so every field they declare is sent.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
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
import type Anthropic from '@anthropic-ai/sdk';
import type { AnthropicErrorBody } from '../../src/providers/anthropic/anthropic.types.js';
import { abortedOf, parseJson, readBody, writeJson } from './sim-http.js';
import { asArray, asString, isArray, isObject, type Json, textOf } from './sim-json.js';

type Message = Anthropic.Messages.Message;
type ContentBlock = Anthropic.Messages.ContentBlock;
type StopReason = Anthropic.Messages.StopReason;
type Usage = Anthropic.Messages.Usage;
type ModelInfo = Anthropic.Models.ModelInfo;
type StreamEvent =
  | Anthropic.Messages.RawMessageStreamEvent
  | { type: 'ping' }
  | { type: 'error'; error: { type: string; message: string } };

export interface AnthropicSimulatorFault {
  /** Answer with this status and an Anthropic error body. */
  status?: number;
  /** The body's `error.type`; by default the one Anthropic uses for `status` (529 → overloaded_error, …). */
  errorType?: string;
  /** The body's `error.message`; by default a realistic text for the type. */
  message?: string;
  retryAfterSeconds?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Wait this long before sending headers; the answer is normal afterwards. */
  firstByteDelayMs?: number;
  /** Streams only: an `event: error` (overloaded_error unless `errorType`) after two content deltas. */
  midStreamError?: boolean;
  /** Streams only: close the connection after this many events (no `message_stop`). */
  dropAfterEvents?: number;
  /** Streams only: after this many events, go silent for `stallMs` (default 1000) before going on. */
  stallAfterEvents?: number;
  stallMs?: number;
  /** During a stall, send a `ping` this often, as the API keeps a slow stream alive. */
  pingIntervalMs?: number;
  /** Never answer; the request ends only when the client hangs up or the simulator stops. */
  hang?: boolean;
  /** Paths the fault applies to, with or without the `/v1` prefix. Default: `/v1/messages` only. */
  paths?: string[];
  /** How many requests consume the fault (stream-only faults are skipped by non-stream requests). Default 1. */
  times?: number;
}

export interface AnthropicSimulatorOptions {
  /** The key requests must carry. Default `sk-ant-sim`. */
  apiKey?: string;
  /** Delay between stream events. Default 0. */
  eventDelayMs?: number;
  /** Besides the `ping` after the first block starts, one more after every this many events. Default: none. */
  pingEveryEvents?: number;
  /** Key of the HMAC that signs thinking blocks and redacted_thinking data. Default a fixed string. */
  thinkingSecret?: string;
  /**
   * Prompt prefixes shorter than this (in simulator tokens) are neither cached nor read, like the API's
   * model-dependent minimum (1024 tokens and more). Default 0, so that short test prompts cache.
   */
  minCacheableTokens?: number;
  /** Model ids served by `GET /v1/models`, newest first. `POST /v1/messages` accepts any model. */
  models?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The query string's parameters (Claude Code sends `?beta=true`). */
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The `anthropic-beta` values in the order sent (comma-separated, repeated headers joined). */
  betas: string[];
  anthropicVersion?: string;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  /** The body exactly as received, decoded as UTF-8. */
  rawBody: string;
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
  countTokens: number;
}

/** A thinking or redacted_thinking block as a client sends it back. */
export interface ThinkingBlockLike {
  type?: unknown;
  thinking?: unknown;
  signature?: unknown;
  data?: unknown;
}

const MESSAGES_PATH = '/v1/messages';
const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';
const MODELS_PATH = '/v1/models';
const CONTROL_PREFIX = '/__sim/';
const TOOL_INPUT = { city: 'Paris' };
const MAX_ECHOED_CHARS = 200;
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_TOOL = 3;
const TOKENS_PER_IMAGE = 85;
const REDACTED_THINKING_TOKENS = 12;
const MIN_STREAM_PIECES = 3;
const MIN_THINKING_BUDGET = 1024;
const MAX_CACHE_BREAKPOINTS = 4;
/** How many blocks before a breakpoint the API looks for an earlier cache entry. */
const CACHE_LOOKBACK_BLOCKS = 20;
const CACHE_TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };
/** Bounds the per-instance memories (cache entries, issued thinking) during long benchmark runs. */
const MAX_REMEMBERED = 10_000;
const SIGNATURE_NONCE_BYTES = 12;
const INTERLEAVED_THINKING_BETA = 'interleaved-thinking-2025-05-14';
const DEFAULT_THINKING_SECRET = 'anthropic-simulator-thinking-secret';
const THINKING_TYPES = ['adaptive', 'between_tools', 'disabled', 'enabled'];
const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'];
const DEFAULT_MODEL_PAGE = 20;
const MAX_MODEL_PAGE = 1000;
const DEFAULT_MODELS = [
  'claude-opus-5-5',
  'claude-sonnet-5-5',
  'claude-haiku-5-5',
  'claude-opus-4-8',
  'claude-sonnet-4-6',
  'claude-haiku-4-5-20251001',
];
/** Newest model's `created_at`; each older one in the list is a month earlier. */
const NEWEST_MODEL_CREATED_MS = Date.UTC(2026, 9, 1);
const MODEL_SPACING_MS = 30 * 24 * 3_600_000;
const RATE_LIMITS = { requests: 4_000, tokens: 2_000_000, 'input-tokens': 1_600_000, 'output-tokens': 400_000 };
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
/** Request block types of the SDK's `ContentBlockParam` union that the simulator accepts without looking inside. */
const OPAQUE_BLOCK_TYPES = new Set([
  'document',
  'search_result',
  'server_tool_use',
  'web_search_tool_result',
  'web_fetch_tool_result',
  'code_execution_tool_result',
  'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result',
  'tool_search_tool_result',
  'container_upload',
]);
const BLOCK_TYPES = [
  'text',
  'image',
  'tool_use',
  'tool_result',
  'thinking',
  'redacted_thinking',
  ...OPAQUE_BLOCK_TYPES,
];

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

type CacheTtl = '5m' | '1h';
type Route = 'messages' | 'count_tokens' | 'models' | 'model';

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

/** The trigger lines found in the last user turn. */
interface Directives {
  toolCalls: Array<{ name: string; input: Json }>;
  text?: string;
  thinking?: string;
  redactedThinking: boolean;
  refusal: boolean;
}

/** How the request asks the model to think; `interleaved` means it also thinks after tool results. */
interface ThinkingPlan {
  type: 'off' | 'enabled' | 'adaptive' | 'between_tools';
  interleaved: boolean;
  omitted: boolean;
}

/** One cacheable piece of the prompt in the API's render order (tools, system, messages), with its tokens. */
interface PromptUnit {
  section: 'tools' | 'system' | 'messages';
  key: string;
  tokens: number;
  breakpoint?: CacheTtl;
}

interface CacheEntry {
  expiresAt: number;
  ttl: CacheTtl;
}

interface InputUsage {
  input: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
}

interface StreamOptions {
  pingEveryEvents: number;
}

export class AnthropicSimulator {
  readonly requests: RecordedRequest[] = [];
  readonly apiKey: string;
  eventDelayMs: number;
  pingEveryEvents: number;
  private readonly thinkingSecret: string;
  private readonly minCacheableTokens: number;
  private readonly models: ModelInfo[];
  private readonly faults: QueuedFault[] = [];
  /** Prompt-prefix hash → cache entry, as the API keeps prefixes up to each breakpoint. */
  private readonly promptCache = new Map<string, CacheEntry>();
  /** tool_use id → signatures (or redacted data) of the thinking blocks issued in the same response. */
  private readonly issuedThinking = new Map<string, string[]>();
  private server?: Server;
  private stopping = false;
  private receivedCount = 0;
  private hungUpCount = 0;
  private inFlightCount = 0;
  private messageCount = 0;
  private streamCount = 0;
  private errorCount = 0;
  private countTokensCount = 0;
  private idCounter = 0;
  private requestCounter = 0;
  private signatureCounter = 0;

  constructor(options: AnthropicSimulatorOptions = {}) {
    this.apiKey = options.apiKey ?? 'sk-ant-sim';
    this.eventDelayMs = options.eventDelayMs ?? 0;
    this.pingEveryEvents = options.pingEveryEvents ?? 0;
    this.thinkingSecret = options.thinkingSecret ?? DEFAULT_THINKING_SECRET;
    this.minCacheableTokens = options.minCacheableTokens ?? 0;
    this.models = (options.models ?? DEFAULT_MODELS).map(modelInfo);
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
      countTokens: this.countTokensCount,
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

  /** Clears faults, recorded requests, counters, the prompt cache and the memory of issued thinking blocks. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.promptCache.clear();
    this.issuedThinking.clear();
    this.receivedCount = 0;
    this.hungUpCount = 0;
    this.messageCount = 0;
    this.streamCount = 0;
    this.errorCount = 0;
    this.countTokensCount = 0;
  }

  /** A signature for `thinking` that this simulator accepts back, for tests that build a history by hand. */
  signThinking(thinking: string): string {
    const nonce = createHash('sha256')
      .update(`${this.thinkingSecret}:${++this.signatureCounter}`)
      .digest()
      .subarray(0, SIGNATURE_NONCE_BYTES);
    return Buffer.concat([nonce, this.mac('thinking', nonce, thinking)]).toString('base64');
  }

  /** True when a thinking block's signature (or a redacted_thinking block's data) was issued by this secret. */
  verifyThinkingBlock(block: ThinkingBlockLike): boolean {
    const [kind, encoded, text] =
      block.type === 'thinking' ? ['thinking', block.signature, block.thinking] : ['redacted', block.data, ''];
    if (typeof encoded !== 'string' || typeof text !== 'string') return false;
    const bytes = Buffer.from(encoded, 'base64');
    if (bytes.length <= SIGNATURE_NONCE_BYTES || bytes.toString('base64') !== encoded) return false;
    const nonce = bytes.subarray(0, SIGNATURE_NONCE_BYTES);
    const expected = this.mac(kind, nonce, text);
    const actual = bytes.subarray(SIGNATURE_NONCE_BYTES);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  private mac(kind: string, nonce: Buffer, text: string): Buffer {
    return createHmac('sha256', this.thinkingSecret).update(kind).update(nonce).update(text).digest();
  }

  private redactedThinkingData(): string {
    const nonce = createHash('sha256')
      .update(`${this.thinkingSecret}:redacted:${++this.signatureCounter}`)
      .digest()
      .subarray(0, SIGNATURE_NONCE_BYTES);
    return Buffer.concat([nonce, this.mac('redacted', nonce, '')]).toString('base64');
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname;
    if (path.startsWith(CONTROL_PREFIX)) {
      this.handleControl(req, res, path).catch((error: unknown) => {
        if (!res.headersSent) writeJson(res, 500, anthropicError('api_error', describe(error)));
      });
      return;
    }
    const controller = new AbortController();
    const version = req.headers['anthropic-version'];
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      betas: betasOf(req.headers['anthropic-beta']),
      anthropicVersion: isArray(version) ? version.join(',') : version,
      body: undefined,
      rawBody: '',
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
    const rawBody = await readBody(exchange.req);
    const body = parseJson(rawBody);
    exchange.record.body = body.value;
    exchange.record.rawBody = rawBody;
    const streaming = exchange.path === MESSAGES_PATH && isObject(body.value) && body.value.stream === true;
    const fault = this.takeFault(exchange.path, streaming);
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

    const route = routeOf(exchange.record.method, exchange.path);
    if (!route) return this.sendError(exchange, 404, 'not_found_error', 'Not Found');
    if (!this.authorized(exchange.req))
      return this.sendError(exchange, 401, 'authentication_error', 'invalid x-api-key');
    if (!exchange.record.anthropicVersion) {
      return this.sendError(exchange, 400, 'invalid_request_error', 'anthropic-version: header is required');
    }
    if (route === 'models') return this.listModels(exchange);
    if (route === 'model') return this.retrieveModel(exchange);
    if (!body.valid)
      return this.sendError(exchange, 400, 'invalid_request_error', 'There was an error parsing the body.');
    const countingTokens = route === 'count_tokens';
    const betas = exchange.record.betas;
    const problem =
      requestProblem(body.value, countingTokens, betas) ?? this.thinkingHistoryProblem(body.value as Json, betas);
    if (problem) return this.sendError(exchange, 400, 'invalid_request_error', problem);

    if (countingTokens) {
      this.countTokensCount++;
      const counted: Anthropic.Messages.MessageTokensCount = {
        input_tokens: totalTokens(promptUnits(body.value as Json)),
      };
      return this.sendJson(exchange, 200, counted);
    }
    const message = this.answer(body.value as Json, betas);
    if (streaming) return this.stream(exchange, message);
    this.messageCount++;
    this.sendJson(exchange, 200, message);
  }

  private authorized(req: IncomingMessage): boolean {
    return req.headers['x-api-key'] === this.apiKey || req.headers.authorization === `Bearer ${this.apiKey}`;
  }

  private takeFault(path: string, streaming: boolean): AnthropicSimulatorFault | undefined {
    const index = this.faults.findIndex(
      ({ fault }) =>
        (fault.paths ?? [MESSAGES_PATH]).some((pattern) => pattern === path || `/v1${pattern}` === path) &&
        (streaming ||
          (!fault.midStreamError && fault.dropAfterEvents === undefined && fault.stallAfterEvents === undefined)),
    );
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  /**
   * The rules for thinking blocks sent back (extended-thinking "Preserving thinking blocks"): with thinking on, the
   * assistant turn that holds the pending tool_use must start with its thinking block, and thinking blocks must
   * come back unmodified and complete; with thinking off, a final (prefill) assistant message may not hold them.
   */
  private thinkingHistoryProblem(request: Json, betas: string[]): string | undefined {
    const plan = thinkingPlanOf(request, betas);
    const entries = (request.messages as Json[])
      .map((message, index) => ({ message, index, blocks: blocksOf(message.content) }))
      .filter(({ message }) => message.role !== 'system');
    const assistants = entries.filter(({ message }) => message.role === 'assistant');
    const latest = assistants.at(-1);
    if (plan.type === 'off') {
      const final = entries.at(-1);
      const at = final?.message.role === 'assistant' ? final.blocks.findIndex(isThinkingBlock) : -1;
      return at < 0
        ? undefined
        : `messages.${final!.index}.content.${at}: When thinking is disabled, an \`assistant\` message in the final position cannot contain \`thinking\`. To use thinking blocks, enable \`thinking\` in your request.`;
    }
    for (const { index, blocks } of assistants) {
      const at = blocks.findIndex((block) => isThinkingBlock(block) && !this.verifyThinkingBlock(block));
      if (at < 0) continue;
      if (index === latest?.index) return unmodifiableThinking(index, at);
      return blocks[at].type === 'thinking'
        ? `messages.${index}.content.${at}: Invalid \`signature\` in \`thinking\` block`
        : `messages.${index}.content.${at}: Invalid \`data\` in \`redacted_thinking\` block`;
    }
    // The current assistant turn: everything after the last user message that is not only tool results.
    const turnStart = entries.findLastIndex(
      ({ message, blocks }) => message.role === 'user' && !blocks.some((block) => block.type === 'tool_result'),
    );
    const turn = entries.slice(turnStart + 1).filter(({ message }) => message.role === 'assistant');
    const toolUseIds = turn.flatMap(({ blocks }) => blocks.filter((b) => b.type === 'tool_use').map((b) => b.id));
    const issuedWithThinking = toolUseIds.some((id) => this.issuedThinking.has(String(id)));
    const required = plan.type === 'enabled' || issuedWithThinking;
    const first = turn[0];
    if (required && toolUseIds.length > 0 && !isThinkingBlock(first.blocks[0] ?? {})) {
      return `messages.${first.index}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${asString(first.blocks[0]?.type) ?? 'text'}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`;
    }
    if (!latest) return undefined;
    const present = new Set(latest.blocks.filter(isThinkingBlock).map(thinkingKey));
    const dropped = latest.blocks.findIndex(
      (block) =>
        block.type === 'tool_use' && (this.issuedThinking.get(String(block.id)) ?? []).some((key) => !present.has(key)),
    );
    return dropped < 0 ? undefined : unmodifiableThinking(latest.index, dropped);
  }

  /**
   * The deterministic answer. Tool calls: `SIM_TOOL` lines naming a tool of the request, else (tools given, tool
   * choice not none, no tool results yet, no `SIM_TEXT`) the first or the forced tool with `{"city":"Paris"}`.
   * Text: `SIM_TEXT`, else a minimal instance of the `output_config.format` schema, else `Tool said: <results>` after
   * tool results, else `Hello from <model>: <last user text>`; cut at stop sequences and at max_tokens (one word =
   * one token, thinking included). Thinking (enabled or adaptive) comes first; after tool results only with
   * interleaved thinking (the beta header, or adaptive), and only there with `between_tools`. Adaptive thinking
   * is skipped when tool use is forced, as the docs say.
   */
  private answer(request: Json, betas: string[]): Message {
    const model = request.model as string;
    const conversation = (request.messages as Json[]).filter((message) => message.role !== 'system');
    const last = conversation.at(-1) as Json;
    const lastUser = conversation.findLast((message) => message.role === 'user') as Json;
    const directives = directivesIn(contentText(lastUser.content, '\n'));
    const toolResults = last.role === 'user' ? blocksOf(last.content).filter((b) => b.type === 'tool_result') : [];
    const afterToolResults = toolResults.length > 0;
    const calls = plannedToolCalls(request, directives, last.role === 'user', afterToolResults);
    const plan = thinkingPlanOf(request, betas);
    const choice = isObject(request.tool_choice) ? request.tool_choice.type : undefined;
    const thinks =
      last.role === 'user' &&
      (plan.type === 'enabled'
        ? !afterToolResults || plan.interleaved
        : plan.type === 'adaptive'
          ? choice !== 'any' && choice !== 'tool'
          : plan.type === 'between_tools' && afterToolResults);

    const id = ++this.idCounter;
    const content: ContentBlock[] = [];
    let budget = request.max_tokens as number;
    let thinkingTokens = 0;
    if (thinks) {
      if (directives.redactedThinking) {
        content.push({ type: 'redacted_thinking', data: this.redactedThinkingData() });
        thinkingTokens = REDACTED_THINKING_TOKENS;
      } else {
        const words = splitWords(directives.thinking ?? defaultThinking(lastUser, calls, afterToolResults));
        const thought = words.slice(0, Math.max(0, budget)).join('').trimEnd();
        const shown = plan.omitted ? '' : thought;
        content.push({ type: 'thinking', thinking: shown, signature: this.signThinking(shown) });
        thinkingTokens = countWords(thought);
      }
      budget -= thinkingTokens;
    }

    let text: string | undefined =
      directives.text ??
      (calls.length > 0 || directives.refusal
        ? undefined
        : (structuredText(request) ??
          (afterToolResults
            ? `Tool said: ${toolResults
                .map((block) => contentText(block.content))
                .join('; ')
                .slice(0, MAX_ECHOED_CHARS)}`
            : `Hello from ${model}: ${contentText(lastUser.content).slice(0, MAX_ECHOED_CHARS)}`)));
    let stopReason: StopReason = directives.refusal ? 'refusal' : calls.length > 0 ? 'tool_use' : 'end_turn';
    let stopSequence: string | null = null;
    if (text !== undefined) {
      for (const sequence of isArray(request.stop_sequences) ? (request.stop_sequences as string[]) : []) {
        const at = text.indexOf(sequence);
        if (at >= 0 && (stopSequence === null || at < text.indexOf(stopSequence))) stopSequence = sequence;
      }
      if (stopSequence !== null) {
        text = text.slice(0, text.indexOf(stopSequence));
        stopReason = 'stop_sequence';
      }
      const words = splitWords(text);
      if (words.length > budget) {
        text = words.slice(0, Math.max(0, budget)).join('').trimEnd();
        stopReason = 'max_tokens';
        stopSequence = null;
      }
      if (text !== '') content.push({ type: 'text', text, citations: null });
    }
    const keptCalls = stopReason === 'tool_use' ? calls : [];
    keptCalls.forEach((call, index) => {
      const suffix = index === 0 ? '' : `_${index + 1}`;
      content.push({
        type: 'tool_use',
        id: `toolu_sim_${String(id).padStart(6, '0')}${suffix}`,
        caller: { type: 'direct' },
        name: call.name,
        input: call.input,
      });
    });
    this.rememberIssuedThinking(content);

    const outputTokens =
      thinkingTokens +
      countWords(text ?? '') +
      keptCalls.reduce((sum, call) => sum + countWords(JSON.stringify(call.input)) + TOKENS_PER_MESSAGE, 0);
    const input = this.inputUsage(request, promptUnits(request));
    return {
      id: `msg_sim_${String(id).padStart(6, '0')}`,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: stopReason,
      stop_sequence: stopSequence,
      stop_details: stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: null } : null,
      container: null,
      diagnostics: null,
      usage: usageOf(input, outputTokens, thinks ? thinkingTokens : undefined),
    };
  }

  private rememberIssuedThinking(content: ContentBlock[]): void {
    const keys = content.filter(isThinkingBlock).map(thinkingKey);
    if (keys.length === 0) return;
    for (const block of content) {
      if (block.type === 'tool_use') remember(this.issuedThinking, block.id, keys);
    }
  }

  /**
   * Prompt-cache accounting: the prefix up to each breakpoint is hashed; the longest prefix already cached at a
   * breakpoint (or up to CACHE_LOOKBACK_BLOCKS blocks before one) is read, every later breakpoint is written.
   * Changing `thinking` or `tool_choice` keeps the tools and system entries but not the messages ones.
   */
  private inputUsage(request: Json, units: PromptUnit[]): InputUsage {
    const breakpoints = units.flatMap((unit, at) => (unit.breakpoint ? [at] : []));
    if (breakpoints.length === 0) return { input: totalTokens(units), cacheRead: 0, cacheWrite5m: 0, cacheWrite1h: 0 };
    const hashes: string[] = [];
    const prefixTokens: number[] = [];
    let hash = sha256(`model:${String(request.model)}`);
    let tokens = 0;
    let inMessages = false;
    for (const unit of units) {
      if (unit.section === 'messages' && !inMessages) {
        hash = sha256(`${hash}\n${JSON.stringify({ thinking: request.thinking, tool_choice: request.tool_choice })}`);
        inMessages = true;
      }
      hash = sha256(`${hash}\n${unit.key}`);
      tokens += unit.tokens;
      hashes.push(hash);
      prefixTokens.push(tokens);
    }
    const now = Date.now();
    const cacheable = (at: number) => prefixTokens[at] > 0 && prefixTokens[at] >= this.minCacheableTokens;
    const live = (at: number) => (this.promptCache.get(hashes[at])?.expiresAt ?? 0) > now;
    let readEnd = -1;
    for (const breakpoint of breakpoints) {
      for (let at = breakpoint; at >= Math.max(readEnd + 1, breakpoint - CACHE_LOOKBACK_BLOCKS); at--) {
        if (cacheable(at) && live(at)) {
          readEnd = at;
          break;
        }
      }
    }
    if (readEnd >= 0) {
      const entry = this.promptCache.get(hashes[readEnd])!;
      entry.expiresAt = now + CACHE_TTL_MS[entry.ttl];
    }
    const written: Record<CacheTtl, number> = { '5m': 0, '1h': 0 };
    let covered = readEnd;
    for (const breakpoint of breakpoints) {
      if (breakpoint <= covered || !cacheable(breakpoint)) continue;
      const ttl = units[breakpoint].breakpoint!;
      written[ttl] += prefixTokens[breakpoint] - (covered >= 0 ? prefixTokens[covered] : 0);
      remember(this.promptCache, hashes[breakpoint], { ttl, expiresAt: now + CACHE_TTL_MS[ttl] });
      covered = breakpoint;
    }
    const cacheRead = readEnd >= 0 ? prefixTokens[readEnd] : 0;
    return {
      input: tokens - cacheRead - written['5m'] - written['1h'],
      cacheRead,
      cacheWrite5m: written['5m'],
      cacheWrite1h: written['1h'],
    };
  }

  private listModels(exchange: Exchange): void {
    const { query } = exchange.record;
    const limit = query.limit === undefined ? DEFAULT_MODEL_PAGE : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_MODEL_PAGE) {
      return this.sendError(
        exchange,
        400,
        'invalid_request_error',
        `limit: Input should be ${limit > MAX_MODEL_PAGE ? `less than or equal to ${MAX_MODEL_PAGE}` : 'greater than or equal to 1'}`,
      );
    }
    const ids = this.models.map((model) => model.id);
    let start = query.after_id === undefined ? 0 : ids.indexOf(query.after_id) + 1;
    let end = ids.length;
    if (query.before_id === undefined) {
      end = Math.min(end, start + limit);
    } else {
      end = Math.max(0, ids.indexOf(query.before_id));
      start = Math.max(start, end - limit);
    }
    const data = this.models.slice(start, end);
    const hasMore = query.before_id === undefined ? end < ids.length : start > 0;
    this.sendJson(exchange, 200, {
      data,
      has_more: hasMore,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    });
  }

  private retrieveModel(exchange: Exchange): void {
    const id = decodeURIComponent(exchange.path.slice(MODELS_PATH.length + 1));
    const model = this.models.find((candidate) => candidate.id === id);
    if (!model) return this.sendError(exchange, 404, 'not_found_error', `model: ${id}`);
    this.sendJson(exchange, 200, model);
  }

  private async stream(exchange: Exchange, message: Message): Promise<void> {
    this.streamCount++;
    const fault = exchange.fault ?? {};
    const events = streamEvents(message, { pingEveryEvents: this.pingEveryEvents });
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
      if (index > 0 && index === fault.stallAfterEvents) await this.stall(exchange, fault);
      await this.writeEvent(exchange, sseEvent(event), index + 1 === fault.dropAfterEvents);
    }
    if (fault.dropAfterEvents !== undefined) return this.drop(exchange);
    res.end();
  }

  /** Silence for `stallMs`, broken only by the keep-alive pings the fault asks for. */
  private async stall(exchange: Exchange, fault: AnthropicSimulatorFault): Promise<void> {
    const until = Date.now() + (fault.stallMs ?? 1_000);
    const interval = fault.pingIntervalMs ?? Infinity;
    for (let left = until - Date.now(); left > 0; left = until - Date.now()) {
      await sleep(Math.min(left, interval), undefined, { signal: exchange.signal });
      if (Date.now() < until) await this.writeEvent(exchange, sseEvent({ type: 'ping' }), false);
    }
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
      const faults = isArray(body.value) ? body.value : [body.value];
      if (!body.valid || !faults.every(isObject)) {
        return writeJson(
          res,
          400,
          anthropicError('invalid_request_error', 'Expected a fault object or an array of them.'),
        );
      }
      for (const fault of faults) this.enqueueFault(fault);
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
    const fault = exchange.fault;
    const retryAfter = fault?.retryAfterSeconds;
    return {
      'content-type': contentType,
      'request-id': exchange.requestId,
      'anthropic-organization-id': 'org-simulator',
      ...(exchange.path.startsWith(MESSAGES_PATH) ? rateLimitHeaders(fault) : {}),
      ...extra,
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
      ...fault?.headers,
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

function routeOf(method: string, path: string): Route | undefined {
  if (method === 'POST' && path === MESSAGES_PATH) return 'messages';
  if (method === 'POST' && path === COUNT_TOKENS_PATH) return 'count_tokens';
  if (method === 'GET' && path === MODELS_PATH) return 'models';
  if (method === 'GET' && path.startsWith(`${MODELS_PATH}/`)) return 'model';
  return undefined;
}

function betasOf(header: string | string[] | undefined): string[] {
  const values = isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((value) => value.split(',').map((beta) => beta.trim())).filter((beta) => beta !== '');
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

/** `anthropic-ratelimit-*` headers: plenty left, or none (resetting after `retry-after`) on a 429 fault. */
function rateLimitHeaders(fault: AnthropicSimulatorFault | undefined): OutgoingHttpHeaders {
  const limited = fault?.status === 429;
  const resetMs = limited
    ? Date.now() + (fault?.retryAfterSeconds ?? 60) * 1000
    : Math.ceil(Date.now() / 60_000) * 60_000;
  const reset = new Date(resetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const headers: OutgoingHttpHeaders = {};
  for (const [kind, limit] of Object.entries(RATE_LIMITS)) {
    headers[`anthropic-ratelimit-${kind}-limit`] = String(limit);
    headers[`anthropic-ratelimit-${kind}-remaining`] = String(limited && kind === 'requests' ? 0 : limit - 1);
    headers[`anthropic-ratelimit-${kind}-reset`] = reset;
  }
  return headers;
}

function unmodifiableThinking(message: number, block: number): string {
  return `messages.${message}.content.${block}: \`thinking\` or \`redacted_thinking\` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.`;
}

/** What the real API rejects with 400 `invalid_request_error` (its message texts where known). */
function requestProblem(value: unknown, countingTokens: boolean, betas: string[]): string | undefined {
  if (!isObject(value)) return 'Input should be a valid dictionary';
  if (typeof value.model !== 'string' || value.model === '') return 'model: Field required';
  if (!countingTokens) {
    if (value.max_tokens === undefined) return 'max_tokens: Field required';
    if (!Number.isInteger(value.max_tokens) || (value.max_tokens as number) < 0) {
      return 'max_tokens: Input should be a valid integer';
    }
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
  for (const [j, block] of (isTextBlockList(value.system) ? value.system : []).entries()) {
    const problem = cacheControlProblem(block.cache_control, `system.${j}`);
    if (problem) return problem;
  }
  const problem =
    toolsProblem(value.tools) ??
    metadataProblem(value.metadata) ??
    thinkingProblem(value, countingTokens, betas) ??
    outputProblem(value) ??
    cacheControlProblem(value.cache_control, '') ??
    messagesProblem(value.messages);
  if (problem) return problem;
  const breakpoints = countCacheBreakpoints(value);
  return breakpoints > MAX_CACHE_BREAKPOINTS
    ? `A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints}.`
    : undefined;
}

function toolsProblem(tools: unknown): string | undefined {
  if (tools === undefined) return undefined;
  if (!isArray(tools)) return 'tools: Input should be a valid list';
  for (const [i, tool] of tools.entries()) {
    // Server and Anthropic-defined tools (`type: "web_search_20250305"`, …) carry no input_schema.
    const custom = isObject(tool) && (tool.type === undefined || tool.type === 'custom');
    if (!isObject(tool) || typeof tool.name !== 'string' || (custom && !isObject(tool.input_schema))) {
      return `tools.${i}.input_schema: Field required`;
    }
    const problem = cacheControlProblem(tool.cache_control, `tools.${i}`);
    if (problem) return problem;
  }
  return undefined;
}

function metadataProblem(metadata: unknown): string | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  if (!isObject(metadata)) return 'metadata: Input should be a valid dictionary';
  const userId = metadata.user_id;
  return userId === undefined || userId === null || typeof userId === 'string'
    ? undefined
    : 'metadata.user_id: Input should be a valid string';
}

function thinkingProblem(request: Json, countingTokens: boolean, betas: string[]): string | undefined {
  const thinking = request.thinking;
  const edits = isObject(request.context_management) ? request.context_management.edits : undefined;
  const clearsThinking =
    isArray(edits) && edits.some((edit) => isObject(edit) && edit.type === 'clear_thinking_20251015');
  if (thinking === undefined || thinking === null) {
    return clearsThinking
      ? '`clear_thinking_20251015` strategy requires `thinking` to be enabled or adaptive'
      : undefined;
  }
  if (!isObject(thinking)) return 'thinking: Input should be a valid dictionary';
  const type = thinking.type;
  if (typeof type !== 'string' || !THINKING_TYPES.includes(type)) {
    return `thinking: Input tag '${String(type)}' found using 'type' does not match any of the expected tags: ${THINKING_TYPES.map((t) => `'${t}'`).join(', ')}`;
  }
  const display = thinking.display;
  if (display !== undefined && display !== null && display !== 'summarized' && display !== 'omitted') {
    return `thinking.${type}.display: Input should be 'summarized' or 'omitted'`;
  }
  const choice = isObject(request.tool_choice) ? request.tool_choice.type : undefined;
  if (type === 'enabled') {
    const budget = thinking.budget_tokens;
    if (!Number.isInteger(budget)) return 'thinking.enabled.budget_tokens: Field required';
    if ((budget as number) < MIN_THINKING_BUDGET) {
      return `thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`;
    }
    // Interleaved thinking lets the budget exceed max_tokens (it spans the whole tool loop).
    if (
      !countingTokens &&
      !betas.includes(INTERLEAVED_THINKING_BETA) &&
      (budget as number) >= (request.max_tokens as number)
    ) {
      return '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size';
    }
    if (choice === 'any' || choice === 'tool') return 'Thinking may not be enabled when tool_choice forces tool use.';
  }
  const on = type === 'enabled' || type === 'adaptive';
  if (on && request.temperature !== undefined && request.temperature !== 1) {
    return '`temperature` may only be set to 1 when thinking is enabled or in adaptive mode';
  }
  return clearsThinking && !on
    ? '`clear_thinking_20251015` strategy requires `thinking` to be enabled or adaptive'
    : undefined;
}

/** Structured outputs: `output_config.format` (current) or the beta-era `output_format`, both `json_schema`. */
function outputProblem(request: Json): string | undefined {
  const config = request.output_config;
  if (config !== undefined && config !== null) {
    if (!isObject(config)) return 'output_config: Input should be a valid dictionary';
    const effort = config.effort;
    if (effort !== undefined && effort !== null && !EFFORTS.includes(effort as string)) {
      return `output_config.effort: Input should be ${EFFORTS.slice(0, -1)
        .map((e) => `'${e}'`)
        .join(', ')} or '${EFFORTS.at(-1)}'`;
    }
    const problem = formatProblem(config.format, 'output_config.format');
    if (problem) return problem;
  }
  return formatProblem(request.output_format, 'output_format');
}

function formatProblem(format: unknown, path: string): string | undefined {
  if (format === undefined || format === null) return undefined;
  if (!isObject(format) || format.type !== 'json_schema') return `${path}.type: Input should be 'json_schema'`;
  return isObject(format.schema) ? undefined : `${path}.schema: Field required`;
}

function cacheControlProblem(cacheControl: unknown, path: string): string | undefined {
  if (cacheControl === undefined || cacheControl === null) return undefined;
  const at = path === '' ? 'cache_control' : `${path}.cache_control`;
  if (!isObject(cacheControl) || cacheControl.type !== 'ephemeral') return `${at}.type: Input should be 'ephemeral'`;
  const ttl = cacheControl.ttl;
  return ttl === undefined || ttl === null || ttl === '5m' || ttl === '1h'
    ? undefined
    : `${at}.ephemeral.ttl: Input should be '5m' or '1h'`;
}

function countCacheBreakpoints(request: Json): number {
  const marked = (value: unknown) => (isObject(value) && isObject(value.cache_control) ? 1 : 0);
  return (
    (isObject(request.cache_control) ? 1 : 0) +
    asArray(request.tools).reduce<number>((sum, tool) => sum + marked(tool), 0) +
    asArray(request.system).reduce<number>((sum, block) => sum + marked(block), 0) +
    asArray(request.messages).reduce<number>(
      (sum, message) => sum + blocksOf((message as Json).content).reduce((n, block) => n + marked(block), 0),
      0,
    )
  );
}

function messagesProblem(messages: unknown): string | undefined {
  if (messages === undefined) return 'messages: Field required';
  if (!isArray(messages)) return 'messages: Input should be a valid list';
  if (messages.length === 0) return 'messages: at least one message is required';
  let previousRole: unknown;
  for (const [i, message] of messages.entries()) {
    const role = isObject(message) ? message.role : undefined;
    if (!isObject(message) || (role !== 'user' && role !== 'assistant' && role !== 'system')) {
      return `messages.${i}.role: Input should be 'user', 'assistant' or 'system'`;
    }
    if (i === 0 && role !== 'user') return 'messages: first message must use the "user" role';
    const content = message.content;
    if (role === 'system') {
      // Mid-conversation system entries (Claude Code sends them) stand outside the user/assistant alternation.
      if (typeof content === 'string' ? content === '' : !isTextBlockList(content) || content.length === 0) {
        return `messages.${i}.content: Input should be a valid string`;
      }
      continue;
    }
    if (previousRole === role) {
      return `messages: roles must alternate between "user" and "assistant", but found multiple "${role}" roles in a row`;
    }
    previousRole = role;
    const isFinalAssistant = i === messages.length - 1 && role === 'assistant';
    if (typeof content === 'string') {
      if (content === '' && !isFinalAssistant) {
        return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
      }
      continue;
    }
    if (!isArray(content)) return `messages.${i}.content: Input should be a valid list`;
    if (content.length === 0 && !isFinalAssistant) {
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    for (const [j, block] of content.entries()) {
      const problem = blockProblem(block, role, `messages.${i}.content.${j}`);
      if (problem) return problem;
    }
  }
  return toolPairingProblem(messages as Json[]);
}

function blockProblem(block: unknown, role: string, path: string): string | undefined {
  if (!isObject(block)) return `${path}: Input should be a valid dictionary`;
  const cacheProblem = cacheControlProblem(block.cache_control, path);
  if (cacheProblem) return cacheProblem;
  switch (block.type) {
    case 'text':
      if (typeof block.text !== 'string') return `${path}.text: Field required`;
      return block.text === '' ? 'messages: text content blocks must be non-empty' : undefined;
    case 'image': {
      const source = block.source;
      if (role !== 'user') return `${path}: image blocks are only allowed in user messages`;
      if (isObject(source) && source.type === 'url' && typeof source.url === 'string') return undefined;
      if (isObject(source) && source.type === 'file' && typeof source.file_id === 'string') return undefined;
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
    case 'thinking':
      if (typeof block.thinking !== 'string') return `${path}.thinking: Field required`;
      return typeof block.signature === 'string' ? undefined : `${path}.signature: Field required`;
    case 'redacted_thinking':
      return typeof block.data === 'string' ? undefined : `${path}.data: Field required`;
    default:
      return OPAQUE_BLOCK_TYPES.has(block.type as string)
        ? undefined
        : `${path}: Input tag '${String(block.type)}' found using 'type' does not match any of the expected tags: ${BLOCK_TYPES.map((type) => `'${type}'`).join(', ')}`;
  }
}

/** Every tool_use needs a tool_result in the next turn and every tool_result a tool_use in the previous one. */
function toolPairingProblem(messages: Json[]): string | undefined {
  const turns = messages
    .map((message, index) => ({ message, index }))
    .filter(({ message }) => message.role !== 'system');
  for (const [t, { message, index: i }] of turns.entries()) {
    const blocks = blocksOf(message.content);
    if (message.role === 'assistant') {
      const next = turns[t + 1]?.message;
      if (!next) continue;
      const answered = new Set(
        blocksOf(next.content)
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
    const previous = t > 0 ? turns[t - 1].message : undefined;
    const offered = new Set(
      blocksOf(previous?.content)
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

function thinkingPlanOf(request: Json, betas: string[]): ThinkingPlan {
  const thinking = isObject(request.thinking) ? request.thinking : {};
  const type = thinking.type;
  const known = type === 'enabled' || type === 'adaptive' || type === 'between_tools';
  return {
    type: known ? type : 'off',
    // Adaptive thinking interleaves by itself; manual thinking needs the beta header.
    interleaved: type === 'adaptive' || betas.includes(INTERLEAVED_THINKING_BETA),
    omitted: thinking.display === 'omitted',
  };
}

function plannedToolCalls(
  request: Json,
  directives: Directives,
  userTurnLast: boolean,
  afterToolResults: boolean,
): Array<{ name: string; input: Json }> {
  const tools = (isArray(request.tools) ? (request.tools as Json[]) : []).filter(
    (tool) => tool.type === undefined || tool.type === 'custom',
  );
  const choice = isObject(request.tool_choice) ? request.tool_choice : undefined;
  if (!userTurnLast || tools.length === 0 || choice?.type === 'none') return [];
  const forcedName = choice?.type === 'tool' ? String(choice.name) : undefined;
  const names = new Set(tools.map((tool) => tool.name));
  let calls = directives.toolCalls.filter(
    (call) => names.has(call.name) && (forcedName === undefined || call.name === forcedName),
  );
  if (choice?.disable_parallel_tool_use === true) calls = calls.slice(0, 1);
  if (calls.length > 0) return calls;
  const forced = choice?.type === 'any' || choice?.type === 'tool';
  if (afterToolResults || (!forced && (directives.text !== undefined || directives.refusal))) return [];
  const tool = tools.find((entry) => entry.name === forcedName) ?? tools[0];
  return [{ name: tool.name as string, input: defaultToolInput(tool.input_schema) }];
}

function directivesIn(text: string): Directives {
  const directives: Directives = { toolCalls: [], redactedThinking: false, refusal: false };
  for (const line of text.split(/\r?\n/)) {
    const tool = /^\s*SIM_TOOL\s+(\S+)\s+(\{.*\})\s*$/.exec(line);
    if (tool) {
      const input = parseJson(tool[2]);
      if (input.valid && isObject(input.value)) directives.toolCalls.push({ name: tool[1], input: input.value });
      continue;
    }
    const text = /^\s*SIM_TEXT (.*)$/.exec(line);
    if (text) directives.text ??= text[1];
    const thinking = /^\s*SIM_THINKING (.*)$/.exec(line);
    if (thinking) directives.thinking ??= thinking[1];
    if (line.trim() === 'SIM_REDACTED_THINKING') directives.redactedThinking = true;
    if (line.trim() === 'SIM_REFUSAL') directives.refusal = true;
  }
  return directives;
}

function defaultThinking(lastUser: Json, calls: Array<{ name: string }>, afterToolResults: boolean): string {
  // The prompt is the turn's last text block (clients such as Claude Code put reminders before it).
  const prompt = blocksOf(lastUser.content).findLast((block) => block.type === 'text')?.text;
  const subject = afterToolResults
    ? 'The tool results are in.'
    : `The user asks: "${splitWords(asString(prompt) ?? '')
        .slice(0, 12)
        .join('')
        .trim()}".`;
  const plan = calls.length > 0 ? `I will call ${calls.map((call) => call.name).join(' and ')}.` : 'I will answer now.';
  return `${subject} ${plan}`;
}

/**
 * A default call's input: `{"city":"Paris"}` plus a minimal value for each other required property, so a call of a
 * tool that carries a structured answer fits its schema as the model's would.
 */
function defaultToolInput(schema: unknown): Json {
  const instance = isObject(schema) ? minimalInstance(schema, schema) : undefined;
  const required = isObject(instance) ? instance : {};
  return { ...required, ...TOOL_INPUT };
}

/** A minimal instance of the requested JSON schema, serialized, or undefined when no format is asked for. */
function structuredText(request: Json): string | undefined {
  const config = isObject(request.output_config) ? request.output_config : {};
  const format = isObject(config.format) ? config.format : isObject(request.output_format) ? request.output_format : {};
  return isObject(format.schema) ? JSON.stringify(minimalInstance(format.schema, format.schema)) : undefined;
}

/** The smallest value valid against `schema` for the keywords structured outputs support. */
function minimalInstance(schema: unknown, root: Json, depth = 0): unknown {
  if (!isObject(schema) || depth > 32) return null;
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .replace(/^#\/?/, '')
      .split('/')
      .filter((part) => part !== '')
      .reduce<unknown>(
        (node, part) => (isObject(node) ? node[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined),
        root,
      );
    return minimalInstance(target, root, depth + 1);
  }
  if ('const' in schema) return schema.const;
  if (isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const keyword of ['anyOf', 'oneOf']) {
    const options = schema[keyword];
    if (isArray(options) && options.length > 0) return minimalInstance(options[0], root, depth + 1);
  }
  if (isArray(schema.allOf)) {
    const parts = schema.allOf.map((part) => minimalInstance(part, root, depth + 1));
    return parts.every(isObject) ? Object.assign({}, ...parts) : (parts[0] ?? null);
  }
  const type = isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? 'null') : schema.type;
  switch (type ?? (isObject(schema.properties) ? 'object' : undefined)) {
    case 'object': {
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = isArray(schema.required) ? (schema.required as string[]) : [];
      return Object.fromEntries(required.map((key) => [key, minimalInstance(properties[key], root, depth + 1)]));
    }
    case 'array': {
      const prefix = isArray(schema.prefixItems) ? schema.prefixItems : [];
      const count = Math.max(prefix.length, Number.isInteger(schema.minItems) ? (schema.minItems as number) : 0);
      return Array.from({ length: count }, (_, i) => minimalInstance(prefix[i] ?? schema.items, root, depth + 1));
    }
    case 'string':
      return minimalString(schema);
    case 'integer':
    case 'number': {
      const minimum = typeof schema.minimum === 'number' ? schema.minimum : undefined;
      const exclusive = typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : undefined;
      const floor = minimum ?? exclusive;
      if (floor !== undefined) return type === 'integer' ? Math.ceil(floor) : floor;
      return typeof schema.maximum === 'number' && schema.maximum < 0 ? schema.maximum : 0;
    }
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function minimalString(schema: Json): string {
  const examples: Record<string, string> = {
    date: '1970-01-01',
    'date-time': '1970-01-01T00:00:00Z',
    time: '00:00:00Z',
    email: 'user@example.com',
    uri: 'https://example.com',
    uuid: '00000000-0000-0000-0000-000000000000',
    ipv4: '127.0.0.1',
    ipv6: '::1',
    hostname: 'example.com',
  };
  const formatted = typeof schema.format === 'string' ? examples[schema.format] : undefined;
  if (formatted !== undefined) return formatted;
  return 'a'.repeat(Number.isInteger(schema.minLength) ? (schema.minLength as number) : 0);
}

/** The request's cacheable pieces in render order; their tokens add up to the whole prompt's input tokens. */
function promptUnits(request: Json): PromptUnit[] {
  const units: PromptUnit[] = [];
  for (const tool of isArray(request.tools) ? (request.tools as Json[]) : []) {
    units.push({
      section: 'tools',
      key: JSON.stringify(withoutCacheControl(tool)),
      tokens:
        countWords(`${String(tool.name)} ${textOf(tool.description ?? '')} ${jsonWords(tool.input_schema)}`) +
        TOKENS_PER_TOOL,
      breakpoint: ttlOf(tool.cache_control),
    });
  }
  const system = request.system;
  const systemBlocks =
    typeof system === 'string' ? [{ type: 'text', text: system }] : isArray(system) ? (system as Json[]) : [];
  for (const block of systemBlocks) {
    units.push({
      section: 'system',
      key: JSON.stringify(withoutCacheControl(block)),
      tokens: countWords(String(block.text)),
      breakpoint: ttlOf(block.cache_control),
    });
  }
  for (const message of request.messages as Json[]) {
    const blocks = blocksOf(message.content);
    if (blocks.length === 0) units.push({ section: 'messages', key: String(message.role), tokens: TOKENS_PER_MESSAGE });
    blocks.forEach((block, j) =>
      units.push({
        section: 'messages',
        key: `${String(message.role)}:${JSON.stringify(withoutCacheControl(block))}`,
        tokens: blockTokens(block) + (j === 0 ? TOKENS_PER_MESSAGE : 0),
        breakpoint: ttlOf(block.cache_control),
      }),
    );
  }
  // Automatic caching: a top-level cache_control puts the breakpoint on the last cacheable block.
  const last = units.at(-1);
  if (last && isObject(request.cache_control)) last.breakpoint ??= ttlOf(request.cache_control);
  return units;
}

function totalTokens(units: PromptUnit[]): number {
  return units.reduce((sum, unit) => sum + unit.tokens, 0);
}

function blockTokens(block: Json): number {
  switch (block.type) {
    case 'text':
      return countWords(String(block.text));
    case 'tool_use':
      return countWords(`${String(block.name)} ${jsonWords(block.input)}`);
    case 'tool_result':
      return countWords(contentText(block.content));
    case 'thinking':
      return countWords(String(block.thinking));
    case 'redacted_thinking':
      return REDACTED_THINKING_TOKENS;
    case 'image':
      return TOKENS_PER_IMAGE;
    default:
      return countWords(jsonWords(block));
  }
}

/** JSON with its punctuation turned into spaces, so that each key and value counts as a word. */
function jsonWords(value: unknown): string {
  return (JSON.stringify(value) ?? '').replace(/[{}[\]",:]/g, ' ');
}

function withoutCacheControl(block: Json): Json {
  const { cache_control: _ignored, ...rest } = block;
  return rest;
}

function ttlOf(cacheControl: unknown): CacheTtl | undefined {
  if (!isObject(cacheControl)) return undefined;
  return cacheControl.ttl === '1h' ? '1h' : '5m';
}

function usageOf(input: InputUsage, outputTokens: number, thinkingTokens: number | undefined): Usage {
  return {
    input_tokens: input.input,
    output_tokens: outputTokens,
    cache_creation_input_tokens: input.cacheWrite5m + input.cacheWrite1h,
    cache_read_input_tokens: input.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: input.cacheWrite5m, ephemeral_1h_input_tokens: input.cacheWrite1h },
    inference_geo: 'global',
    output_tokens_details: thinkingTokens === undefined ? null : { thinking_tokens: thinkingTokens },
    server_tool_use: null,
    service_tier: 'standard',
    speed: 'standard',
  };
}

function modelInfo(id: string, index: number): ModelInfo {
  const line = (['opus', 'sonnet', 'haiku', 'fable', 'mythos'] as const).find((name) => id.includes(`-${name}`));
  const supported = { supported: true };
  return {
    type: 'model',
    id,
    display_name: displayNameOf(id),
    created_at: new Date(NEWEST_MODEL_CREATED_MS - index * MODEL_SPACING_MS).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    capabilities: {
      batch: supported,
      citations: supported,
      code_execution: supported,
      context_management: {
        supported: true,
        clear_thinking_20251015: supported,
        clear_tool_uses_20250919: supported,
        compact_20260112: supported,
      },
      effort: { supported: true, low: supported, medium: supported, high: supported, xhigh: supported, max: supported },
      image_input: supported,
      pdf_input: supported,
      server_tools: { supported: true, code_execution: supported, web_search: supported },
      structured_outputs: supported,
      thinking: {
        supported: true,
        types: { adaptive: supported, between_tools: { supported: false }, disabled: supported, enabled: supported },
      },
    },
    deprecated_at: null,
    lifecycle: 'active',
    line: line ?? null,
    max_input_tokens: 1_000_000,
    max_tokens: 128_000,
    retires_at: null,
  };
}

/** `claude-opus-4-8` → `Claude Opus 4.8`; a trailing date stamp is dropped. */
function displayNameOf(id: string): string {
  const parts = id.replace(/-\d{8}$/, '').split('-');
  const words = parts.filter((part) => !/^\d+$/.test(part));
  const version = parts.filter((part) => /^\d+$/.test(part)).join('.');
  return [...words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)), version].filter(Boolean).join(' ');
}

function isThinkingBlock(block: ThinkingBlockLike): boolean {
  return block.type === 'thinking' || block.type === 'redacted_thinking';
}

function thinkingKey(block: ThinkingBlockLike): string {
  return String(block.type === 'thinking' ? block.signature : block.data);
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as string);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function isTextBlockList(value: unknown): value is Json[] {
  return (
    isArray(value) && value.every((block) => isObject(block) && block.type === 'text' && typeof block.text === 'string')
  );
}

function blocksOf(content: unknown): Json[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  return asArray(content).filter(isObject);
}

/** The text of a string or of a block list's text blocks (tool_result contents included), joined by `separator`. */
function contentText(content: unknown, separator = ' '): string {
  if (typeof content === 'string') return content;
  if (!isArray(content)) return '';
  return content
    .flatMap((block) => {
      if (!isObject(block)) return [];
      if (block.type === 'text' && typeof block.text === 'string') return [block.text];
      if (block.type === 'tool_result') return [contentText(block.content, separator)];
      return [];
    })
    .join(separator);
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

function sseEvent(event: StreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The event sequence of spec §3.4 for a finished message, with the extra pings `pingEveryEvents` asks for. */
function streamEvents(message: Message, options: StreamOptions): StreamEvent[] {
  const events: StreamEvent[] = [
    {
      type: 'message_start',
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...message.usage, output_tokens: 1, output_tokens_details: null },
      },
    },
  ];
  message.content.forEach((block, index) => {
    const ping = () => {
      if (index === 0) events.push({ type: 'ping' });
    };
    const delta = (delta: Anthropic.Messages.RawContentBlockDelta) =>
      events.push({ type: 'content_block_delta', index, delta });
    switch (block.type) {
      case 'text':
        events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } });
        ping();
        for (const text of splitForStream(block.text)) delta({ type: 'text_delta', text });
        break;
      case 'thinking':
        events.push({
          type: 'content_block_start',
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        });
        ping();
        for (const thinking of splitForStream(block.thinking)) delta({ type: 'thinking_delta', thinking });
        delta({ type: 'signature_delta', signature: block.signature });
        break;
      case 'redacted_thinking':
        events.push({ type: 'content_block_start', index, content_block: block });
        ping();
        break;
      case 'tool_use':
        events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
        ping();
        // The API's first input_json_delta is often empty.
        for (const partial_json of ['', ...splitForStream(JSON.stringify(block.input))]) {
          delta({ type: 'input_json_delta', partial_json });
        }
        break;
    }
    events.push({ type: 'content_block_stop', index });
  });
  const usage = message.usage;
  events.push({
    type: 'message_delta',
    delta: {
      stop_reason: message.stop_reason,
      stop_sequence: message.stop_sequence,
      stop_details: message.stop_details,
      container: null,
    },
    usage: {
      input_tokens: usage.input_tokens,
      cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens,
      output_tokens: usage.output_tokens,
      output_tokens_details: usage.output_tokens_details,
      server_tool_use: null,
    },
  });
  events.push({ type: 'message_stop' });
  if (options.pingEveryEvents <= 0) return events;
  return events.flatMap((event, i) =>
    (i + 1) % options.pingEveryEvents === 0 && event.type !== 'message_stop'
      ? [event, { type: 'ping' as const }]
      : [event],
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
