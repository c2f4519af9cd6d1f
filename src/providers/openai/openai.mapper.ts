/** Pure helpers for OpenAI-format upstreams: the request body, error mapping, stream reading and embedding encoding. */
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  EmbeddingResponse,
  FunctionTool,
  ReasoningEffort,
  ThinkingConfig,
  Usage,
} from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { SseParser } from '../../upstream/sse-parser.js';
import { RAW_JSON, type WithRawJson } from '../llm-provider.js';
import { upstreamErrors } from '../provider-errors.js';
import { groqStreamUsage, type StreamAdaptations, type UsageFields, usageWithVendorFields } from './openai.vendors.js';

/**
 * OpenAI's reasoning models by name (o1, o3, o4-mini, gpt-5…, gpt-oss, codex-mini) and the open ones served by
 * OpenAI-compatible servers (DeepSeek-R1, QwQ, *-reasoner, *-thinking).
 */
export const REASONING_MODEL = /^(o\d|gpt-5|gpt-oss|codex)|reason|think|qwq|-r1\b/i;

export function isReasoningModel(model: string): boolean {
  return REASONING_MODEL.test(model);
}

/** Anthropic's thinking knob as OpenAI's effort: adaptive is the model's own default, budgets by size. */
function effortOf(thinking: ThinkingConfig): ReasoningEffort | undefined {
  if (thinking.type === 'disabled') return undefined;
  if (thinking.type === 'adaptive') return 'medium';
  const budget = thinking.budget_tokens;
  return budget <= 2_048 ? 'low' : budget <= 8_192 ? 'medium' : 'high';
}

/** Gateway extensions on messages (see openai.types.ts). */
export type MessageExtension = 'reasoning_content' | 'thinking_blocks' | 'extra_content' | 'cache_control';

/**
 * The request without the gateway's own extensions an upstream would refuse as unrecognized arguments: Anthropic's
 * `thinking` knob, cache markers on tools and content parts, and the message `extensions` named (thought signatures
 * of tool calls go with `extra_content`). The same object when there are none, which is the usual case.
 */
export function withoutGatewayExtensions(
  request: ChatCompletionRequest,
  extensions: readonly MessageExtension[],
): ChatCompletionRequest {
  const messages = request.messages;
  let stripped: ChatMessage[] | undefined;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    if (!carriesExtensions(message, extensions)) continue;
    (stripped ??= messages.slice())[i] = withoutExtensions(message, extensions);
  }
  const tools = request.tools;
  const toolsCarryMarkers = tools?.some((tool) => tool.cache_control !== undefined) === true;
  if (stripped === undefined && !toolsCarryMarkers && request.thinking === undefined) return request;
  const { thinking: _thinking, ...rest } = request;
  const body: ChatCompletionRequest = stripped ? { ...rest, messages: stripped } : rest;
  if (toolsCarryMarkers) body.tools = tools.map(withoutCacheControl);
  return body;
}

function carriesExtensions(message: ChatMessage, extensions: readonly MessageExtension[]): boolean {
  for (const key of extensions) if (message[key] !== undefined) return true;
  if (!extensions.includes('cache_control') && !extensions.includes('extra_content')) return false;
  const content = message.content;
  if (Array.isArray(content) && content.some((part) => 'cache_control' in part && part.cache_control !== undefined)) {
    return true;
  }
  return (
    extensions.includes('extra_content') &&
    message.tool_calls?.some((call) => call.extra_content !== undefined) === true
  );
}

function withoutExtensions(message: ChatMessage, extensions: readonly MessageExtension[]): ChatMessage {
  const stripped: ChatMessage = { ...message };
  for (const key of extensions) delete stripped[key];
  if (Array.isArray(stripped.content)) stripped.content = stripped.content.map(withoutCacheControl);
  if (stripped.tool_calls && extensions.includes('extra_content')) {
    stripped.tool_calls = stripped.tool_calls.map((call) => {
      if (call.extra_content === undefined) return call;
      const plain = { ...call };
      delete plain.extra_content;
      return plain;
    });
  }
  return stripped;
}

