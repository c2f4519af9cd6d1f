/**
 * Pure translation between the gateway's OpenAI format and Anthropic's Messages API (spec §4.4–4.6):
 * request, response, stream events (through a small state object) and errors.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { echo, GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkChoice,
  ContentPart,
  FinishReason,
  FunctionTool,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { readSseEvents } from '../../upstream/sse-parser.js';
import { upstreamErrors } from '../provider-errors.js';
import type {
  AnthropicErrorBody,
  AnthropicImageBlock,
  AnthropicMessage,
  AnthropicMessagesRequest,
  AnthropicMessagesResponse,
  AnthropicRequestBlock,
  AnthropicRole,
  AnthropicStopReason,
  AnthropicStreamEvent,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
  AnthropicUsage,
} from './anthropic.types.js';

export interface AnthropicRequestDefaults {
  /** Used when the request sets neither `max_completion_tokens` nor `max_tokens` (Anthropic requires one). */
  defaultMaxTokens: number;
  /** The `anthropic-version` header sent; it decides which sampling parameters are accepted. */
  version: string;
}

/** From this API version on, sampling parameters are gone except `temperature: 1` (spec §3.1, §4.4 rule 7). */
const SAMPLING_FREE_VERSION = '2026-10-21';
/** The API wants the conversation to open with a user turn; this stands in when it opens with the assistant. */
const LEADING_USER_PLACEHOLDER = '.';
const IMAGE_MEDIA_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

// ---------------------------------------------------------------------------------------------------------------
// Request

/**
 * Builds the Messages API body (without `stream`, which the transport decides). Throws InvalidRequestError for
 * what Anthropic cannot do; unknown extra fields and best-effort hints it lacks (`seed`, penalties) are dropped.
 */
export function toAnthropicRequest(
  request: ChatCompletionRequest,
  defaults: AnthropicRequestDefaults,
): AnthropicMessagesRequest {
  rejectUnsupportedParameters(request);
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  request.messages.forEach((message, i) => {
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = plainText(message.content, `messages[${i}].content`);
        if (text !== '') system.push(text);
        return;
      }
      case 'user':
        appendMessage(messages, 'user', userContent(message.content, i));
        return;
      case 'assistant': {
        const blocks = assistantBlocks(message, i);
        if (blocks.length > 0) appendMessage(messages, 'assistant', blocks);
        return;
      }
      case 'tool':
        appendMessage(messages, 'user', [toolResultBlock(message, i)]);
        return;
      default:
        throw new InvalidRequestError(
          `Role '${String(message.role)}' is not supported by Anthropic; send tool results as 'tool' messages.`,
          `messages[${i}].role`,
          'unsupported_value',
        );
    }
  });
  if (messages.length === 0) {
    throw new InvalidRequestError('At least one user or assistant message is required.', 'messages');
  }
  if (messages[0].role !== 'user') messages.unshift({ role: 'user', content: LEADING_USER_PLACEHOLDER });

  const body: AnthropicMessagesRequest = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? defaults.defaultMaxTokens,
    messages,
  };
  if (system.length > 0) body.system = system.join('\n\n');
  applySampling(body, request, defaults.version);
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  if (stop.length > 0) body.stop_sequences = stop;
  if (request.user) body.metadata = { user_id: request.user };
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map(toAnthropicTool);
    const toolChoice = toAnthropicToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (toolChoice) body.tool_choice = toolChoice;
  }
  return body;
}

function unsupported(message: string, param: string): InvalidRequestError {
  return new InvalidRequestError(message, param, 'unsupported_parameter');
}

/** Spec §4.1: refuse rather than silently ignore what would change the answer's shape. */
function rejectUnsupportedParameters(request: ChatCompletionRequest): void {
  if (request.n != null && request.n > 1) {
    throw unsupported('Anthropic returns one choice per request; n greater than 1 is not supported.', 'n');
  }
  if (request.logprobs === true) throw unsupported('Anthropic does not return log probabilities.', 'logprobs');
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) {
    throw unsupported('Anthropic does not support logit_bias.', 'logit_bias');
  }
  if (request.audio != null) throw unsupported('Anthropic does not produce audio output.', 'audio');
  const format = request.response_format?.type;
  if (format === 'json_object' || format === 'json_schema') {
    throw unsupported(`response_format '${echo(format)}' is not supported for Anthropic models.`, 'response_format');
  }
}

