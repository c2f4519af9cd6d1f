/**
 * Wire types of OpenAI's Responses API (`POST /v1/responses`) as the gateway reads and writes them: the request,
 * its input items, the Response object and its stream events. Only the shapes the gateway inspects or produces are
 * spelled out; everything else is kept as `unknown` extras so native passthrough sees the body the client sent.
 *
 * Follows https://platform.openai.com/docs/api-reference/responses/create,
 * https://platform.openai.com/docs/api-reference/responses/object and
 * https://platform.openai.com/docs/api-reference/responses-streaming, as recorded in OpenAI's OpenAPI document
 * (openai/openai-openapi; the closure the specs validate against is test/fixtures/openai-schemas.json) and in the
 * official `openai` Node SDK's `resources/responses/responses.d.ts`.
 */

/** An explicit prompt-cache breakpoint on an input content part. */
export interface PromptCacheBreakpoint {
  mode: 'explicit';
}

export interface InputTextPart {
  type: 'input_text';
  text: string;
  prompt_cache_breakpoint?: PromptCacheBreakpoint | null;
}

export interface InputImagePart {
  type: 'input_image';
  image_url?: string | null;
  file_id?: string | null;
  detail?: 'low' | 'high' | 'auto' | 'original' | null;
  prompt_cache_breakpoint?: PromptCacheBreakpoint | null;
}

export interface InputFilePart {
  type: 'input_file';
  file_id?: string | null;
  file_data?: string | null;
  file_url?: string | null;
  filename?: string | null;
  detail?: 'auto' | 'low' | 'high';
  prompt_cache_breakpoint?: PromptCacheBreakpoint | null;
}

export type InputContentPart = InputTextPart | InputImagePart | InputFilePart;

/** A log probability of an output token, with its alternatives. */
export interface OutputLogProb {
  token: string;
  logprob: number;
  bytes?: number[];
  top_logprobs?: Array<{ token: string; logprob: number; bytes?: number[] }>;
}

export interface OutputTextPart {
  type: 'output_text';
  text: string;
  annotations: unknown[];
  logprobs: OutputLogProb[];
}

export interface RefusalPart {
  type: 'refusal';
  refusal: string;
}

export type OutputContentPart = OutputTextPart | RefusalPart;

export type MessageRole = 'user' | 'assistant' | 'system' | 'developer';
export type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

/** A message item; `type` may be left out (an "easy input message"). */
export interface MessageItem {
  type?: 'message';
  id?: string;
  role: MessageRole;
  content: string | Array<InputContentPart | OutputContentPart>;
  status?: ItemStatus;
  phase?: 'commentary' | 'final_answer' | null;
}

/** An assistant message the model produced (an output item). */
export interface OutputMessageItem {
  type: 'message';
  id: string;
  role: 'assistant';
  content: OutputContentPart[];
  status: ItemStatus;
}

export interface SummaryTextPart {
  type: 'summary_text';
  text: string;
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: SummaryTextPart[];
  encrypted_content?: string | null;
  content?: Array<{ type: 'reasoning_text'; text: string }>;
  status?: ItemStatus;
}

export interface FunctionCallItem {
  type: 'function_call';
  id?: string;
  call_id: string;
  name: string;
  /** The namespace tool the function belongs to, when it was declared inside one. */
  namespace?: string;
  arguments: string;
  status?: ItemStatus;
}

export interface FunctionCallOutputItem {
  type: 'function_call_output';
  id?: string | null;
  call_id: string;
  output: string | InputContentPart[];
  status?: ItemStatus | null;
}

export interface CustomToolCallItem {
  type: 'custom_tool_call';
  id?: string;
  call_id: string;
  name: string;
  namespace?: string;
  input: string;
  status?: ItemStatus;
}

export interface CustomToolCallOutputItem {
  type: 'custom_tool_call_output';
  id?: string;
  call_id: string;
  output: string | InputContentPart[];
}

export interface ItemReference {
  type?: 'item_reference' | null;
  id: string;
}

/** Items of OpenAI's built-in tools and other kinds the gateway does not translate (kept as they came). */
export interface OtherItem {
  type: string;
  [field: string]: unknown;
}

export type ResponseInputItem =
  | MessageItem
  | ReasoningItem
  | FunctionCallItem
  | FunctionCallOutputItem
  | CustomToolCallItem
  | CustomToolCallOutputItem
  | ItemReference
  | OtherItem;

