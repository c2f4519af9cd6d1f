/**
 * Translation between OpenAI's Responses API and the gateway's internal form (chat completions with the gateway's
 * reasoning, cache and usage extensions): requests to chat, a chat completion to a Response, a finished Response back
 * to the exact event sequence a stream would have carried, and the request's input as items for the response store.
 *
 * Follows https://platform.openai.com/docs/api-reference/responses/create (request fields, input items, tools),
 * https://platform.openai.com/docs/api-reference/responses/object (the Response and its output items),
 * https://platform.openai.com/docs/api-reference/responses-streaming (event order and fields),
 * https://platform.openai.com/docs/guides/reasoning (reasoning items, `include: ["reasoning.encrypted_content"]` for
 * stateless turns), https://platform.openai.com/docs/guides/function-calling (function calls, namespaces, custom
 * tools), https://platform.openai.com/docs/guides/structured-outputs (`text.format`) and
 * https://platform.openai.com/docs/guides/prompt-caching (`prompt_cache_breakpoint`), as recorded in OpenAI's OpenAPI
 * document and the `openai` Node SDK's types.
 *
 * Decisions where the reference leaves room:
 * - Reasoning state. A reasoning item's `encrypted_content` carries what the internal form needs back on the next
 *   turn and the Response cannot show: the thinking blocks with their signatures, Gemini's thought signatures of the
 *   message and of each tool call (by call id), and the reasoning text when no summary was asked for. It is
 *   `gw1.` + base64url(JSON); other values (OpenAI's own) are opaque to the gateway and only the summary is used.
 *   It is written when the request includes `reasoning.encrypted_content`, and also when the response is stored
 *   (`store` not false), because the store keeps the Response itself and a `previous_response_id` turn needs the
 *   signatures too (OpenAI keeps them server-side instead). It is not encrypted: it holds only what the provider
 *   already gave the client, and the provider verifies its own signatures when they come back.
 * - Summaries. The summary shows the reasoning text only when `reasoning.summary` is set (OpenAI leaves `summary`
 *   empty otherwise); `auto`, `concise` and `detailed` show the same text, the gateway does not summarise.
 * - Namespaces. A namespace's functions become chat functions named `<namespace>__<function>` (chat has no
 *   namespaces and no dots in names), their descriptions prefixed with the namespace's; a call comes back as
 *   `function_call` with `namespace` and the function's own `name`, as OpenAI returns it. `tool_choice` names a
 *   namespaced function `<namespace>.<function>` (the Agents SDK's qualified name).
 * - Custom (freeform) tools become chat functions taking `{input: string}` (the grammar, if any, described in the
 *   description); their calls come back as `custom_tool_call` items with the input unwrapped.
 * - Assistant turns. Consecutive assistant-side items (messages, reasoning, function and custom tool calls) are one
 *   assistant turn in chat: text parts in order, all calls, all reasoning blocks in order. A turn of reasoning alone
 *   (followed by a user message) has no chat form and is left out. Items of OpenAI's built-in tools (web search
 *   calls, …) and compaction items have no chat form and are left out.
 * - An uploaded image (`input_image.file_id`) becomes a chat `file` part: chat images are URLs.
 * - Request fields this front does not know (Codex's `client_metadata`, …) belong to the Responses protocol and are
 *   not forwarded to chat; native passthrough keeps them.
 * - `completed_at` stays null: the translator has no clock, and `meta` carries the creation time only.
 *
 * What the internal form cannot carry (left out, or refused where leaving out would change the answer):
 * `background`, `conversation`, `prompt` templates, `item_reference` inputs, `input_file.file_url` and
 * `moderation` are refused (400) for translated upstreams; `truncation: auto`, `max_tool_calls`,
 * `prompt_cache_options`, `context_management`, `input_file.detail`, message `phase`, `defer_loading`,
 * `allowed_callers`, namespace membership of tool outputs, the order of text and calls inside one assistant turn and
 * `stream_options.include_obfuscation` are dropped; `metadata` and `store` stay with the gateway; reasoning effort
 * `max` becomes `xhigh`.
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionRequest,
  ChatMessage,
  ContentPart,
  ExtraContent,
  FinishReason,
  FunctionTool,
  ReasoningEffort,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import type {
  CustomToolCallItem,
  CustomToolDefinition,
  FunctionCallItem,
  FunctionToolDefinition,
  InputContentPart,
  MessageItem,
  OutputContentPart,
  OutputLogProb,
  OutputMessageItem,
  ReasoningItem,
  ResponseErrorCode,
  ResponseInputItem,
  ResponseObject,
  ResponseOutputItem,
  ResponsesRequest,
  ResponseStreamEvent,
  ResponseUsage,
  ToolDefinition,
  UnsequencedEvent,
} from './responses.types.js';

export interface ResponsesTranslation {
  chat: ChatCompletionRequest;
  droppedTools: string[];
}

export interface ResponsesTranslateOptions {
  /** The public model (goes into chat.model). */
  model: string;
  /** Items of a stored previous response (its input + output), prepended. */
  history?: ResponseInputItem[];
  /** Built-in tools (web_search, file_search, code_interpreter, mcp, …) when the upstream is not native OpenAI. */
  builtinTools: 'drop' | 'reject';
}