/**
 * Temperature is clamped, not rejected: OpenAI's 0–2 maps onto Anthropic's 0–1 as min(t, 1) (spec §4.4 rule 7).
 * From API version 2026-10-21 only `temperature: 1` is accepted and `top_p` is gone, so they are omitted.
 */
function applySampling(body: AnthropicMessagesRequest, request: ChatCompletionRequest, version: string): void {
  const temperature = request.temperature;
  if (version >= SAMPLING_FREE_VERSION) {
    if (temperature === 1) body.temperature = 1;
    return;
  }
  if (temperature != null) body.temperature = Math.min(Math.max(temperature, 0), 1);
  if (request.top_p != null) body.top_p = request.top_p;
}

/** Joins text-only content (system, developer and tool messages); any other part is a 400. */
function plainText(content: ChatMessage['content'], param: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type !== 'text') {
        throw new InvalidRequestError(`Only text parts are allowed here, got '${echo(part.type)}'.`, `${param}[${j}]`);
      }
      return part.text;
    })
    .join('\n');
}

function userContent(content: ChatMessage['content'], i: number): string | AnthropicRequestBlock[] {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((part, j) => userBlock(part, `messages[${i}].content[${j}]`));
}

function userBlock(part: ContentPart, param: string): AnthropicRequestBlock {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image_url':
      return imageBlock(part.image_url.url, `${param}.image_url.url`);
    case 'input_audio':
      throw new InvalidRequestError('Anthropic models do not accept audio input.', param, 'unsupported_value');
    default:
      throw new InvalidRequestError(
        `Content parts of type '${part.type}' are not supported for Anthropic models.`,
        param,
        'unsupported_value',
      );
  }
}

function imageBlock(url: string, param: string): AnthropicImageBlock {
  if (url.startsWith('data:')) {
    const match = DATA_URL.exec(url);
    if (!match) throw new InvalidRequestError('Image data URLs must be base64-encoded.', param);
    const mediaType = match[1].toLowerCase();
    if (!IMAGE_MEDIA_TYPES.has(mediaType)) {
      throw new InvalidRequestError(
        `Image type '${mediaType}' is not supported; use jpeg, png, gif or webp.`,
        param,
        'unsupported_value',
      );
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType, data: match[2] } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new InvalidRequestError('Image URLs must be http(s) or base64 data URLs.', param);
}

function assistantBlocks(message: ChatMessage, i: number): AnthropicRequestBlock[] {
  const blocks: AnthropicRequestBlock[] = [];
  const content = message.content;
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content });
  } else if (content) {
    content.forEach((part, j) => {
      if (part.type === 'text' || part.type === 'refusal') {
        const text = part.type === 'text' ? part.text : part.refusal;
        if (text !== '') blocks.push({ type: 'text', text });
      } else {
        throw new InvalidRequestError(
          `Assistant content parts must be text, got '${part.type}'.`,
          `messages[${i}].content[${j}]`,
        );
      }
    });
  }
  message.tool_calls?.forEach((call, j) => blocks.push(toolUseBlock(call, `messages[${i}].tool_calls[${j}]`)));
  return blocks;
}

function toolUseBlock(call: ToolCall, param: string): AnthropicToolUseBlock {
  return {
    type: 'tool_use',
    id: call.id,
    name: call.function.name,
    input: parseToolArguments(call.function.arguments, `${param}.function.arguments`),
  };
}

/** Anthropic wants the input as an object; an empty string (a call without arguments) becomes `{}`. */
function parseToolArguments(text: string, param: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('Tool call arguments must be valid JSON.', param);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('Tool call arguments must be a JSON object.', param);
  }
  return value as Record<string, unknown>;
}

function toolResultBlock(message: ChatMessage, i: number): AnthropicToolResultBlock {
  if (!message.tool_call_id) {
    throw new InvalidRequestError('Tool messages need a tool_call_id.', `messages[${i}].tool_call_id`);
  }
  return {
    type: 'tool_result',
    tool_use_id: message.tool_call_id,
    content: plainText(message.content, `messages[${i}].content`),
  };
}

