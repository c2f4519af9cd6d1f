/**
 * Translation between the Messages API and the gateway's internal (chat) form: the mirror image of the Anthropic
 * provider's mapper (src/providers/anthropic/anthropic.mapper.ts, spec §4.4–4.5), plus what that mapper leaves out
 * (thinking blocks, cache markers, structured output, documents).
 * Followed: https://platform.claude.com/docs/en/api/messages (request and Message),
 * https://platform.claude.com/docs/en/build-with-claude/streaming (event sequence),
 * https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages,
 * https://platform.claude.com/docs/en/build-with-claude/extended-thinking and …/adaptive-thinking (thinking blocks,
 * signatures, redacted thinking), https://platform.claude.com/docs/en/build-with-claude/effort,
 * https://platform.claude.com/docs/en/build-with-claude/structured-outputs (`output_config.format`),
 * https://platform.claude.com/docs/en/build-with-claude/prompt-caching (block and top-level `cache_control`),
 * https://platform.claude.com/docs/en/build-with-claude/pdf-support (document blocks),
 * https://docs.claude.com/en/docs/agents-and-tools/tool-use/fine-grained-tool-streaming ("Handling invalid JSON":
 * wrap it as `{"INVALID_JSON": "<text>"}`), https://platform.claude.com/docs/en/build-with-claude/token-counting.
 *
 * What the internal form cannot carry. On the way in: `context_management` (server-side context editing),
 * `container`, `mcp_servers`, `service_tier`, `inference_geo`, `speed`, `diagnostics`, thinking `display`, the tool
 * fields `eager_input_streaming`, `defer_loading`, `input_examples` and `allowed_callers`, citations (settings on
 * documents, citations on text blocks), image `transformations`, a beta system message's own `output_config`, and
 * the position of text relative to tool_use blocks in an assistant turn (chat keeps text in `content` and calls in
 * `tool_calls`); a cache marker on a tool_use block moves to its message. `effort: "max"` becomes
 * `reasoning_effort: "xhigh"`, the highest the internal form has, and `thinking: {type: "between_tools"}` becomes
 * adaptive thinking. Native passthrough keeps all of these. On the way out the Message has no citations, no
 * refusal category or explanation, no container, no server-tool usage and no split of cache writes by TTL
 * (`cache_creation`), `service_tier`, `inference_geo` or `speed`: those are null.
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  CacheControl,
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  ExtraContent,
  FilePart,
  FinishReason,
  FunctionTool,
  ImageUrlPart,
  ReasoningEffort,
  TextPart,
  ThinkingBlock,
  ThinkingConfig,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import {
  type AnthropicMessage,
  type CountTokensRequest,
  EXTRA_CONTENT_BLOCK_PREFIX,
  type MessagesCacheControl,
  type MessagesContentBlock,
  type MessagesContentBlockParam,
  type MessagesCustomTool,
  type MessagesDocumentBlockParam,
  type MessagesImageBlockParam,
  type MessagesImageSource,
  type MessagesMessageParam,
  type MessagesRedactedThinkingBlock,
  type MessagesRequest,
  type MessagesSearchResultBlockParam,
  type MessagesStopDetails,
  type MessagesStopReason,
  type MessagesStreamEvent,
  type MessagesSystemMessageParam,
  type MessagesTextBlockParam,
  type MessagesThinkingConfig,
  type MessagesTool,
  type MessagesToolResultBlockParam,
  type MessagesToolUseBlock,
  type MessagesToolUseBlockParam,
  type MessagesUsage,
  TOOL_USE_ID_ENVELOPE_PREFIX,
} from './messages.types.js';

export type ServerToolPolicy = 'drop' | 'reject';

export interface MessagesTranslation {
  chat: ChatCompletionRequest;
  /** Names of the Anthropic server / Anthropic-defined tools left out under the `drop` policy. */
  droppedTools: string[];
}

export interface MessageMeta {
  /** `msg_…` */
  id: string;
  /** The public model name the client asked for. */
  model: string;
}