export interface ResponseMeta {
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The public model. */
  model: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Reasoning state carried in `encrypted_content`

const ENCODING_PREFIX = 'gw1.';
const ENCRYPTED_CONTENT = 'reasoning.encrypted_content';
const OUTPUT_LOGPROBS = 'message.output_text.logprobs';

/** What a reasoning item carries for the next turn (short keys: it travels on every turn). */
export interface ReasoningState {
  /** Thinking blocks exactly as the provider produced them. */
  b?: ThinkingBlock[];
  /** The reasoning text, when the summary does not show it. */
  r?: string;
  /** The message's extra_content (Gemini's thought signature on a text part). */
  x?: ExtraContent;
  /** Each tool call's extra_content, by call id. */
  c?: Record<string, ExtraContent>;
}

export function encodeReasoningState(state: ReasoningState): string {
  return ENCODING_PREFIX + Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isThinkingBlock(value: unknown): value is ThinkingBlock {
  if (!isRecord(value)) return false;
  if (value.type === 'redacted_thinking') return typeof value.data === 'string';
  return (
    value.type === 'thinking' &&
    typeof value.thinking === 'string' &&
    (value.signature === undefined || typeof value.signature === 'string')
  );
}

/** The state in one of the gateway's own `encrypted_content` values; undefined for anything else. */
export function decodeReasoningState(encrypted: unknown): ReasoningState | undefined {
  if (typeof encrypted !== 'string' || !encrypted.startsWith(ENCODING_PREFIX)) return undefined;
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(encrypted.slice(ENCODING_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(state)) return undefined;
  if (state.b !== undefined && !(Array.isArray(state.b) && state.b.every(isThinkingBlock))) return undefined;
  if (state.r !== undefined && typeof state.r !== 'string') return undefined;
  if (state.x !== undefined && !isRecord(state.x)) return undefined;
  if (state.c !== undefined && !(isRecord(state.c) && Object.values(state.c).every(isRecord))) return undefined;
  return state;
}

function hasState(state: ReasoningState): boolean {
  return state.b !== undefined || state.r !== undefined || state.x !== undefined || state.c !== undefined;
}

/** Whether reasoning items get `encrypted_content` (see the file comment). */
export function carriesReasoningState(request: ResponsesRequest): boolean {
  return request.store !== false || (request.include?.includes(ENCRYPTED_CONTENT) ?? false);
}

/** Whether reasoning text is shown as the summary. */
export function showsSummary(request: ResponsesRequest): boolean {
  const reasoning = request.reasoning;
  return reasoning !== undefined && reasoning !== null && (reasoning.summary ?? reasoning.generate_summary) != null;
}

export function includesLogprobs(request: ResponsesRequest): boolean {
  return request.include?.includes(OUTPUT_LOGPROBS) ?? false;
}

/** The text of the thinking blocks, for reasoning that came without `reasoning_content`. */
export function thinkingText(blocks: readonly ThinkingBlock[] | undefined): string {
  let text = '';
  for (const block of blocks ?? []) if (block.type === 'thinking') text += block.thinking;
  return text;
}

// ---------------------------------------------------------------------------------------------------------------
// Tool names: Responses (namespace, name, custom) <-> chat function names

const NAMESPACE_SEPARATOR = '__';

/** A chat function name as the Responses API knows it. */
export interface ResponsesToolName {
  name: string;
  namespace?: string;
  custom: boolean;
}

/** The request's namespaced and custom tools by chat name; plain functions keep their name and are not listed. */
export class ToolNames {
  private readonly byChatName = new Map<string, ResponsesToolName>();

  constructor(tools: readonly ToolDefinition[] | undefined) {
    for (const tool of tools ?? []) {
      if (tool.type === 'custom') this.byChatName.set(tool.name as string, { name: tool.name as string, custom: true });
      else if (tool.type === 'namespace' && Array.isArray(tool.tools)) {
        const namespace = tool.name as string;
        for (const inner of tool.tools as Array<FunctionToolDefinition | CustomToolDefinition>) {
          this.byChatName.set(chatName(inner.name, namespace), {
            name: inner.name,
            namespace,
            custom: inner.type === 'custom',
          });
        }
      }
    }
  }

  fromChat(name: string): ResponsesToolName {
    return this.byChatName.get(name) ?? { name, custom: false };
  }
}

function chatName(name: string, namespace: string | undefined): string {
  return namespace === undefined || namespace === '' ? name : `${namespace}${NAMESPACE_SEPARATOR}${name}`;
}

/** A qualified tool choice name (`namespace.function`) as the chat name. */
function chatNameOfChoice(name: string, namespaces: ReadonlySet<string>): string {
  const dot = name.indexOf('.');
  if (dot > 0 && namespaces.has(name.slice(0, dot))) return chatName(name.slice(dot + 1), name.slice(0, dot));
  return name;
}

/** Chat's view of a custom tool's free-form input. */
const CUSTOM_INPUT_PARAMETERS: Record<string, unknown> = {
  type: 'object',
  properties: { input: { type: 'string', description: 'The raw input for the tool.' } },
  required: ['input'],
  additionalProperties: false,
};

function customDescription(tool: CustomToolDefinition): string | undefined {
  const format = tool.format;
  if (format?.type !== 'grammar') return tool.description;
  const grammar = `The input must match this ${format.syntax} grammar:\n${format.definition}`;
  return tool.description ? `${tool.description}\n\n${grammar}` : grammar;
}

/** A custom tool call's input from the chat arguments it was asked for as (`{"input": "…"}`). */
export function customInput(args: string): string {
  try {
    const parsed: unknown = JSON.parse(args);
    if (isRecord(parsed) && typeof parsed.input === 'string') return parsed.input;
  } catch {
    // Arguments that are not the wrapper are the input as the model wrote it.
  }
  return args;
}

// ---------------------------------------------------------------------------------------------------------------
// Request -> chat

function unsupported(param: string, what: string): InvalidRequestError {
  return new InvalidRequestError(
    `${what} is not supported for this model: its provider is not OpenAI.`,
    param,
    'unsupported_value',
  );
}

interface TranslatedTools {
  tools: FunctionTool[];
  dropped: string[];
  namespaces: Set<string>;
}

function functionTool(
  name: string,
  description: string | null | undefined,
  parameters: unknown,
  strict: unknown,
): FunctionTool {
  const fn: FunctionTool['function'] = { name };
  if (description !== undefined && description !== null && description !== '') fn.description = description;
  if (isRecord(parameters)) fn.parameters = parameters;
  if (typeof strict === 'boolean') fn.strict = strict;
  return { type: 'function', function: fn };
}

function innerTool(tool: FunctionToolDefinition | CustomToolDefinition, name: string, prefix?: string): FunctionTool {
  const own = tool.type === 'custom' ? customDescription(tool) : tool.description;
  const description = prefix && own ? `${prefix}\n\n${own}` : (prefix ?? own);
  return tool.type === 'custom'
    ? functionTool(name, description, CUSTOM_INPUT_PARAMETERS, undefined)
    : functionTool(name, description, tool.parameters, tool.strict);
}

function translateTools(request: ResponsesRequest, policy: 'drop' | 'reject'): TranslatedTools {
  const result: TranslatedTools = { tools: [], dropped: [], namespaces: new Set() };
  const names = new Set<string>();
  const add = (tool: FunctionTool, param: string) => {
    if (names.has(tool.function.name)) {
      throw new InvalidRequestError(
        `Tool name '${tool.function.name}' is used twice (namespaced functions are named <namespace>__<function>).`,
        param,
        'invalid_value',
      );
    }
    names.add(tool.function.name);
    result.tools.push(tool);
  };
  const tools = request.tools ?? [];
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i];
    if (tool.type === 'function' || tool.type === 'custom') {
      const definition = tool as FunctionToolDefinition | CustomToolDefinition;
      add(innerTool(definition, definition.name), `tools[${i}]`);
    } else if (tool.type === 'namespace') {
      const namespace = tool.name as string;
      result.namespaces.add(namespace);
      const inner = tool.tools as Array<FunctionToolDefinition | CustomToolDefinition>;
      const prefix = typeof tool.description === 'string' && tool.description !== '' ? tool.description : undefined;
      for (let j = 0; j < inner.length; j++) {
        add(innerTool(inner[j], chatName(inner[j].name, namespace), prefix), `tools[${i}].tools[${j}]`);
      }
    } else if (policy === 'reject') {
      throw new InvalidRequestError(
        `The built-in tool '${tool.type}' (tools[${i}]) is not supported for this model: its provider is not OpenAI.`,
        `tools[${i}].type`,
        'unsupported_value',
      );
    } else if (!result.dropped.includes(tool.type)) {
      result.dropped.push(tool.type);
    }
  }
  return result;
}

function toolReference(reference: Record<string, unknown>, namespaces: ReadonlySet<string>): string | undefined {
  if ((reference.type === 'function' || reference.type === 'custom') && typeof reference.name === 'string') {
    return chatNameOfChoice(reference.name, namespaces);
  }
  return undefined;
}

/** The chat tool choice; a choice of a dropped built-in tool leaves the choice to the model. */
function translateToolChoice(request: ResponsesRequest, namespaces: ReadonlySet<string>): ToolChoice | undefined {
  const choice = request.tool_choice;
  if (choice === undefined || choice === null) return undefined;
  if (typeof choice === 'string') return choice;
  if ((choice.type === 'function' || choice.type === 'custom') && typeof choice.name === 'string') {
    return { type: 'function', function: { name: chatNameOfChoice(choice.name, namespaces) } };
  }
  if (choice.type === 'allowed_tools' && Array.isArray(choice.tools)) {
    const tools = (choice.tools as Array<Record<string, unknown>>).flatMap((reference) => {
      const name = toolReference(reference, namespaces);
      return name === undefined ? [] : [{ type: 'function', function: { name } }];
    });
    if (tools.length === 0) return 'auto';
    return { type: 'allowed_tools', allowed_tools: { mode: (choice.mode as string | undefined) ?? 'auto', tools } };
  }
  return 'auto';
}

/** Where an input item came from, for error params. */
type ItemOrigin = (index: number) => string;

function cacheControlOf(part: InputContentPart): { cache_control?: { type: 'ephemeral' } } {
  return part.prompt_cache_breakpoint ? { cache_control: { type: 'ephemeral' } } : {};
}

function inputPart(part: InputContentPart | OutputContentPart, param: string): ContentPart {
  switch (part.type) {
    case 'input_text':
      return { type: 'text', text: part.text, ...cacheControlOf(part) };
    case 'output_text':
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'refusal', refusal: part.refusal };
    case 'input_image': {
      if (typeof part.image_url === 'string') {
        const detail = part.detail ?? undefined;
        return {
          type: 'image_url',
          image_url: detail === undefined ? { url: part.image_url } : { url: part.image_url, detail },
          ...cacheControlOf(part),
        };
      }
      // Chat images are URLs; an uploaded image travels as a file reference.
      return { type: 'file', file: { file_id: part.file_id as string }, ...cacheControlOf(part) };
    }
    case 'input_file': {
      if (typeof part.file_url === 'string') throw unsupported(`${param}.file_url`, 'input_file.file_url');
      const file: { file_data?: string; file_id?: string; filename?: string } = {};
      if (typeof part.file_data === 'string') file.file_data = part.file_data;
      if (typeof part.file_id === 'string') file.file_id = part.file_id;
      if (typeof part.filename === 'string') file.filename = part.filename;
      return { type: 'file', file, ...cacheControlOf(part) };
    }
  }
}