function withoutCacheControl<T extends ContentPart | FunctionTool>(item: T): T {
  if (!('cache_control' in item) || item.cache_control === undefined) return item;
  const plain = { ...item };
  delete plain.cache_control;
  return plain;
}

/** What an OpenAI-compatible server is not sent: `reasoning_content` stays, for the servers that read it back. */
const OPENAI_COMPATIBLE_DROPS: readonly MessageExtension[] = ['thinking_blocks', 'extra_content', 'cache_control'];

/**
 * The body for an OpenAI-compatible upstream: the request as it is (vendor extras included) without the gateway's
 * extensions; `thinking` becomes `reasoning_effort` when none is set (a model that takes no reasoning never gets
 * either: see src/pipeline/reasoning.ts). OpenAI caches prompt prefixes by itself, so cache markers just go.
 */
export function toOpenAiRequest(request: ChatCompletionRequest): ChatCompletionRequest {
  const thinking = request.thinking;
  const body = withoutGatewayExtensions(request, OPENAI_COMPATIBLE_DROPS);
  if (thinking && body.reasoning_effort === undefined) {
    const effort = effortOf(thinking);
    if (effort) return { ...body, reasoning_effort: effort };
  }
  return body;
}

interface OpenAiErrorPayload {
  error?: unknown;
  message?: unknown;
  detail?: unknown;
  type?: unknown;
  param?: unknown;
  code?: unknown;
}

interface ErrorFields {
  message?: string;
  type?: string;
  param?: string | null;
  code?: string | null;
}

/**
 * The fields of an error body in any of the shapes OpenAI-compatible vendors send: OpenAI's `{error:{…}}` (also
 * DeepSeek, Qwen, Ollama, Fireworks); OpenRouter's numeric `error.code`; vLLM's, SGLang's and Mistral's top-level
 * `{object:"error", message, type, param, code}`; Mistral's and FastAPI's validation `detail` list (only its
 * locations and messages: never the `input` it echoes); xAI's `{code, error}` with a sentence as code. A code is
 * kept only when it is an identifier (`invalid_request_error`), not a number or a sentence.
 */
function errorFields(body: unknown): ErrorFields {
  if (typeof body === 'string') return { message: body.slice(0, 200) };
  if (!body || typeof body !== 'object') return {};
  const payload = body as OpenAiErrorPayload;
  const error = payload.error;
  if (typeof error === 'string') return { message: error, code: identifier(payload.code) };
  if (error && typeof error === 'object') return fieldsOf(error);
  return fieldsOf(payload);
}

