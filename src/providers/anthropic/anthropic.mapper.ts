/**
 * Pure translation between the gateway's OpenAI format and Anthropic's Messages API (spec §4.4–4.6):
 * request, response, stream events (through a small state object) and errors.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { echo, GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  CacheControl,
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkChoice,
  ContentPart,
  FinishReason,
  FunctionTool,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { readSseEvents } from '../../upstream/sse-parser.js';
import { claudeThinkingOf, maxTokensAfterThinking, thinkingIsOn } from '../claude-thinking.js';
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
  AnthropicTextBlock,
  AnthropicThinkingConfig,
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
  /**
   * How `response_format: json_schema` is asked for: `native` as `output_config.format` (structured outputs, the
   * models that have it), `tool` as a forced call of a tool whose input schema is the schema (every model).
   */
  structuredOutput: 'native' | 'tool';
}

/** The forced tool that carries a `json_object` answer: a tool's input is always a JSON object. */
const JSON_OBJECT_TOOL = 'json_object';
/** The forced tool's name for a `json_schema` without a name. */
const JSON_SCHEMA_TOOL = 'json_output';

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
  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessage[] = [];
  request.messages.forEach((message, i) => {
    switch (message.role) {
      case 'system':
      case 'developer':
        system.push(...systemBlocks(message, i));
        return;
      case 'user':
        appendMessage(messages, 'user', withCacheOnLast(userContent(message.content, i), message.cache_control));
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

  const requestedMaxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  const body: AnthropicMessagesRequest = { model: request.model, max_tokens: 0, messages };
  if (system.length > 0) {
    body.system = system.some((block) => block.cache_control) ? system : system.map((block) => block.text).join('\n\n');
  }
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  if (stop.length > 0) body.stop_sequences = stop;
  if (request.user) body.metadata = { user_id: request.user };
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map(toAnthropicTool);
    const toolChoice = toAnthropicToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (toolChoice) body.tool_choice = toolChoice;
  }
  applyStructuredOutput(body, request, defaults);
  const thinking = thinkingFor(body, request, requestedMaxTokens);
  if (thinking) body.thinking = thinking;
  body.max_tokens = requestedMaxTokens ?? maxTokensAfterThinking(thinking) ?? defaults.defaultMaxTokens;
  applySampling(body, request, defaults.version, thinkingIsOn(thinking));
  return body;
}

/**
 * The `thinking` to send (see claude-thinking.ts). Claude cannot think while tool use is forced: an explicit
 * `thinking` then is a 400, one derived from `reasoning_effort` is left out.
 */
function thinkingFor(
  body: AnthropicMessagesRequest,
  request: ChatCompletionRequest,
  maxTokens: number | undefined,
): AnthropicThinkingConfig | undefined {
  const thinking = claudeThinkingOf(request, maxTokens) ?? undefined;
  const forced = body.tool_choice?.type === 'any' || body.tool_choice?.type === 'tool';
  if (!forced || thinking?.type !== 'enabled') return thinking;
  if (request.thinking === undefined) return undefined;
  throw unsupported(
    request.response_format && request.response_format.type !== 'text'
      ? 'Anthropic cannot think while it answers in a forced tool call; this response_format needs one here (or turn thinking off).'
      : 'Anthropic cannot think while tool_choice forces a tool call; use tool_choice auto or turn thinking off.',
    'thinking',
  );
}

/** The forced tool that carries the structured answer (json_object, or json_schema in `tool` mode), else undefined. */
export function structuredOutputTool(
  request: ChatCompletionRequest,
  defaults: AnthropicRequestDefaults,
): string | undefined {
  const format = request.response_format;
  if (format?.type === 'json_object') return JSON_OBJECT_TOOL;
  if (format?.type !== 'json_schema' || defaults.structuredOutput !== 'tool') return undefined;
  return format.json_schema?.name ?? JSON_SCHEMA_TOOL;
}

/**
 * json_schema → `output_config.format` (native) or a forced tool with the schema as its input schema (tool mode);
 * json_object → a forced tool taking any object. The tool's call comes back as the answer's text.
 * https://platform.claude.com/docs/en/build-with-claude/structured-outputs
 */
function applyStructuredOutput(
  body: AnthropicMessagesRequest,
  request: ChatCompletionRequest,
  defaults: AnthropicRequestDefaults,
): void {
  const format = request.response_format;
  if (format?.type !== 'json_object' && format?.type !== 'json_schema') return;
  let schema: Record<string, unknown> = { type: 'object' };
  if (format.type === 'json_schema') {
    if (!format.json_schema?.schema) {
      throw new InvalidRequestError(
        'response_format json_schema needs a schema.',
        'response_format.json_schema.schema',
      );
    }
    schema = format.json_schema.schema;
  }
  const name = structuredOutputTool(request, defaults);
  if (name === undefined) {
    body.output_config = { format: { type: 'json_schema', schema } };
    return;
  }
  if (body.tools?.some((tool) => tool.name === name)) {
    throw new InvalidRequestError(
      `A tool is already named '${echo(name)}'; give the response_format's schema another name.`,
      'response_format.json_schema.name',
    );
  }
  const tool: AnthropicTool = {
    name,
    description: format.json_schema?.description ?? 'Answer with a JSON object as the input of this tool.',
    input_schema: schema,
  };
  body.tools = [...(body.tools ?? []), tool];
  body.tool_choice = { type: 'tool', name };
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
}

/** With thinking on, Claude takes top_p only from 0.95 to 1 (extended-thinking "Feature compatibility"). */
const MIN_TOP_P_WHILE_THINKING = 0.95;

/**
 * Temperature is clamped, not rejected: OpenAI's 0–2 maps onto Anthropic's 0–1 as min(t, 1) (spec §4.4 rule 7).
 * From API version 2026-10-21 only `temperature: 1` is accepted and `top_p` is gone, so they are omitted; while
 * thinking, temperature must be 1 and top_k is refused, so what does not fit is left out too.
 */
function applySampling(
  body: AnthropicMessagesRequest,
  request: ChatCompletionRequest,
  version: string,
  thinking: boolean,
): void {
  const temperature = request.temperature;
  if (version >= SAMPLING_FREE_VERSION || thinking) {
    if (temperature === 1) body.temperature = 1;
    if (version < SAMPLING_FREE_VERSION && request.top_p != null && request.top_p >= MIN_TOP_P_WHILE_THINKING) {
      body.top_p = Math.min(request.top_p, 1);
    }
    return;
  }
  if (temperature != null) body.temperature = Math.min(Math.max(temperature, 0), 1);
  if (request.top_p != null) body.top_p = request.top_p;
  if (typeof request.top_k === 'number') body.top_k = request.top_k;
}

/**
 * A system or developer entry as text blocks: one per entry, or one per part when a part carries a cache
 * breakpoint; the entry's own `cache_control` marks its last block. Empty text is left out (the API refuses it).
 */
function systemBlocks(message: ChatMessage, i: number): AnthropicTextBlock[] {
  const content = message.content;
  const param = `messages[${i}].content`;
  let blocks: AnthropicTextBlock[];
  if (Array.isArray(content) && content.some((part) => part.type === 'text' && part.cache_control)) {
    blocks = content.map((part, j) => {
      if (part.type !== 'text') {
        throw new InvalidRequestError(`Only text parts are allowed here, got '${echo(part.type)}'.`, `${param}[${j}]`);
      }
      return textBlock(part.text, part.cache_control);
    });
  } else {
    blocks = [textBlock(plainText(content, param))];
  }
  blocks = blocks.filter((block) => block.text !== '');
  const last = blocks.at(-1);
  if (last && message.cache_control) last.cache_control = message.cache_control;
  return blocks;
}

function textBlock(text: string, cacheControl?: CacheControl): AnthropicTextBlock {
  return cacheControl ? { type: 'text', text, cache_control: cacheControl } : { type: 'text', text };
}

/** Puts a message-level cache breakpoint on its last block (a string becomes one text block to carry it). */
function withCacheOnLast<T extends string | AnthropicRequestBlock[]>(
  content: T,
  cacheControl: CacheControl | undefined,
): T | AnthropicRequestBlock[] {
  if (!cacheControl) return content;
  const blocks = asBlocks(content);
  const last = blocks.at(-1);
  if (last && last.type !== 'thinking' && last.type !== 'redacted_thinking') last.cache_control = cacheControl;
  return blocks;
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
      return textBlock(part.text, part.cache_control);
    case 'image_url': {
      const block = imageBlock(part.image_url.url, `${param}.image_url.url`);
      if (part.cache_control) block.cache_control = part.cache_control;
      return block;
    }
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

/**
 * Thinking blocks first, exactly as Claude produced them (it refuses changed or missing ones while thinking:
 * extended-thinking "Preserving thinking blocks"), then text, then tool uses; `reasoning_content` without signed
 * blocks has nothing Claude can verify and is left out.
 */
function assistantBlocks(message: ChatMessage, i: number): AnthropicRequestBlock[] {
  const blocks = toThinkingBlocks(message.thinking_blocks);
  const content = message.content;
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content });
  } else if (content) {
    content.forEach((part, j) => {
      if (part.type === 'text' || part.type === 'refusal') {
        const text = part.type === 'text' ? part.text : part.refusal;
        if (text !== '') blocks.push(textBlock(text, part.type === 'text' ? part.cache_control : undefined));
      } else {
        throw new InvalidRequestError(
          `Assistant content parts must be text, got '${part.type}'.`,
          `messages[${i}].content[${j}]`,
        );
      }
    });
  }
  message.tool_calls?.forEach((call, j) => blocks.push(toolUseBlock(call, `messages[${i}].tool_calls[${j}]`)));
  return withCacheOnLast(blocks, message.cache_control);
}