/** Content as chat takes it: one unmarked text part is a plain string. */
function chatContent(parts: ContentPart[]): string | ContentPart[] {
  const only = parts.length === 1 ? parts[0] : undefined;
  return only?.type === 'text' && only.cache_control === undefined ? only.text : parts;
}

function contentOf(content: MessageItem['content'], param: string): string | ContentPart[] {
  if (typeof content === 'string') return content;
  return chatContent(content.map((part, j) => inputPart(part, `${param}[${j}]`)));
}

/** One assistant turn being gathered from consecutive assistant-side items. */
class AssistantTurn {
  readonly parts: ContentPart[] = [];
  readonly toolCalls: ToolCall[] = [];
  readonly blocks: ThinkingBlock[] = [];
  reasoning = '';
  extra: ExtraContent | undefined;
  readonly callExtras = new Map<string, ExtraContent>();

  addReasoning(item: ReasoningItem): void {
    const state = decodeReasoningState(item.encrypted_content);
    const summary = item.summary.map((part) => part.text).join('\n\n');
    const text = summary || (item.content ?? []).map((part) => part.text).join('\n\n') || (state?.r ?? '');
    this.reasoning += text;
    if (!state) return;
    if (state.b) this.blocks.push(...state.b);
    if (state.x) this.extra = { ...this.extra, ...state.x };
    for (const [callId, extra] of Object.entries(state.c ?? {})) this.callExtras.set(callId, extra);
  }