/**
 * `is_error: true` on a tool_result becomes this prefix on the tool message's text: every model understands it and
 * the internal form needs no new field (chat tool messages have no error flag; strict OpenAI-compatible upstreams may refuse
 * unknown message fields).
 */
export const TOOL_ERROR_PREFIX = 'Error: ';
/** Anthropic's documented wrapper for tool input that is not valid JSON (fine-grained tool streaming page). */
const INVALID_JSON_KEY = 'INVALID_JSON';
/** The name OpenAI-style `response_format.json_schema` requires; Anthropic's format has none. */
const RESPONSE_SCHEMA_NAME = 'response';
/** OpenAI wants a file name with inline file data. */
const DEFAULT_PDF_NAME = 'document.pdf';

// ---------------------------------------------------------------------------------------------------------------
// Opaque state in ids and blocks (see messages.types.ts)

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decodeJson(text: string): unknown {
  try {
    return JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The tool_use id a tool call is handed out with: its own id, or an envelope when it has `extra_content`. */
export function toolUseIdOf(id: string, extra: ExtraContent | undefined): string {
  return extra === undefined ? id : `${TOOL_USE_ID_ENVELOPE_PREFIX}${encodeJson([id, extra])}`;
}

function decodeToolUseId(id: string): { id: string; extra?: ExtraContent } {
  if (!id.startsWith(TOOL_USE_ID_ENVELOPE_PREFIX)) return { id };
  const value = decodeJson(id.slice(TOOL_USE_ID_ENVELOPE_PREFIX.length));
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && isObject(value[1])) {
    return { id: value[0], extra: value[1] };
  }
  return { id };
}

/** The trailing block that carries a message's own `extra_content` back to the client. */
export function extraContentBlockOf(extra: ExtraContent): MessagesRedactedThinkingBlock {
  return { type: 'redacted_thinking', data: `${EXTRA_CONTENT_BLOCK_PREFIX}${encodeJson(extra)}` };
}

function extraContentOf(data: string): ExtraContent | undefined {
  if (!data.startsWith(EXTRA_CONTENT_BLOCK_PREFIX)) return undefined;
  const value = decodeJson(data.slice(EXTRA_CONTENT_BLOCK_PREFIX.length));
  return isObject(value) ? value : undefined;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A tool call's arguments as tool_use `input`: `{}` for none, the documented wrapper when not a JSON object. */
export function toolInputOf(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  return parseObject(text) ?? { [INVALID_JSON_KEY]: text };
}

/** Complete arguments as one input_json_delta: the upstream's own text when it is a JSON object, else the wrapper. */
export function toolInputJsonOf(text: string): string {
  return parseObject(text) ? text : JSON.stringify({ [INVALID_JSON_KEY]: text });
}

/** The inverse of toolInputOf: a wrapped invalid input goes back as the text it was. */
function argumentsOf(input: Record<string, unknown>): string {
  const keys = Object.keys(input);
  const wrapped = input[INVALID_JSON_KEY];
  return keys.length === 1 && typeof wrapped === 'string' ? wrapped : JSON.stringify(input);
}

// ---------------------------------------------------------------------------------------------------------------
// Request

function unsupported(param: string, what: string): InvalidRequestError {
  return new InvalidRequestError(
    `${param}: ${what} cannot be served by this model's provider; the gateway is configured to reject it.`,
    param,
    'unsupported_value',
  );
}

function cacheControlOf(marker: MessagesCacheControl | null | undefined): CacheControl | undefined {
  if (!marker) return undefined;
  return marker.ttl === undefined ? { type: 'ephemeral' } : { type: 'ephemeral', ttl: marker.ttl };
}

function withCache<T extends { cache_control?: CacheControl }>(
  part: T,
  marker: MessagesCacheControl | null | undefined,
): T {
  const cache = cacheControlOf(marker);
  if (cache) part.cache_control = cache;
  return part;
}

function textPart(text: string, marker?: MessagesCacheControl | null): TextPart {
  return withCache<TextPart>({ type: 'text', text }, marker);
}

function imagePart(source: MessagesImageSource, marker: MessagesCacheControl | null | undefined): ContentPart {
  switch (source.type) {
    case 'base64':
      return withCache<ImageUrlPart>(
        { type: 'image_url', image_url: { url: `data:${source.media_type};base64,${source.data}` } },
        marker,
      );
    case 'url':
      return withCache<ImageUrlPart>({ type: 'image_url', image_url: { url: source.url } }, marker);
    case 'file':
      // A Files API id; only an upstream that shares Anthropic's file store can resolve it.
      return withCache<FilePart>({ type: 'file', file: { file_id: source.file_id } }, marker);
  }
}

/**
 * Documents: a base64 PDF → a `file` part with a data URL (OpenAI's file input); plain text → text, after its
 * title; inline content → its text and image parts; a PDF URL → a text note naming the URL, because chat file
 * parts take inline data or file ids only, not URLs; a file id → a `file` part. The cache marker goes on the last
 * part.
 */
function documentParts(block: MessagesDocumentBlockParam): ContentPart[] {
  const source = block.source;
  const title = typeof block.title === 'string' && block.title !== '' ? block.title : undefined;
  let parts: ContentPart[];
  switch (source.type) {
    case 'base64':
      parts = [
        {
          type: 'file',
          file: { file_data: `data:${source.media_type};base64,${source.data}`, filename: title ?? DEFAULT_PDF_NAME },
        },
      ];
      break;
    case 'text':
      parts = [textPart(title === undefined ? source.data : `${title}\n\n${source.data}`)];
      break;
    case 'content':
      parts =
        typeof source.content === 'string'
          ? [textPart(source.content)]
          : source.content.map((item) =>
              item.type === 'text'
                ? textPart(item.text, item.cache_control)
                : imagePart(item.source, item.cache_control),
            );
      break;
    case 'url':
      parts = [textPart(`[Document${title === undefined ? '' : ` "${title}"`}: ${source.url}]`)];
      break;
    case 'file':
      parts = [{ type: 'file', file: { file_id: source.file_id } }];
      break;
  }
  const last = parts.at(-1);
  if (last && last.type !== 'input_audio' && last.type !== 'refusal') withCache(last, block.cache_control);
  return parts;
}

/** A search result → one text part: its title and source, then its text blocks. */
function searchResultPart(block: MessagesSearchResultBlockParam): TextPart {
  const texts = block.content.map((item) => item.text).join('\n\n');
  return textPart(`${block.title}\n${block.source}\n\n${texts}`, block.cache_control);
}

interface RequestContext {
  messages: ChatMessage[];
  policy: ServerToolPolicy;
}

/** Blocks that hold server-side state (server tool calls and results, MCP, containers, compaction). */
function serverBlock(context: RequestContext, param: string, type: string): void {
  if (context.policy === 'reject') throw unsupported(`${param}.type`, `a '${type}' block`);
}

/** A system prompt or mid-conversation system message: text, its cache markers kept. */
function systemMessage(
  context: RequestContext,
  content: MessagesSystemMessageParam['content'],
  param: string,
): ChatMessage | undefined {
  if (content === undefined || content === '') return undefined;
  if (typeof content === 'string') return { role: 'system', content };
  const parts: TextPart[] = [];
  content.forEach((block, j) => {
    if (block.type === 'text') {
      const text = block as MessagesTextBlockParam;
      parts.push(textPart(text.text, text.cache_control));
    } else {
      // Beta tool additions and removals change the tool list mid-conversation, which chat cannot express.
      serverBlock(context, `${param}.content.${j}`, block.type);
    }
  });
  return parts.length === 0 ? undefined : { role: 'system', content: parts };
}

/**
 * A user turn: tool_result blocks become `tool` messages in their order; the turn's other blocks become one user
 * message after them. Images and documents inside a tool_result cannot go in a tool message (chat tool messages
 * hold text), so they join that user message, after the tool messages, which must stay contiguous.
 */
function appendUserTurn(context: RequestContext, content: string | MessagesContentBlockParam[], i: number): void {
  if (typeof content === 'string') {
    context.messages.push({ role: 'user', content });
    return;
  }
  let parts: ContentPart[] = [];
  let hasOwnParts = false;
  const flush = () => {
    if (parts.length > 0) context.messages.push({ role: 'user', content: parts });
    parts = [];
    hasOwnParts = false;
  };
  content.forEach((block, j) => {
    const param = `messages.${i}.content.${j}`;
    switch (block.type) {
      case 'tool_result':
        if (hasOwnParts) flush();
        context.messages.push(toolMessage(context, block as MessagesToolResultBlockParam, parts, param));
        return;
      case 'text': {
        const text = block as MessagesTextBlockParam;
        parts.push(textPart(text.text, text.cache_control));
        break;
      }
      case 'image': {
        const image = block as MessagesImageBlockParam;
        parts.push(imagePart(image.source, image.cache_control));
        break;
      }
      case 'document':
        parts.push(...documentParts(block as MessagesDocumentBlockParam));
        break;
      case 'search_result':
        parts.push(searchResultPart(block as MessagesSearchResultBlockParam));
        break;
      default:
        serverBlock(context, param, block.type);
        return;
    }
    hasOwnParts = true;
  });
  flush();
}

/** One tool_result → a tool message; its images and documents are appended to `attachments`. */
function toolMessage(
  context: RequestContext,
  block: MessagesToolResultBlockParam,
  attachments: ContentPart[],
  param: string,
): ChatMessage {
  let content: string | TextPart[];
  if (block.content === undefined || typeof block.content === 'string') {
    content = block.content ?? '';
  } else {
    const texts: TextPart[] = [];
    block.content.forEach((item, k) => {
      switch (item.type) {
        case 'text': {
          const text = item as MessagesTextBlockParam;
          texts.push(textPart(text.text, text.cache_control));
          return;
        }
        case 'search_result':
          texts.push(searchResultPart(item as MessagesSearchResultBlockParam));
          return;
        case 'image': {
          const image = item as MessagesImageBlockParam;
          attachments.push(imagePart(image.source, image.cache_control));
          return;
        }
        case 'document':
          attachments.push(...documentParts(item as MessagesDocumentBlockParam));
          return;
        default:
          serverBlock(context, `${param}.content.${k}`, item.type);
      }
    });
    // Markers need parts; otherwise one string suits every provider (ERNIE, for one, takes strings only).
    content = texts.some((part) => part.cache_control) ? texts : texts.map((part) => part.text).join('\n');
  }
  if (block.is_error === true) {
    if (typeof content === 'string') content = `${TOOL_ERROR_PREFIX}${content}`;
    else content[0] = { ...content[0], text: `${TOOL_ERROR_PREFIX}${content[0].text}` };
  }
  const message: ChatMessage = { role: 'tool', tool_call_id: decodeToolUseId(block.tool_use_id).id, content };
  return withCache(message, block.cache_control);
}

function toolCallOf(block: MessagesToolUseBlockParam): ToolCall {
  const { id, extra } = decodeToolUseId(block.id);
  const call: ToolCall = {
    id,
    type: 'function',
    function: { name: block.name, arguments: argumentsOf(block.input as Record<string, unknown>) },
  };
  if (extra) call.extra_content = extra;
  return call;
}

/**
 * An assistant turn: text → `content` (a string, or parts when there are several blocks or cache markers),
 * tool_use → `tool_calls` (ids and extra content unwrapped), thinking and redacted_thinking → `thinking_blocks`
 * in order (an empty signature, which the front hands out for unsigned reasoning, becomes none) with their text as
 * `reasoning_content`, and the gateway's extra-content block → `extra_content`. A marker on a block that chat
 * cannot mark (tool_use) moves to the message.
 */
function appendAssistantTurn(context: RequestContext, content: string | MessagesContentBlockParam[], i: number): void {
  if (typeof content === 'string') {
    context.messages.push({ role: 'assistant', content });
    return;
  }
  const texts: TextPart[] = [];
  const calls: ToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  let reasoning: string | undefined;
  let extra: ExtraContent | undefined;
  let marker: MessagesCacheControl | null | undefined;
  content.forEach((block, j) => {
    switch (block.type) {
      case 'text': {
        const text = block as MessagesTextBlockParam;
        texts.push(textPart(text.text, text.cache_control));
        return;
      }
      case 'tool_use': {
        const use = block as MessagesToolUseBlockParam;
        calls.push(toolCallOf(use));
        if (use.cache_control) marker = use.cache_control;
        return;
      }
      case 'thinking': {
        const { thinking: text, signature } = block as { thinking: string; signature: string };
        thinking.push(
          signature === '' ? { type: 'thinking', thinking: text } : { type: 'thinking', thinking: text, signature },
        );
        reasoning = (reasoning ?? '') + text;
        return;
      }
      case 'redacted_thinking': {
        const data = (block as { data: string }).data;
        const carried = extraContentOf(data);
        if (carried) extra = carried;
        else thinking.push({ type: 'redacted_thinking', data });
        return;
      }
      default:
        serverBlock(context, `messages.${i}.content.${j}`, block.type);
    }
  });
  if (texts.length === 0 && calls.length === 0 && thinking.length === 0 && extra === undefined) {
    if (content.length === 0) context.messages.push({ role: 'assistant', content: '' });
    return;
  }
  const single = texts.length === 1 && !texts[0].cache_control;
  const message: ChatMessage = {
    role: 'assistant',
    content: texts.length === 0 ? (calls.length > 0 ? null : '') : single ? texts[0].text : texts,
  };
  if (calls.length > 0) message.tool_calls = calls;
  if (thinking.length > 0) message.thinking_blocks = thinking;
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  if (extra) message.extra_content = extra;
  context.messages.push(withCache(message, marker));
}

function isCustomTool(tool: MessagesTool): tool is MessagesCustomTool {
  return tool.type === undefined || tool.type === null || tool.type === 'custom';
}

function functionToolOf(tool: MessagesCustomTool): FunctionTool {
  const fn: FunctionTool['function'] = { name: tool.name, parameters: tool.input_schema };
  if (tool.description !== undefined) fn.description = tool.description;
  if (tool.strict !== undefined) fn.strict = tool.strict;
  return withCache<FunctionTool>({ type: 'function', function: fn }, tool.cache_control);
}

const EFFORTS: Record<string, ReasoningEffort> = {
  low: 'low',
  medium: 'medium',
  high: 'high',
  xhigh: 'xhigh',
  max: 'xhigh',
};

function thinkingOf(thinking: MessagesThinkingConfig): ThinkingConfig {
  switch (thinking.type) {
    case 'enabled':
      return { type: 'enabled', budget_tokens: thinking.budget_tokens };
    case 'disabled':
      return { type: 'disabled' };
    default:
      return { type: 'adaptive' };
  }
}

/**
 * The request in the internal form. Server and Anthropic-defined tools (web search, code execution, text editor,
 * bash, computer use, memory, …: any tool with a versioned `type`) have no schema a provider could be given: under
 * `drop` they are left out and named in `droppedTools`, under `reject` the request is refused. The same policy
 * applies to server-side blocks in the history.
 */
export function toChatRequest(
  request: MessagesRequest,
  options: { model: string; serverTools: ServerToolPolicy },
): MessagesTranslation {
  const context: RequestContext = { messages: [], policy: options.serverTools };
  const system = request.system === undefined || request.system === null ? undefined : request.system;
  const prompt = systemMessage(context, system, 'system');
  if (prompt) context.messages.push(prompt);
  const lastUser = request.messages.findLastIndex((message) => message.role === 'user');
  request.messages.forEach((message: MessagesMessageParam, i) => {
    if (message.role === 'system') {
      // `clear_at: "next_user_message"`: shown only until a later user turn exists.
      if (message.clear_at === 'next_user_message' && i < lastUser) return;
      const entry = systemMessage(context, message.content, `messages.${i}`);
      if (entry) context.messages.push(entry);
    } else if (message.role === 'user') appendUserTurn(context, message.content, i);
    else appendAssistantTurn(context, message.content, i);
  });
  // Automatic caching puts the marker on the last cacheable block, i.e. after the whole conversation.
  const last = context.messages.at(-1);
  if (last && !last.cache_control && request.cache_control) withCache(last, request.cache_control);

  const chat: ChatCompletionRequest = {
    model: options.model,
    messages: context.messages,
    max_tokens: request.max_tokens,
  };
  const droppedTools = applyTools(chat, request, options.serverTools);
  if (request.stop_sequences && request.stop_sequences.length > 0) chat.stop = request.stop_sequences;
  if (typeof request.temperature === 'number') chat.temperature = request.temperature;
  if (typeof request.top_p === 'number') chat.top_p = request.top_p;
  if (typeof request.top_k === 'number') chat.top_k = request.top_k;
  const userId = request.metadata?.user_id;
  if (typeof userId === 'string') chat.user = userId;
  if (request.thinking) chat.thinking = thinkingOf(request.thinking);
  const effort = request.output_config?.effort;
  if (effort) chat.reasoning_effort = EFFORTS[effort];
  const format = request.output_config?.format ?? request.output_format;
  if (format) {
    // Anthropic's format has no name and no strict flag: OpenAI's strict mode demands schema rules Anthropic's
    // schemas need not meet, so the schema is sent as a best-effort hint.
    chat.response_format = { type: 'json_schema', json_schema: { name: RESPONSE_SCHEMA_NAME, schema: format.schema } };
  }
  if (request.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { chat, droppedTools };
}

function applyTools(chat: ChatCompletionRequest, request: MessagesRequest, policy: ServerToolPolicy): string[] {
  const tools: FunctionTool[] = [];
  const dropped: string[] = [];
  (request.tools ?? []).forEach((tool, i) => {
    if (isCustomTool(tool)) {
      tools.push(functionToolOf(tool));
      return;
    }
    if (policy === 'reject') throw unsupported(`tools.${i}.type`, `the tool type '${tool.type}'`);
    dropped.push(tool.name ?? tool.type);
  });
  const choice = request.tool_choice;
  if (choice?.type === 'tool' && dropped.includes(choice.name)) {
    throw unsupported('tool_choice.name', `forcing the server tool '${choice.name}'`);
  }
  // Without tools a tool choice means nothing, and OpenAI-style upstreams refuse one.
  if (tools.length === 0) return dropped;
  chat.tools = tools;
  if (!choice) return dropped;
  let mapped: ToolChoice;
  if (choice.type === 'tool') mapped = { type: 'function', function: { name: choice.name } };
  else if (choice.type === 'any') mapped = 'required';
  else mapped = choice.type;
  chat.tool_choice = mapped;
  if (choice.type !== 'none' && choice.disable_parallel_tool_use === true) chat.parallel_tool_calls = false;
  return dropped;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

interface StopFacts {
  finishReason: FinishReason | null;
  hasToolUse: boolean;
  /** The stop string the upstream says it matched (vLLM's `stop_reason` on the choice), if any. */
  stopSequence: string | null;
  refused: boolean;
}

/**
 * finish_reason → stop_reason: stop → end_turn (stop_sequence when the upstream names the matched sequence),
 * length → max_tokens, tool_calls → tool_use, content_filter (or a refusal text) → refusal. A turn with tool calls
 * is tool_use whatever the upstream said (some say `stop`), since a client runs tools only on tool_use.
 */
export function stopOf(facts: StopFacts): {
  stopReason: MessagesStopReason;
  stopSequence: string | null;
  stopDetails: MessagesStopDetails | null;
} {
  if (facts.refused || facts.finishReason === 'content_filter') {
    return {
      stopReason: 'refusal',
      stopSequence: null,
      stopDetails: { type: 'refusal', category: null, explanation: null },
    };
  }
  if (facts.finishReason === 'length') return { stopReason: 'max_tokens', stopSequence: null, stopDetails: null };
  if (facts.hasToolUse || facts.finishReason === 'tool_calls' || facts.finishReason === 'function_call') {
    return { stopReason: 'tool_use', stopSequence: null, stopDetails: null };
  }
  if (facts.stopSequence !== null) {
    return { stopReason: 'stop_sequence', stopSequence: facts.stopSequence, stopDetails: null };
  }
  return { stopReason: 'end_turn', stopSequence: null, stopDetails: null };
}

/** vLLM reports the matched stop string as `stop_reason` on the choice (vllm-project/vllm#2976). */
export function matchedStopSequence(choice: object | undefined): string | null {
  const value = (choice as { stop_reason?: unknown } | undefined)?.stop_reason;
  return typeof value === 'string' ? value : null;
}

/**
 * usage: input_tokens = prompt − cache reads − cache writes (Anthropic counts them apart), the cache figures from
 * `prompt_tokens_details`, output_tokens = completion_tokens with reasoning as `output_tokens_details`.
 */
export function usageOf(usage: Usage | null | undefined, estimatedInput = 0): MessagesUsage {
  const details = usage?.prompt_tokens_details;
  const cacheRead = details?.cached_tokens ?? 0;
  const cacheWrite = details?.cache_creation_tokens ?? 0;
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens;
  return {
    input_tokens: usage ? Math.max(0, usage.prompt_tokens - cacheRead - cacheWrite) : estimatedInput,
    output_tokens: usage?.completion_tokens ?? 0,
    cache_creation_input_tokens: cacheWrite,
    cache_read_input_tokens: cacheRead,
    cache_creation: null,
    inference_geo: null,
    output_tokens_details: reasoning === undefined ? null : { thinking_tokens: reasoning },
    server_tool_use: null,
    service_tier: null,
    speed: null,
  };
}

/** A tool call without an id (some upstreams omit it) gets one derived from the message id. */
export function fallbackToolUseId(meta: MessageMeta, position: number): string {
  return `toolu_${meta.id.replace(/^msg_/, '')}_${position}`;
}

function toolUseBlockOf(call: ToolCall, meta: MessageMeta, position: number): MessagesToolUseBlock {
  return {
    type: 'tool_use',
    id: toolUseIdOf(call.id || fallbackToolUseId(meta, position), call.extra_content),
    name: call.function.name,
    input: toolInputOf(call.function.arguments),
    caller: { type: 'direct' },
  };
}

function choiceOf(completion: ChatCompletion): ChatCompletionChoice | undefined {
  return completion.choices.find((choice) => choice.index === 0) ?? completion.choices[0];
}

/**
 * A completion as a Message: thinking blocks first (from `thinking_blocks`, or one unsigned block from
 * `reasoning_content` when there are none), then the text (and a refusal's text), then tool_use blocks with their
 * arguments parsed (not JSON: the documented `{"INVALID_JSON": text}` wrapper), then the block carrying the
 * message's `extra_content`. Only choice 0 is used: the Messages API has one answer.
 */
export function toMessage(completion: ChatCompletion, meta: MessageMeta): AnthropicMessage {
  const choice = choiceOf(completion);
  const message = choice?.message;
  const content: MessagesContentBlock[] = [];
  if (message?.thinking_blocks && message.thinking_blocks.length > 0) {
    for (const block of message.thinking_blocks) {
      content.push(
        block.type === 'thinking'
          ? { type: 'thinking', thinking: block.thinking, signature: block.signature ?? '' }
          : { type: 'redacted_thinking', data: block.data },
      );
    }
  } else if (message?.reasoning_content) {
    content.push({ type: 'thinking', thinking: message.reasoning_content, signature: '' });
  }
  if (message?.content) content.push({ type: 'text', text: message.content, citations: null });
  if (message?.refusal) content.push({ type: 'text', text: message.refusal, citations: null });
  const calls = message?.tool_calls ?? [];
  calls.forEach((call, position) => content.push(toolUseBlockOf(call, meta, position)));
  if (message?.extra_content) content.push(extraContentBlockOf(message.extra_content));
  const stop = stopOf({
    finishReason: choice?.finish_reason ?? null,
    hasToolUse: calls.length > 0,
    stopSequence: matchedStopSequence(choice),
    refused: Boolean(message?.refusal),
  });
  return {
    id: meta.id,
    type: 'message',
    role: 'assistant',
    model: meta.model,
    content,
    stop_reason: stop.stopReason,
    stop_sequence: stop.stopSequence,
    stop_details: stop.stopDetails,
    container: null,
    diagnostics: null,
    usage: usageOf(completion.usage),
  };
}

/**
 * A finished Message as the event sequence the API streams for it: message_start (no content, no stop reason,
 * the input usage), each block as content_block_start (empty) → one delta with its whole text, thinking and
 * signature, or input JSON → content_block_stop, then message_delta (stop reason, stop sequence, final usage) and
 * message_stop. Accumulating the events (as the SDK's MessageStream does) gives the Message back.
 */
export function replayMessage(message: AnthropicMessage): MessagesStreamEvent[] {
  const events: MessagesStreamEvent[] = [
    {
      type: 'message_start',
      message: {
        ...message,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: { ...message.usage, output_tokens: 0, output_tokens_details: null },
      },
    },
  ];
  message.content.forEach((block, index) => {
    switch (block.type) {
      case 'text':
        events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } });
        if (block.text !== '')
          events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
        break;
      case 'thinking':
        events.push({
          type: 'content_block_start',
          index,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        });
        if (block.thinking !== '') {
          events.push({
            type: 'content_block_delta',
            index,
            delta: { type: 'thinking_delta', thinking: block.thinking },
          });
        }
        if (block.signature !== '') {
          events.push({
            type: 'content_block_delta',
            index,
            delta: { type: 'signature_delta', signature: block.signature },
          });
        }
        break;
      case 'redacted_thinking':
        events.push({ type: 'content_block_start', index, content_block: block });
        break;
      case 'tool_use':
        events.push({ type: 'content_block_start', index, content_block: { ...block, input: {} } });
        events.push({
          type: 'content_block_delta',
          index,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) },
        });
        break;
    }
    events.push({ type: 'content_block_stop', index });
  });
  const usage = message.usage;
  events.push(
    {
      type: 'message_delta',
      delta: {
        stop_reason: message.stop_reason,
        stop_sequence: message.stop_sequence,
        stop_details: message.stop_details,
        container: null,
      },
      usage: {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens,
        cache_read_input_tokens: usage.cache_read_input_tokens,
        output_tokens_details: usage.output_tokens_details,
        server_tool_use: null,
      },
    },
    { type: 'message_stop' },
  );
  return events;
}