function toThinkingBlocks(blocks: ThinkingBlock[] | undefined): AnthropicRequestBlock[] {
  const result: AnthropicRequestBlock[] = [];
  for (const block of blocks ?? []) {
    if (block.type === 'redacted_thinking') result.push({ type: 'redacted_thinking', data: block.data });
    // An unsigned block (another provider's reasoning) cannot be verified by Claude and would be refused.
    else if (block.signature) result.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
  }
  return result;
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
  const result: AnthropicToolResultBlock = {
    type: 'tool_result',
    tool_use_id: message.tool_call_id,
    content: plainText(message.content, `messages[${i}].content`),
  };
  const partMarker = Array.isArray(message.content)
    ? message.content.findLast((part) => part.type === 'text')?.cache_control
    : undefined;
  const marker = message.cache_control ?? partMarker;
  if (marker) result.cache_control = marker;
  return result;
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
  if (tool.cache_control) result.cache_control = tool.cache_control;
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
  /** Part of `output`, when the model reports it apart. */
  thinking: number | undefined;
}

function usageCounts(usage: Partial<AnthropicUsage> | undefined): UsageCounts {
  return {
    input: usage?.input_tokens ?? 0,
    cacheCreation: usage?.cache_creation_input_tokens ?? 0,
    cacheRead: usage?.cache_read_input_tokens ?? 0,
    output: usage?.output_tokens ?? 0,
    thinking: usage?.output_tokens_details?.thinking_tokens,
  };
}