  /** The chat message, or undefined when the turn has nothing chat can carry. */
  message(): ChatMessage | undefined {
    if (this.parts.length === 0 && this.toolCalls.length === 0) return undefined;
    const message: ChatMessage = {
      role: 'assistant',
      content: this.parts.length === 0 ? null : chatContent(this.parts),
    };
    if (this.toolCalls.length > 0) {
      message.tool_calls = this.toolCalls.map((call) => {
        const extra = this.callExtras.get(call.id);
        return extra ? { ...call, extra_content: extra } : call;
      });
    }
    if (this.reasoning !== '') message.reasoning_content = this.reasoning;
    if (this.blocks.length > 0) message.thinking_blocks = this.blocks;
    if (this.extra) message.extra_content = this.extra;
    return message;
  }
}

function toolOutputContent(output: string | InputContentPart[], param: string): string | ContentPart[] {
  if (typeof output === 'string') return output;
  return chatContent(output.map((part, j) => inputPart(part, `${param}[${j}]`)));
}

function translateItems(items: readonly ResponseInputItem[], origin: ItemOrigin, messages: ChatMessage[]): void {
  let turn: AssistantTurn | undefined;
  const closeTurn = () => {
    const message = turn?.message();
    if (message) messages.push(message);
    turn = undefined;
  };
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const type = item.type ?? ('role' in item ? 'message' : 'item_reference');
    switch (type) {
      case 'message': {
        const message = item as MessageItem;
        const param = `${origin(i)}.content`;
        if (message.role === 'assistant') {
          turn ??= new AssistantTurn();
          if (typeof message.content === 'string') turn.parts.push({ type: 'text', text: message.content });
          else message.content.forEach((part, j) => turn?.parts.push(inputPart(part, `${param}[${j}]`)));
        } else {
          closeTurn();
          messages.push({ role: message.role, content: contentOf(message.content, param) });
        }
        break;
      }
      case 'reasoning':
        (turn ??= new AssistantTurn()).addReasoning(item as ReasoningItem);
        break;
      case 'function_call': {
        const call = item as FunctionCallItem;
        (turn ??= new AssistantTurn()).toolCalls.push({
          id: call.call_id,
          type: 'function',
          function: { name: chatName(call.name, call.namespace), arguments: call.arguments },
        });
        break;
      }
      case 'custom_tool_call': {
        const call = item as CustomToolCallItem;
        (turn ??= new AssistantTurn()).toolCalls.push({
          id: call.call_id,
          type: 'function',
          function: { name: chatName(call.name, call.namespace), arguments: JSON.stringify({ input: call.input }) },
        });
        break;
      }
      case 'function_call_output':
      case 'custom_tool_call_output': {
        closeTurn();
        const output = item as { call_id: string; output: string | InputContentPart[] };
        messages.push({
          role: 'tool',
          tool_call_id: output.call_id,
          content: toolOutputContent(output.output, `${origin(i)}.output`),
        });
        break;
      }
      case 'item_reference':
        throw unsupported(origin(i), 'item_reference');
      default:
        // Built-in tool calls and compaction items: results and state only OpenAI can use.
        break;
    }
  }
  closeTurn();
}