function asBlocks(content: string | AnthropicRequestBlock[]): AnthropicRequestBlock[] {
  if (typeof content !== 'string') return content;
  return content === '' ? [] : [{ type: 'text', text: content }];
}

/**
 * Appends a turn, merging it into the previous one when the role repeats (the API wants alternating turns).
 * In a merged user turn the tool_result blocks go first, as the API requires after a tool_use turn.
 */
function appendMessage(
  messages: AnthropicMessage[],
  role: AnthropicRole,
  content: string | AnthropicRequestBlock[],
): void {
  const last = messages.at(-1);
  if (last?.role !== role) {
    messages.push({ role, content });
    return;
  }
  const blocks = [...asBlocks(last.content), ...asBlocks(content)];
  if (role === 'assistant') {
    last.content = blocks;
    return;
  }
  const toolResults = blocks.filter((block) => block.type === 'tool_result');
  last.content = [...toolResults, ...blocks.filter((block) => block.type !== 'tool_result')];
}

function toAnthropicTool(tool: FunctionTool, i: number): AnthropicTool {
  if (tool.type !== 'function') {
    throw new InvalidRequestError(
      `Tools of type '${String(tool.type)}' are not supported for Anthropic models.`,
      `tools[${i}].type`,
      'unsupported_value',
    );
  }
  const result: AnthropicTool = {
    name: tool.function.name,
    input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
  };
  if (tool.function.description !== undefined) result.description = tool.function.description;
  return result;
}