/**
 * Anthropic's `input_tokens` leaves out cache reads and writes; OpenAI's `prompt_tokens` counts all input, with
 * the reads as `cached_tokens` and the writes as `cache_creation_tokens`.
 */
function toUsage(counts: UsageCounts): Usage {
  const prompt = counts.input + counts.cacheCreation + counts.cacheRead;
  const usage: Usage = {
    prompt_tokens: prompt,
    completion_tokens: counts.output,
    total_tokens: prompt + counts.output,
    prompt_tokens_details: { cached_tokens: counts.cacheRead, cache_creation_tokens: counts.cacheCreation },
  };
  if (counts.thinking !== undefined) usage.completion_tokens_details = { reasoning_tokens: counts.thinking };
  return usage;
}

/**
 * Text blocks become `content`, tool_use blocks `tool_calls` (the structured-output tool's input becomes the
 * content instead), thinking and redacted_thinking blocks `thinking_blocks` exactly as they came with their text
 * also in `reasoning_content`; server-tool blocks are dropped.
 */
export function fromAnthropicResponse(
  response: AnthropicMessagesResponse,
  requestedModel: string,
  provider: string,
  now: number = Date.now(),
  structuredTool?: string,
): ChatCompletion {
  if (!response || !Array.isArray(response.content)) {
    throw upstreamErrors.invalidResponse(provider, 'the response has no content array');
  }
  let text: string | null = null;
  let reasoning: string | null = null;
  let structured = false;
  const toolCalls: ToolCall[] = [];
  const thinkingBlocks: ThinkingBlock[] = [];
  for (const block of response.content) {
    if (block.type === 'text') text = (text ?? '') + block.text;
    else if (block.type === 'tool_use' && block.name === structuredTool) {
      text = (text ?? '') + JSON.stringify(block.input ?? {});
      structured = true;
    } else if (block.type === 'tool_use') {
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    } else if (block.type === 'thinking') {
      reasoning = (reasoning ?? '') + block.thinking;
      thinkingBlocks.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
    } else if (block.type === 'redacted_thinking') {
      thinkingBlocks.push({ type: 'redacted_thinking', data: block.data });
    }
  }
  const message: ChatCompletionChoice['message'] = { role: 'assistant', content: text, refusal: null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (reasoning !== null) message.reasoning_content = reasoning;
  if (thinkingBlocks.length > 0) message.thinking_blocks = thinkingBlocks;
  const finish = structured && toolCalls.length === 0 ? 'stop' : toFinishReason(response.stop_reason);
  return {
    id: `chatcmpl-${response.id}`,
    object: 'chat.completion',
    created: Math.floor(now / 1000),
    model: requestedModel,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
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
  /** The tool whose call carries a structured answer (its input streams as content), if one was forced. */
  readonly structuredTool: string | undefined;
  /** Content blocks of the structured-output tool. */
  structuredBlocks: Set<number>;
  finishReason: FinishReason | null;
  usage: UsageCounts;
}

export function createAnthropicStreamState(options: {
  provider: string;
  model: string;
  includeUsage: boolean;
  structuredTool?: string;
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
    structuredTool: options.structuredTool,
    structuredBlocks: new Set(),
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

/** Reasoning text as it streams: in `reasoning_content`, and as a fragment of the block being built. */
function thinkingChunk(state: AnthropicStreamState, thinking: string): ChatCompletionChunk {
  return chunk(state, { reasoning_content: thinking, thinking_blocks: [{ type: 'thinking', thinking }] });
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
      if (block.type === 'thinking') return block.thinking ? [thinkingChunk(state, block.thinking)] : [];
      if (block.type === 'redacted_thinking') {
        return [chunk(state, { thinking_blocks: [{ type: 'redacted_thinking', data: block.data }] })];
      }
      if (block.type !== 'tool_use') return [];
      if (block.name === state.structuredTool) {
        state.structuredBlocks.add(event.index);
        return [];
      }
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
      if (delta.type === 'thinking_delta') return delta.thinking ? [thinkingChunk(state, delta.thinking)] : [];
      if (delta.type === 'signature_delta') {
        return [chunk(state, { thinking_blocks: [{ type: 'thinking', thinking: '', signature: delta.signature }] })];
      }
      if (delta.type !== 'input_json_delta' || !delta.partial_json) return [];
      if (state.structuredBlocks.has(event.index)) return [chunk(state, { content: delta.partial_json })];
      const index = state.toolCallIndexByBlock.get(event.index);
      if (index === undefined) return [];
      return [chunk(state, { tool_calls: [{ index, function: { arguments: delta.partial_json } }] })];
    }
    case 'message_delta': {
      const stopReason = event.delta?.stop_reason;
      if (stopReason) {
        const onlyStructured = state.structuredBlocks.size > 0 && state.toolCallIndexByBlock.size === 0;
        state.finishReason = onlyStructured && stopReason === 'tool_use' ? 'stop' : toFinishReason(stopReason);
      }
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
        const thinking = usage.output_tokens_details?.thinking_tokens;
        if (typeof thinking === 'number') counts.thinking = thinking;
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