function effortOf(effort: string): ReasoningEffort {
  return effort === 'max' ? 'xhigh' : (effort as ReasoningEffort);
}

function setIfPresent<K extends string>(target: Record<string, unknown>, key: K, value: unknown): void {
  if (value !== undefined && value !== null) target[key] = value;
}

/** The chat request for a Responses request (see the file comment for what cannot be carried). */
export function toChatRequest(request: ResponsesRequest, options: ResponsesTranslateOptions): ResponsesTranslation {
  if (request.background === true) throw unsupported('background', 'background');
  if (request.conversation !== undefined && request.conversation !== null) {
    throw unsupported('conversation', 'conversation');
  }
  if (request.prompt !== undefined && request.prompt !== null) throw unsupported('prompt', 'prompt');
  if (request.moderation !== undefined && request.moderation !== null) throw unsupported('moderation', 'moderation');

  const messages: ChatMessage[] = [];
  if (typeof request.instructions === 'string' && request.instructions !== '') {
    messages.push({ role: 'system', content: request.instructions });
  }
  const input = request.input;
  const items: readonly ResponseInputItem[] =
    typeof input === 'string' ? [{ role: 'user', content: input }] : (input ?? []);
  // One sequence, so an assistant turn continued by the input stays one chat message.
  const history = options.history ?? [];
  const origin: ItemOrigin = (i) => (i < history.length ? 'previous_response_id' : `input[${i - history.length}]`);
  translateItems(history.length === 0 ? items : [...history, ...items], origin, messages);

  const chat: ChatCompletionRequest = { model: options.model, messages };
  const { tools, dropped, namespaces } = translateTools(request, options.builtinTools);
  if (tools.length > 0) {
    chat.tools = tools;
    const choice = translateToolChoice(request, namespaces);
    if (choice !== undefined) chat.tool_choice = choice;
    if (typeof request.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = request.parallel_tool_calls;
  }
  setIfPresent(chat, 'max_completion_tokens', request.max_output_tokens);
  setIfPresent(chat, 'temperature', request.temperature);
  setIfPresent(chat, 'top_p', request.top_p);
  const format = request.text?.format;
  if (format?.type === 'json_schema') {
    const schema: NonNullable<ChatCompletionRequest['response_format']>['json_schema'] = {
      name: format.name,
      schema: format.schema,
    };
    if (typeof format.description === 'string') schema.description = format.description;
    if (typeof format.strict === 'boolean') schema.strict = format.strict;
    chat.response_format = { type: 'json_schema', json_schema: schema };
  } else if (format) {
    chat.response_format = { type: format.type };
  }
  setIfPresent(chat, 'verbosity', request.text?.verbosity);
  const effort = request.reasoning?.effort;
  if (typeof effort === 'string') chat.reasoning_effort = effortOf(effort);
  setIfPresent(chat, 'user', request.user);
  setIfPresent(chat, 'safety_identifier', request.safety_identifier);
  setIfPresent(chat, 'prompt_cache_key', request.prompt_cache_key);
  setIfPresent(chat, 'prompt_cache_retention', request.prompt_cache_retention);
  setIfPresent(chat, 'service_tier', request.service_tier);
  if (includesLogprobs(request)) {
    chat.logprobs = true;
    setIfPresent(chat, 'top_logprobs', request.top_logprobs);
  }
  if (request.stream === true) {
    chat.stream = true;
    chat.stream_options = { include_usage: true };
  }
  return { chat, droppedTools: dropped };
}

/** The request's input as items (a string is one user message; easy messages get their `type`), for the store. */
export function responseInputItems(request: ResponsesRequest): ResponseInputItem[] {
  const input = request.input;
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return input.map((item) => (item.type === undefined && 'role' in item ? { ...item, type: 'message' } : item));
}

// ---------------------------------------------------------------------------------------------------------------
// Chat -> Response

/** Item ids derived from the response id, so a response and its replay are the same bytes. */
export function itemId(responseId: string, prefix: 'rs' | 'msg' | 'fc' | 'ctc', outputIndex: number): string {
  const base = responseId.startsWith('resp_') ? responseId.slice('resp_'.length) : responseId;
  return `${prefix}_${base}_${outputIndex}`;
}

function echoTools(tools: readonly ToolDefinition[] | undefined): ToolDefinition[] {
  if (!tools) return [];
  // The Response lists function tools with their parameters and strictness, null when not given.
  return tools.map((tool) =>
    tool.type === 'function' ? { ...tool, parameters: tool.parameters ?? null, strict: tool.strict ?? null } : tool,
  );
}

/** The Response as it stands before any output: the request's settings echoed, status in_progress. */
export function responseShell(request: ResponsesRequest, meta: ResponseMeta): ResponseObject {
  const response: ResponseObject = {
    id: meta.id,
    object: 'response',
    created_at: meta.createdAt,
    status: 'in_progress',
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: request.max_tool_calls ?? null,
    model: meta.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: {
      effort: request.reasoning?.effort ?? null,
      summary: request.reasoning?.summary ?? request.reasoning?.generate_summary ?? null,
    },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: request.service_tier ?? 'default',
    store: request.store !== false,
    temperature: request.temperature ?? 1,
    text: { format: request.text?.format ?? { type: 'text' }, verbosity: request.text?.verbosity ?? 'medium' },
    tool_choice: request.tool_choice ?? 'auto',
    tools: echoTools(request.tools),
    top_logprobs: request.top_logprobs ?? 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? 'disabled',
    metadata: request.metadata ?? {},
  };
  if (request.prompt_cache_retention !== undefined) response.prompt_cache_retention = request.prompt_cache_retention;
  if (typeof request.user === 'string') response.user = request.user;
  return response;
}

export function responseUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: {
      cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
      cache_write_tokens: usage.prompt_tokens_details?.cache_creation_tokens ?? 0,
    },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens,
  };
}