export type ResponseOutputItem = OutputMessageItem | ReasoningItem | FunctionCallItem | CustomToolCallItem;

export interface FunctionToolDefinition {
  type: 'function';
  name: string;
  description?: string | null;
  parameters?: Record<string, unknown> | null;
  strict?: boolean | null;
  [field: string]: unknown;
}

export interface CustomToolDefinition {
  type: 'custom';
  name: string;
  description?: string;
  format?: { type: 'text' } | { type: 'grammar'; syntax: 'lark' | 'regex'; definition: string };
  [field: string]: unknown;
}

export interface NamespaceToolDefinition {
  type: 'namespace';
  name: string;
  description: string;
  tools: Array<FunctionToolDefinition | CustomToolDefinition>;
}

/** OpenAI's built-in tools (web_search, file_search, code_interpreter, mcp, …), kept as they came. */
export interface BuiltinToolDefinition {
  type: string;
  [field: string]: unknown;
}

export type ToolDefinition =
  FunctionToolDefinition | CustomToolDefinition | NamespaceToolDefinition | BuiltinToolDefinition;

export type ResponsesToolChoice =
  | 'none'
  | 'auto'
  | 'required'
  | { type: 'function'; name: string }
  | { type: 'custom'; name: string }
  | { type: 'allowed_tools'; mode: 'auto' | 'required'; tools: Array<Record<string, unknown>> }
  | { type: string; [field: string]: unknown };

export type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      description?: string;
      strict?: boolean | null;
    };

export interface TextConfig {
  format?: TextFormat;
  verbosity?: 'low' | 'medium' | 'high' | null;
}

export type ResponsesReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface ReasoningConfig {
  effort?: ResponsesReasoningEffort | null;
  summary?: 'auto' | 'concise' | 'detailed' | null;
  /** Deprecated spelling of `summary`. */
  generate_summary?: 'auto' | 'concise' | 'detailed' | null;
  [field: string]: unknown;
}