function fieldsOf(payload: OpenAiErrorPayload): ErrorFields {
  const message = payload.message;
  const detail = validationDetail(isObjectLike(message) ? message.detail : payload.detail);
  const fields: ErrorFields = {
    message: typeof message === 'string' ? message : detail?.message,
    type: typeof payload.type === 'string' ? payload.type : undefined,
    param: typeof payload.param === 'string' ? payload.param : (detail?.param ?? null),
    code: identifier(payload.code) ?? detail?.code,
  };
  return fields;
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

const IDENTIFIER = /^[a-z][a-z0-9_]*$/;

function identifier(value: unknown): string | undefined {
  return typeof value === 'string' && IDENTIFIER.test(value) ? value : undefined;
}

/** Pydantic's `[{type, loc, msg, input}]`: `body.max_completion_tokens: Extra inputs are not permitted`. */
function validationDetail(detail: unknown): { message: string; param: string | null; code?: string } | undefined {
  if (typeof detail === 'string') return { message: detail, param: null };
  if (!Array.isArray(detail) || detail.length === 0) return undefined;
  const entries = detail.filter(isObjectLike);
  const paramOf = (entry: Record<string, unknown>) =>
    Array.isArray(entry.loc)
      ? entry.loc
          .filter((part, i) => !(i === 0 && part === 'body'))
          .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
          .join('.')
          .replace(/\.\[/g, '[')
      : null;
  const message = entries
    .map((entry) => `${paramOf(entry) ?? 'request'}: ${typeof entry.msg === 'string' ? entry.msg : 'invalid'}`)
    .join('; ');
  const first = entries[0] as Record<string, unknown> | undefined;
  return { message, param: first ? paramOf(first) : null, code: first ? identifier(first.type) : undefined };
}

const CONTEXT_LENGTH_CODES = new Set(['context_length_exceeded', 'tokens_too_long', 'characters_too_long']);

/** Maps an OpenAI-compatible error answer (status + `{error:{...}}`) to the gateway's error vocabulary. */
export function toGatewayErrorFromOpenAi(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const { message, type, param, code } = errorFields(body);
  const retryAfterMs = parseRetryAfterMs(headers);
  if (status === 401) return upstreamErrors.authFailed(provider);
  if (status === 403) return upstreamErrors.permissionDenied(provider, message);
  if (status === 404) return upstreamErrors.modelNotFound(provider, message);
  if (status === 413) return upstreamErrors.requestTooLarge(provider, message);
  if (status === 429) {
    return code === 'insufficient_quota' || type === 'insufficient_quota'
      ? upstreamErrors.insufficientQuota(provider, message)
      : upstreamErrors.rateLimited(provider, message, retryAfterMs);
  }
  if (status === 503 || status === 529) return upstreamErrors.overloaded(provider, message, retryAfterMs);
  if (status === 504 || status === 408) return upstreamErrors.timeout(provider, message);
  if (status >= 500) return upstreamErrors.serverError(provider, message, status);
  if (code && CONTEXT_LENGTH_CODES.has(code)) return upstreamErrors.contextLengthExceeded(provider, message);
  return upstreamErrors.badRequest(provider, message, param ?? null, code ?? 'invalid_request');
}

/**
 * Reads an OpenAI-format SSE body into chunks, keeping each chunk's original JSON text so it can be forwarded
 * without re-serialising. An `error` payload or an end without `[DONE]` is thrown, never passed as success.
 * A vendor's stream format (`adapt`, see openai.vendors.ts) goes through readVendorChunks instead.
 */
export function readOpenAiChunks(
  body: AsyncIterable<Buffer | string>,
  provider: string,
  adapt?: StreamAdaptations,
): AsyncGenerator<WithRawJson<ChatCompletionChunk>> {
  return adapt ? readVendorChunks(body, provider, adapt) : readPlainChunks(body, provider);
}

async function* readPlainChunks(
  body: AsyncIterable<Buffer | string>,
  provider: string,
): AsyncGenerator<WithRawJson<ChatCompletionChunk>> {
  // The SSE parser is driven here rather than through readSseEvents: one async generator fewer per chunk.
  const parser = new SseParser();
  try {
    for await (const bytes of body) {
      const events = parser.push(bytes);
      for (let i = 0; i < events.length; i++) {
        const data = events[i].data;
        if (data === '[DONE]') return;
        yield chunkOf(data, provider);
      }
    }
    for (const event of parser.end()) {
      if (event.data === '[DONE]') return;
      yield chunkOf(event.data, provider);
    }
  } catch (error) {
    if ((error as { status?: unknown }).status !== undefined) throw error;
    throw upstreamErrors.streamInterrupted(provider, 'the connection to the provider was lost mid-stream');
  }
  throw upstreamErrors.streamInterrupted(provider);
}

/**
 * The same with a vendor's differences: DeepSeek's cache hits as cached_tokens, Groq's `x_groq.usage` as a usage
 * chunk before the end (when no usage chunk came), and, with `streamEnd: finish`, a clean end without `[DONE]`
 * taken as complete once every choice that started has a finish_reason.
 */
async function* readVendorChunks(
  body: AsyncIterable<Buffer | string>,
  provider: string,
  adapt: StreamAdaptations,
): AsyncGenerator<WithRawJson<ChatCompletionChunk>> {
  const state = new VendorStreamState(adapt.usageFields);
  const parser = new SseParser();
  try {
    for await (const bytes of body) {
      for (const event of parser.push(bytes)) {
        if (event.data === '[DONE]') {
          yield* state.end();
          return;
        }
        yield state.add(chunkOf(event.data, provider));
      }
    }
    for (const event of parser.end()) {
      if (event.data === '[DONE]') {
        yield* state.end();
        return;
      }
      yield state.add(chunkOf(event.data, provider));
    }
  } catch (error) {
    if ((error as { status?: unknown }).status !== undefined) throw error;
    throw upstreamErrors.streamInterrupted(provider, 'the connection to the provider was lost mid-stream');
  }
  if (adapt.streamEnd !== 'finish' || !state.finished) throw upstreamErrors.streamInterrupted(provider);
  yield* state.end();
}

class VendorStreamState {
  private readonly started = new Set<number>();
  private readonly done = new Set<number>();
  private sawUsage = false;
  private pendingUsage?: Usage;
  private last?: ChatCompletionChunk;

  constructor(private readonly usageFields: UsageFields) {}

  add(chunk: WithRawJson<ChatCompletionChunk>): WithRawJson<ChatCompletionChunk> {
    this.last = chunk;
    for (const choice of chunk.choices ?? []) {
      this.started.add(choice.index);
      if (choice.finish_reason != null) this.done.add(choice.index);
    }
    if (chunk.usage) {
      this.sawUsage = true;
      if (usageWithVendorFields(chunk.usage, this.usageFields)) delete chunk[RAW_JSON];
    } else if (this.usageFields === 'groq') {
      this.pendingUsage = groqStreamUsage(chunk) ?? this.pendingUsage;
    }
    return chunk;
  }

  get finished(): boolean {
    if (this.started.size === 0) return false;
    for (const index of this.started) if (!this.done.has(index)) return false;
    return true;
  }

  /** Groq's usage as OpenAI's usage-only chunk, when the stream carried no usage chunk of its own. */
  *end(): Generator<ChatCompletionChunk> {
    const usage = this.pendingUsage;
    const last = this.last;
    if (this.sawUsage || !usage || !last) return;
    yield {
      id: last.id,
      object: 'chat.completion.chunk',
      created: last.created,
      model: last.model,
      choices: [],
      usage,
    };
  }
}

function chunkOf(data: string, provider: string): WithRawJson<ChatCompletionChunk> {
  let parsed: WithRawJson<ChatCompletionChunk> & OpenAiErrorPayload;
  try {
    parsed = JSON.parse(data) as WithRawJson<ChatCompletionChunk> & OpenAiErrorPayload;
  } catch {
    throw upstreamErrors.invalidResponse(provider, 'the stream carried an event that is not valid JSON');
  }
  if (parsed.error !== undefined) throw upstreamErrors.streamInterrupted(provider, errorFields(parsed).message);
  const choices = parsed.choices;
  let renamed = false;
  if (choices) for (const choice of choices) renamed = reasoningAsContent(choice.delta) || renamed;
  if (!renamed) parsed[RAW_JSON] = data;
  return parsed;
}

/**
 * OpenRouter (and servers copying it) name the reasoning text `reasoning`; the internal form and DeepSeek, vLLM and
 * Qwen name it `reasoning_content`. Returns whether it renamed one (the upstream's bytes then no longer fit).
 */
export function reasoningAsContent(message: { reasoning_content?: string | null } | undefined): boolean {
  if (message === undefined) return false;
  const fields = message as { reasoning?: unknown; reasoning_content?: string | null };
  const reasoning = fields.reasoning;
  if (typeof reasoning !== 'string') return false;
  if (fields.reasoning_content == null) fields.reasoning_content = reasoning;
  delete fields.reasoning;
  return true;
}

/** Packs float embeddings as base64 of little-endian float32, which is what the OpenAI SDK decodes. */
export function encodeEmbeddingsBase64(response: EmbeddingResponse): EmbeddingResponse {
  for (const item of response.data) {
    if (typeof item.embedding === 'string') continue;
    const floats = Float32Array.from(item.embedding);
    item.embedding = Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
  }
  return response;
}