/** Status and incomplete details for a finish reason: a cut-off answer is incomplete, not failed. */
export function finishStatus(
  reason: FinishReason | null | undefined,
): Pick<ResponseObject, 'status' | 'incomplete_details'> {
  if (reason === 'length') return { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } };
  if (reason === 'content_filter') return { status: 'incomplete', incomplete_details: { reason: 'content_filter' } };
  return { status: 'completed', incomplete_details: null };
}

interface ChatLogprob {
  token?: unknown;
  logprob?: unknown;
  bytes?: unknown;
  top_logprobs?: unknown;
}

/** Chat's token log probabilities (`choice.logprobs.content`) in the Responses shape. */
export function outputLogprobs(logprobs: unknown): OutputLogProb[] {
  if (!isRecord(logprobs) || !Array.isArray(logprobs.content)) return [];
  const bytesOf = (value: unknown) => (Array.isArray(value) ? (value as number[]) : []);
  return (logprobs.content as ChatLogprob[]).map((entry) => ({
    token: String(entry.token),
    logprob: Number(entry.logprob),
    bytes: bytesOf(entry.bytes),
    top_logprobs: (Array.isArray(entry.top_logprobs) ? (entry.top_logprobs as ChatLogprob[]) : []).map((top) => ({
      token: String(top.token),
      logprob: Number(top.logprob),
      bytes: bytesOf(top.bytes),
    })),
  }));
}