export interface ResponsesRequest {
  model: string;
  input?: string | ResponseInputItem[];
  instructions?: string | null;
  tools?: ToolDefinition[];
  tool_choice?: ResponsesToolChoice;
  parallel_tool_calls?: boolean | null;
  max_output_tokens?: number | null;
  max_tool_calls?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_logprobs?: number | null;
  text?: TextConfig | null;
  reasoning?: ReasoningConfig | null;
  user?: string;
  safety_identifier?: string | null;
  prompt_cache_key?: string | null;
  prompt_cache_retention?: 'in_memory' | '24h' | null;
  metadata?: Record<string, string> | null;
  stream?: boolean | null;
  stream_options?: { include_obfuscation?: boolean } | null;
  store?: boolean | null;
  include?: string[] | null;
  truncation?: 'auto' | 'disabled' | null;
  previous_response_id?: string | null;
  background?: boolean | null;
  service_tier?: string | null;
  conversation?: string | { id: string } | null;
  prompt?: Record<string, unknown> | null;
  /** Fields the gateway does not read (e.g. Codex's `client_metadata`), kept for native passthrough. */
  [extra: string]: unknown;
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = 'completed' | 'failed' | 'in_progress' | 'cancelled' | 'queued' | 'incomplete';

/** The `code`s a failed Response may carry (ResponseErrorCode in OpenAI's OpenAPI document). */
export type ResponseErrorCode =
  | 'server_error'
  | 'rate_limit_exceeded'
  | 'invalid_prompt'
  | 'vector_store_timeout'
  | 'invalid_image'
  | 'invalid_image_format'
  | 'invalid_base64_image'
  | 'invalid_image_url'
  | 'image_too_large'
  | 'image_too_small'
  | 'image_parse_error'
  | 'image_content_policy_violation'
  | 'invalid_image_mode'
  | 'image_file_too_large'
  | 'unsupported_image_media_type'
  | 'empty_image_file'
  | 'failed_to_download_image'
  | 'image_file_not_found';

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  background: boolean;
  completed_at: number | null;
  error: { code: ResponseErrorCode; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  model: string;
  output: ResponseOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  prompt_cache_retention?: 'in_memory' | '24h' | null;
  reasoning: { effort: ResponsesReasoningEffort | null; summary: 'auto' | 'concise' | 'detailed' | null };
  safety_identifier: string | null;
  service_tier: string | null;
  store: boolean;
  temperature: number | null;
  text: { format: TextFormat; verbosity: 'low' | 'medium' | 'high' };
  tool_choice: ResponsesToolChoice;
  tools: ToolDefinition[];
  top_logprobs: number;
  top_p: number | null;
  truncation: 'auto' | 'disabled';
  usage?: ResponseUsage;
  user?: string;
  metadata: Record<string, string>;
}

interface SequencedEvent {
  sequence_number: number;
}

export interface ResponseLifecycleEvent extends SequencedEvent {
  type: 'response.created' | 'response.in_progress' | 'response.completed' | 'response.incomplete' | 'response.failed';
  response: ResponseObject;
}

export interface OutputItemEvent extends SequencedEvent {
  type: 'response.output_item.added' | 'response.output_item.done';
  output_index: number;
  item: ResponseOutputItem;
}

export interface ContentPartEvent extends SequencedEvent {
  type: 'response.content_part.added' | 'response.content_part.done';
  item_id: string;
  output_index: number;
  content_index: number;
  part: OutputContentPart;
}

export interface OutputTextDeltaEvent extends SequencedEvent {
  type: 'response.output_text.delta';
  item_id: string;
  output_index: number;
  content_index: number;
  delta: string;
  logprobs: OutputLogProb[];
}

export interface OutputTextDoneEvent extends SequencedEvent {
  type: 'response.output_text.done';
  item_id: string;
  output_index: number;
  content_index: number;
  text: string;
  logprobs: OutputLogProb[];
}

export interface RefusalDeltaEvent extends SequencedEvent {
  type: 'response.refusal.delta';
  item_id: string;
  output_index: number;
  content_index: number;
  delta: string;
}

export interface RefusalDoneEvent extends SequencedEvent {
  type: 'response.refusal.done';
  item_id: string;
  output_index: number;
  content_index: number;
  refusal: string;
}

export interface FunctionCallArgumentsDeltaEvent extends SequencedEvent {
  type: 'response.function_call_arguments.delta';
  item_id: string;
  output_index: number;
  delta: string;
}

export interface FunctionCallArgumentsDoneEvent extends SequencedEvent {
  type: 'response.function_call_arguments.done';
  item_id: string;
  output_index: number;
  name: string;
  arguments: string;
}

export interface CustomToolCallInputDeltaEvent extends SequencedEvent {
  type: 'response.custom_tool_call_input.delta';
  item_id: string;
  output_index: number;
  delta: string;
}

export interface CustomToolCallInputDoneEvent extends SequencedEvent {
  type: 'response.custom_tool_call_input.done';
  item_id: string;
  output_index: number;
  input: string;
}

export interface ReasoningSummaryPartEvent extends SequencedEvent {
  type: 'response.reasoning_summary_part.added' | 'response.reasoning_summary_part.done';
  item_id: string;
  output_index: number;
  summary_index: number;
  part: SummaryTextPart;
}

export interface ReasoningSummaryTextDeltaEvent extends SequencedEvent {
  type: 'response.reasoning_summary_text.delta';
  item_id: string;
  output_index: number;
  summary_index: number;
  delta: string;
}

export interface ReasoningSummaryTextDoneEvent extends SequencedEvent {
  type: 'response.reasoning_summary_text.done';
  item_id: string;
  output_index: number;
  summary_index: number;
  text: string;
}

export type ResponseStreamEvent =
  | ResponseLifecycleEvent
  | OutputItemEvent
  | ContentPartEvent
  | OutputTextDeltaEvent
  | OutputTextDoneEvent
  | RefusalDeltaEvent
  | RefusalDoneEvent
  | FunctionCallArgumentsDeltaEvent
  | FunctionCallArgumentsDoneEvent
  | CustomToolCallInputDeltaEvent
  | CustomToolCallInputDoneEvent
  | ReasoningSummaryPartEvent
  | ReasoningSummaryTextDeltaEvent
  | ReasoningSummaryTextDoneEvent;

/** A stream event before its sequence number is assigned. */
export type UnsequencedEvent = ResponseStreamEvent extends infer E
  ? E extends ResponseStreamEvent
    ? Omit<E, 'sequence_number'>
    : never
  : never;