// ---------------------------------------------------------------------------------------------------------------
// Token estimate

/** Characters per token, the usual rule of thumb for English text and JSON. */
const CHARS_PER_TOKEN = 4;
/** Role and turn markers around each message. */
const TOKENS_PER_MESSAGE = 3;
/**
 * A base64 image or PDF counts this much instead of its characters: about what Anthropic bills a full-size image
 * (width × height / 750 at the 1.15-megapixel limit; https://platform.claude.com/docs/en/build-with-claude/vision).
 */
const TOKENS_PER_INLINE_MEDIA = 1_600;

/**
 * The input-token estimate for providers that cannot count Anthropic-style: the JSON text of `system`,
 * `messages` and `tools` / 4, rounded up, plus 3 per message (and the system prompt), with inline base64 media
 * counted 1 600 tokens each instead of by its length. Deterministic: the same request always gives the same count.
 */
export function estimateInputTokens(request: CountTokensRequest): number {
  let media = 0;
  const skipInlineData = function (this: unknown, key: string, value: unknown): unknown {
    if (key === 'data' && (this as { type?: unknown }).type === 'base64' && typeof value === 'string') {
      media++;
      return '';
    }
    return value;
  };
  const text =
    JSON.stringify(request.messages, skipInlineData) +
    (request.system === undefined || request.system === null ? '' : JSON.stringify(request.system)) +
    (request.tools === undefined ? '' : JSON.stringify(request.tools));
  const turns = request.messages.length + (request.system ? 1 : 0);
  return Math.ceil(text.length / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * turns + TOKENS_PER_INLINE_MEDIA * media;
}