/** The output item for a chat tool call, at `outputIndex` of response `responseId`. */
export function callItem(
  call: ToolCall,
  names: ToolNames,
  responseId: string,
  outputIndex: number,
): FunctionCallItem | CustomToolCallItem {
  const known = names.fromChat(call.function.name);
  const namespace = known.namespace === undefined ? {} : { namespace: known.namespace };
  if (known.custom) {
    return {
      type: 'custom_tool_call',
      id: itemId(responseId, 'ctc', outputIndex),
      call_id: call.id,
      name: known.name,
      ...namespace,
      input: customInput(call.function.arguments),
    };
  }
  return {
    type: 'function_call',
    id: itemId(responseId, 'fc', outputIndex),
    call_id: call.id,
    name: known.name,
    ...namespace,
    arguments: call.function.arguments,
    status: 'completed',
  };
}

/** The message of an answer that produced nothing else, so every Response has output. */
export function emptyMessage(responseId: string): OutputMessageItem {
  return {
    id: itemId(responseId, 'msg', 0),
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: '', annotations: [], logprobs: [] }],
  };
}

/** The Response for a finished chat completion (choice 0). */
export function toResponse(completion: ChatCompletion, request: ResponsesRequest, meta: ResponseMeta): ResponseObject {
  const response = responseShell(request, meta);
  const choice = completion.choices[0];
  const message = choice?.message;
  const finish = finishStatus(choice?.finish_reason);
  response.status = finish.status;
  response.incomplete_details = finish.incomplete_details;
  const output: ResponseOutputItem[] = [];
  const names = new ToolNames(request.tools);
  const calls = message?.tool_calls ?? [];

  const text = message?.reasoning_content ?? thinkingText(message?.thinking_blocks);
  const state: ReasoningState = {};
  if (message?.thinking_blocks && message.thinking_blocks.length > 0) state.b = message.thinking_blocks;
  if (text !== '' && !showsSummary(request)) state.r = text;
  if (message?.extra_content) state.x = message.extra_content;
  for (const call of calls) if (call.extra_content) (state.c ??= {})[call.id] = call.extra_content;
  const carries = carriesReasoningState(request);
  if (text !== '' || state.b !== undefined || (carries && hasState(state))) {
    const item: ReasoningItem = {
      id: itemId(meta.id, 'rs', output.length),
      type: 'reasoning',
      summary: showsSummary(request) && text !== '' ? [{ type: 'summary_text', text }] : [],
    };
    if (carries) item.encrypted_content = encodeReasoningState(state);
    output.push(item);
  }

  const content: OutputContentPart[] = [];
  const answer = message?.content;
  if (typeof answer === 'string' && answer !== '') {
    const logprobs = includesLogprobs(request) ? outputLogprobs(choice?.logprobs) : [];
    content.push({ type: 'output_text', text: answer, annotations: [], logprobs });
  }
  if (message?.refusal) content.push({ type: 'refusal', refusal: message.refusal });
  if (content.length > 0) {
    const item: OutputMessageItem = {
      id: itemId(meta.id, 'msg', output.length),
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content,
    };
    output.push(item);
  }
  for (const call of calls) output.push(callItem(call, names, meta.id, output.length));
  if (output.length === 0) output.push(emptyMessage(meta.id));
  const last = output.at(-1);
  if (response.status === 'incomplete' && last && last.type !== 'reasoning' && last.type !== 'custom_tool_call') {
    last.status = 'incomplete';
  }
  response.output = output;
  if (completion.usage) response.usage = responseUsage(completion.usage);
  return response;
}

// ---------------------------------------------------------------------------------------------------------------
// Events (shared by the replay below and the stream translator)

/** Numbers events from 0, in the order they are written. */
export class EventSequence {
  private next = 0;

  write(out: ResponseStreamEvent[], event: UnsequencedEvent): void {
    const { type, ...fields } = event;
    out.push({ type, sequence_number: this.next++, ...fields } as ResponseStreamEvent);
  }
}

/** The Response as `response.created` and `response.in_progress` show it: no output yet, no usage. */
export function inProgressSnapshot(response: ResponseObject): ResponseObject {
  const { usage: _usage, ...rest } = response;
  return { ...rest, status: 'in_progress', completed_at: null, error: null, incomplete_details: null, output: [] };
}