function toAnthropicToolChoice(
  choice: ToolChoice | undefined,
  parallelToolCalls: boolean | undefined,
): AnthropicToolChoice | undefined {
  let mapped: AnthropicToolChoice | undefined;
  if (choice === undefined) mapped = parallelToolCalls === false ? { type: 'auto' } : undefined;
  else if (choice === 'none') return { type: 'none' };
  else if (choice === 'auto') mapped = { type: 'auto' };
  else if (choice === 'required') mapped = { type: 'any' };
  else if (choice.type === 'function') mapped = { type: 'tool', name: choice.function.name };
  else {
    throw new InvalidRequestError(
      `tool_choice of type '${choice.type}' is not supported for Anthropic models.`,
      'tool_choice',
      'unsupported_value',
    );
  }
  if (mapped && parallelToolCalls === false) mapped.disable_parallel_tool_use = true;
  return mapped;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

const FINISH_REASONS: Record<AnthropicStopReason, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** A stop reason this adapter does not know yet is reported as a normal stop. */
export function toFinishReason(stopReason: AnthropicStopReason | null | undefined): FinishReason {
  return (stopReason && FINISH_REASONS[stopReason]) || 'stop';
}

interface UsageCounts {
  input: number;
  cacheCreation: number;
  cacheRead: number;
  output: number;
}

function usageCounts(usage: Partial<AnthropicUsage> | undefined): UsageCounts {
  return {
    input: usage?.input_tokens ?? 0,
    cacheCreation: usage?.cache_creation_input_tokens ?? 0,
    cacheRead: usage?.cache_read_input_tokens ?? 0,
    output: usage?.output_tokens ?? 0,
  };
}

/** Anthropic's `input_tokens` leaves out cached tokens; OpenAI's `prompt_tokens` counts everything read. */
function toUsage(counts: UsageCounts): Usage {
  const prompt = counts.input + counts.cacheCreation + counts.cacheRead;
  return {
    prompt_tokens: prompt,
    completion_tokens: counts.output,
    total_tokens: prompt + counts.output,
    prompt_tokens_details: { cached_tokens: counts.cacheRead },
  };
}

/** Text blocks become `content`, tool_use blocks `tool_calls`; thinking and server-tool blocks are dropped. */
export function fromAnthropicResponse(
  response: AnthropicMessagesResponse,
  requestedModel: string,
  provider: string,
  now: number = Date.now(),
): ChatCompletion {
  if (!response || !Array.isArray(response.content)) {
    throw upstreamErrors.invalidResponse(provider, 'the response has no content array');
  }
  let text: string | null = null;
  const toolCalls: ToolCall[] = [];
  for (const block of response.content) {
    if (block.type === 'text') text = (text ?? '') + block.text;
    else if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const message: ChatCompletionChoice['message'] = { role: 'assistant', content: text, refusal: null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: `chatcmpl-${response.id}`,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model: requestedModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: toFinishReason(response.stop_reason) }],
    usage: toUsage(usageCounts(response.usage)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stream

export interface AnthropicStreamState {
  readonly provider: string;
  readonly model: string;
  readonly created: number;
  readonly includeUsage: boolean;
  /** `chatcmpl-<message id>`, known from message_start. */
  id: string;
  started: boolean;
  finished: boolean;
  /** OpenAI numbers tool calls 0, 1, …; Anthropic numbers all content blocks. */
  toolCallIndexByBlock: Map<number, number>;
  finishReason: FinishReason | null;
  usage: UsageCounts;
}

export function createAnthropicStreamState(options: {
  provider: string;
  model: string;
  includeUsage: boolean;
  now?: number;
}): AnthropicStreamState {
  return {
    provider: options.provider,
    model: options.model,
    created: Math.floor((options.now ?? Date.now()) / 1000),
    includeUsage: options.includeUsage,
    id: '',
    started: false,
    finished: false,
    toolCallIndexByBlock: new Map(),
    finishReason: null,
    usage: usageCounts(undefined),
  };
}

function chunk(
  state: AnthropicStreamState,
  delta: ChunkChoice['delta'],
  finishReason: FinishReason | null = null,
): ChatCompletionChunk {
  const result: ChatCompletionChunk = {
    id: state.id,
    object: 'chat.completion.chunk',
    created: state.created,
    model: state.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
  if (state.includeUsage) result.usage = null;
  return result;
}

/**
 * One Anthropic stream event → the OpenAI chunks it implies (often none). The finish chunk and the usage chunk
 * are sent at `message_stop`, so a stream cut short never looks complete. An `error` event is thrown.
 */
export function fromAnthropicStreamEvent(
  state: AnthropicStreamState,
  event: AnthropicStreamEvent,
): ChatCompletionChunk[] {
  if (state.finished) return [];
  if (event.type === 'ping') return [];
  if (event.type === 'error') throw streamErrorOf(state.provider, event.error);
  if (event.type === 'message_start') {
    if (state.started) return [];
    state.started = true;
    state.id = `chatcmpl-${event.message.id}`;
    state.usage = usageCounts(event.message.usage);
    return [chunk(state, { role: 'assistant', content: '' })];
  }
  if (!state.started && isKnownEvent(event)) {
    throw upstreamErrors.invalidResponse(state.provider, `'${event.type}' arrived before message_start`);
  }
  switch (event.type) {
    case 'content_block_start': {
      const block = event.content_block;
      if (block.type === 'text') return block.text ? [chunk(state, { content: block.text })] : [];
      if (block.type !== 'tool_use') return [];
      const index = state.toolCallIndexByBlock.size;
      state.toolCallIndexByBlock.set(event.index, index);
      return [
        chunk(state, {
          tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }],
        }),
      ];
    }
    case 'content_block_delta': {
      const delta = event.delta;
      if (delta.type === 'text_delta') return delta.text ? [chunk(state, { content: delta.text })] : [];
      if (delta.type !== 'input_json_delta' || !delta.partial_json) return [];
      const index = state.toolCallIndexByBlock.get(event.index);
      if (index === undefined) return [];
      return [chunk(state, { tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
    }
    case 'message_delta': {
      if (event.delta?.stop_reason) state.finishReason = toFinishReason(event.delta.stop_reason);
      const usage = event.usage;
      if (usage) {
        // Counts here are cumulative and nullable: a present value replaces the one from message_start.
        const counts = state.usage;
        if (typeof usage.output_tokens === 'number') counts.output = usage.output_tokens;
        if (typeof usage.input_tokens === 'number') counts.input = usage.input_tokens;
        if (typeof usage.cache_creation_input_tokens === 'number') {
          counts.cacheCreation = usage.cache_creation_input_tokens;
        }
        if (typeof usage.cache_read_input_tokens === 'number') counts.cacheRead = usage.cache_read_input_tokens;
      }
      return [];
    }
    case 'message_stop': {
      state.finished = true;
      const chunks = [chunk(state, {}, state.finishReason ?? 'stop')];
      if (state.includeUsage) {
        chunks.push({
          id: state.id,
          object: 'chat.completion.chunk',
          created: state.created,
          model: state.model,
          choices: [],
          usage: toUsage(state.usage),
        });
      }
      return chunks;
    }
    default:
      // New event types may appear; the API docs say to ignore them.
      return [];
  }
}

function streamErrorOf(provider: string, detail: { type?: string; message?: string } | undefined): GatewayError {
  return detail?.type === 'overloaded_error'
    ? upstreamErrors.overloaded(provider, detail.message)
    : upstreamErrors.streamInterrupted(provider, detail?.message);
}

/** The failure an `error` event of a Messages stream means (its data as the upstream sent it). */
export function anthropicStreamError(provider: string, data: string): GatewayError {
  try {
    return streamErrorOf(provider, (JSON.parse(data) as { error?: { type?: string; message?: string } }).error);
  } catch {
    return upstreamErrors.streamInterrupted(provider);
  }
}

const KNOWN_EVENTS = new Set([
  'content_block_start',
  'content_block_delta',
  'content_block_stop',
  'message_delta',
  'message_stop',
]);

function isKnownEvent(event: AnthropicStreamEvent): boolean {
  return KNOWN_EVENTS.has(event.type);
}

/**
 * Reads an Anthropic SSE body into OpenAI chunks. The body is read to its end (so the socket can be reused) but
 * events after `message_stop` are ignored; an end without `message_stop` or a broken connection is thrown.
 */
export async function* readAnthropicChunks(
  body: AsyncIterable<Buffer | string>,
  state: AnthropicStreamState,
): AsyncGenerator<ChatCompletionChunk> {
  try {
    for await (const sse of readSseEvents(body)) {
      let event: AnthropicStreamEvent;
      try {
        event = JSON.parse(sse.data) as AnthropicStreamEvent;
      } catch {
        throw upstreamErrors.invalidResponse(state.provider, 'the stream carried an event that is not valid JSON');
      }
      yield* fromAnthropicStreamEvent(state, event);
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw upstreamErrors.streamInterrupted(state.provider, 'the connection to the provider was lost mid-stream');
  }
  if (!state.finished) throw upstreamErrors.streamInterrupted(state.provider);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

const PROMPT_TOO_LONG = /prompt is too long|exceed(s|ed)? (the )?context (window|limit)/i;
/** Anthropic reports an empty prepaid balance as a 400 invalid_request_error, not a 402. */
const CREDIT_BALANCE = /credit balance is too low/i;

function errorDetail(body: unknown): Partial<AnthropicErrorBody['error']> {
  const error = (body as Partial<AnthropicErrorBody> | null)?.error;
  // Non-JSON bodies (a proxy's HTML page, e.g. Cloudflare's 413) carry nothing worth relaying.
  return error !== null && typeof error === 'object' ? error : {};
}

/** Maps an Anthropic error answer (status + `{type:"error", error:{type, message}}`) per spec §4.6. */
export function toGatewayErrorFromAnthropic(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const { type, message } = errorDetail(body);
  const text = typeof message === 'string' ? message : undefined;
  const retryAfterMs = parseRetryAfterMs(headers);
  if (status === 401) return upstreamErrors.authFailed(provider);
  if (status === 402 || type === 'billing_error' || (text && CREDIT_BALANCE.test(text))) {
    return upstreamErrors.insufficientQuota(provider, text);
  }
  if (status === 403) return upstreamErrors.permissionDenied(provider, text);
  if (status === 404) return upstreamErrors.modelNotFound(provider, text);
  if (status === 413) return upstreamErrors.requestTooLarge(provider, text);
  if (status === 429) return upstreamErrors.rateLimited(provider, text, retryAfterMs);
  if (status === 529 || status === 503 || type === 'overloaded_error') {
    return upstreamErrors.overloaded(provider, text, retryAfterMs);
  }
  if (status === 504 || status === 408 || type === 'timeout_error') return upstreamErrors.timeout(provider, text);
  if (status >= 500) return upstreamErrors.serverError(provider, text, status);
  if (text && PROMPT_TOO_LONG.test(text)) return upstreamErrors.contextLengthExceeded(provider, text);
  return upstreamErrors.badRequest(provider, text);
}