/** An output item as `response.output_item.added` shows it: nothing generated yet. */
export function addedItem(item: ResponseOutputItem): ResponseOutputItem {
  switch (item.type) {
    case 'reasoning':
      return { id: item.id, type: 'reasoning', summary: [] };
    case 'message':
      return { ...item, status: 'in_progress', content: [] };
    case 'function_call':
      return { ...item, status: 'in_progress', arguments: '' };
    case 'custom_tool_call':
      return { ...item, input: '' };
  }
}

export function emptyPart(part: OutputContentPart): OutputContentPart {
  return part.type === 'output_text'
    ? { type: 'output_text', text: '', annotations: [], logprobs: [] }
    : { type: 'refusal', refusal: '' };
}

/** The terminal event for a Response's status. */
export function terminalEvent(response: ResponseObject): UnsequencedEvent {
  const type =
    response.status === 'failed'
      ? 'response.failed'
      : response.status === 'incomplete'
        ? 'response.incomplete'
        : 'response.completed';
  return { type, response };
}

const RESPONSE_ERROR_CODES: ReadonlySet<string> = new Set<ResponseErrorCode>([
  'server_error',
  'rate_limit_exceeded',
  'invalid_prompt',
  'vector_store_timeout',
  'invalid_image',
  'invalid_image_format',
  'invalid_base64_image',
  'invalid_image_url',
  'image_too_large',
  'image_too_small',
  'image_parse_error',
  'image_content_policy_violation',
  'invalid_image_mode',
  'image_file_too_large',
  'unsupported_image_media_type',
  'empty_image_file',
  'failed_to_download_image',
  'image_file_not_found',
]);

/** A gateway error code as a failed Response may carry it (OpenAI's fixed list; anything else is a server error). */
export function responseErrorCode(code: string): ResponseErrorCode {
  return RESPONSE_ERROR_CODES.has(code) ? (code as ResponseErrorCode) : 'server_error';
}

/** The events of a finished output item, each part and text sent whole. */
export function writeItemEvents(
  sequence: EventSequence,
  out: ResponseStreamEvent[],
  item: ResponseOutputItem,
  outputIndex: number,
): void {
  sequence.write(out, { type: 'response.output_item.added', output_index: outputIndex, item: addedItem(item) });
  const at = { item_id: item.id as string, output_index: outputIndex };
  switch (item.type) {
    case 'reasoning':
      item.summary.forEach((part, summaryIndex) => {
        const summaryAt = { ...at, summary_index: summaryIndex };
        const empty = { type: 'summary_text' as const, text: '' };
        sequence.write(out, { type: 'response.reasoning_summary_part.added', ...summaryAt, part: empty });
        sequence.write(out, { type: 'response.reasoning_summary_text.delta', ...summaryAt, delta: part.text });
        sequence.write(out, { type: 'response.reasoning_summary_text.done', ...summaryAt, text: part.text });
        sequence.write(out, { type: 'response.reasoning_summary_part.done', ...summaryAt, part });
      });
      break;
    case 'message':
      item.content.forEach((part, contentIndex) => {
        const partAt = { ...at, content_index: contentIndex };
        sequence.write(out, { type: 'response.content_part.added', ...partAt, part: emptyPart(part) });
        if (part.type === 'output_text') {
          const { text, logprobs } = part;
          sequence.write(out, { type: 'response.output_text.delta', ...partAt, delta: text, logprobs });
          sequence.write(out, { type: 'response.output_text.done', ...partAt, text, logprobs });
        } else {
          sequence.write(out, { type: 'response.refusal.delta', ...partAt, delta: part.refusal });
          sequence.write(out, { type: 'response.refusal.done', ...partAt, refusal: part.refusal });
        }
        sequence.write(out, { type: 'response.content_part.done', ...partAt, part });
      });
      break;
    case 'function_call':
      sequence.write(out, { type: 'response.function_call_arguments.delta', ...at, delta: item.arguments });
      sequence.write(out, {
        type: 'response.function_call_arguments.done',
        ...at,
        name: item.name,
        arguments: item.arguments,
      });
      break;
    case 'custom_tool_call':
      sequence.write(out, { type: 'response.custom_tool_call_input.delta', ...at, delta: item.input });
      sequence.write(out, { type: 'response.custom_tool_call_input.done', ...at, input: item.input });
      break;
  }
  sequence.write(out, { type: 'response.output_item.done', output_index: outputIndex, item });
}

/** A finished Response (from the cache) as the exact event sequence its stream carries. */
export function replayResponse(response: ResponseObject): ResponseStreamEvent[] {
  const sequence = new EventSequence();
  const out: ResponseStreamEvent[] = [];
  const snapshot = inProgressSnapshot(response);
  sequence.write(out, { type: 'response.created', response: snapshot });
  sequence.write(out, { type: 'response.in_progress', response: snapshot });
  response.output.forEach((item, outputIndex) => writeItemEvents(sequence, out, item, outputIndex));
  sequence.write(out, terminalEvent(response));
  return out;
}
