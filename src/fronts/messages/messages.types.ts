/**
 * Wire types of the Anthropic Messages API as this front receives and answers it (`POST /v1/messages`,
 * `POST /v1/messages/count_tokens`). They follow the installed `@anthropic-ai/sdk` types (`MessageCreateParams`,
 * `Message`, `RawMessageStreamEvent`), which the specs check the front's output against, and these pages:
 * - https://platform.claude.com/docs/en/api/messages (request, Message, content blocks, usage)
 * - https://platform.claude.com/docs/en/build-with-claude/streaming (events and their order)
 * - https://platform.claude.com/docs/en/api/errors (error body and statuses)
 * - https://platform.claude.com/docs/en/build-with-claude/mid-conversation-system-messages (`role: "system"`)
 * Request types name only the fields the front reads (the SDK's request types are assignable to them); every other
 * field stays on the validated object, since native passthrough needs it.
 */

export interface MessagesCacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

interface Cacheable {
  cache_control?: MessagesCacheControl | null;
}

export interface MessagesTextBlockParam extends Cacheable {
  type: 'text';
  text: string;
}

export type MessagesImageSource =
  | { type: 'base64'; media_type: string; data: string }
  | { type: 'url'; url: string }
  | { type: 'file'; file_id: string };

export interface MessagesImageBlockParam extends Cacheable {
  type: 'image';
  source: MessagesImageSource;
}

export type MessagesDocumentSource =
  | { type: 'base64'; media_type: 'application/pdf'; data: string }
  | { type: 'text'; media_type: 'text/plain'; data: string }
  | { type: 'content'; content: string | (MessagesTextBlockParam | MessagesImageBlockParam)[] }
  | { type: 'url'; url: string }
  | { type: 'file'; file_id: string };

export interface MessagesDocumentBlockParam extends Cacheable {
  type: 'document';
  source: MessagesDocumentSource;
  title?: string | null;
  context?: string | null;
}

export interface MessagesSearchResultBlockParam extends Cacheable {
  type: 'search_result';
  source: string;
  title: string;
  content: MessagesTextBlockParam[];
}

export interface MessagesToolUseBlockParam extends Cacheable {
  type: 'tool_use';
  id: string;
  name: string;
  /** A JSON object (the validator checks it; the SDK types it as unknown). */
  input: unknown;
}

export type MessagesToolResultContentBlock =
  | MessagesTextBlockParam
  | MessagesImageBlockParam
  | MessagesDocumentBlockParam
  | MessagesSearchResultBlockParam
  | MessagesOtherBlockParam;

export interface MessagesToolResultBlockParam extends Cacheable {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | MessagesToolResultContentBlock[];
  is_error?: boolean;
}

export interface MessagesThinkingBlockParam {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface MessagesRedactedThinkingBlockParam {
  type: 'redacted_thinking';
  data: string;
}

/** Server-tool blocks (`server_tool_use`, `web_search_tool_result`, …) and others the front does not translate. */
export interface MessagesOtherBlockParam extends Cacheable {
  type: string;
}

export type MessagesContentBlockParam =
  | MessagesTextBlockParam
  | MessagesImageBlockParam
  | MessagesDocumentBlockParam
  | MessagesSearchResultBlockParam
  | MessagesToolUseBlockParam
  | MessagesToolResultBlockParam
  | MessagesThinkingBlockParam
  | MessagesRedactedThinkingBlockParam
  | MessagesOtherBlockParam;

export interface MessagesTurnParam {
  role: 'user' | 'assistant';
  content: string | MessagesContentBlockParam[];
}

/**
 * A mid-conversation system message: text, and on the beta API tool additions and removals, an optional
 * `clear_at` ("next_user_message": shown only until a later user turn exists) and a per-message `output_config`.
 */
export interface MessagesSystemMessageParam {
  role: 'system';
  content?: string | (MessagesTextBlockParam | MessagesOtherBlockParam)[];
  clear_at?: 'next_user_message' | 'never' | null;
}

export type MessagesMessageParam = MessagesTurnParam | MessagesSystemMessageParam;

/** A client tool; `type` is absent, null or `custom`. */
export interface MessagesCustomTool extends Cacheable {
  type?: 'custom' | null;
  name: string;
  description?: string;
  input_schema: { type: 'object'; [keyword: string]: unknown };
  strict?: boolean;
}

/**
 * Anthropic-defined and server tools (`web_search_20250305`, `bash_20250124`, …): a versioned `type`, no schema;
 * toolsets (`computer_toolset_20260801`, …) have no name either.
 */
export interface MessagesServerTool extends Cacheable {
  type: string;
  name?: string;
}

export type MessagesTool = MessagesCustomTool | MessagesServerTool;

export type MessagesToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export type MessagesThinkingConfig =
  | { type: 'enabled'; budget_tokens: number; display?: 'summarized' | 'omitted' | 'updates' | null }
  | { type: 'adaptive'; display?: 'summarized' | 'omitted' | 'updates' | null }
  | { type: 'between_tools' }
  | { type: 'disabled' };

export type MessagesEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface MessagesOutputFormat {
  type: 'json_schema';
  schema: Record<string, unknown>;
}

/** `POST /v1/messages/count_tokens` takes the Messages body without `max_tokens`. */
export interface CountTokensRequest {
  model: string;
  max_tokens?: number;
  messages: MessagesMessageParam[];
  system?: string | MessagesTextBlockParam[];
  tools?: MessagesTool[];
  tool_choice?: MessagesToolChoice;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  metadata?: { user_id?: string | null } | null;
  thinking?: MessagesThinkingConfig | null;
  output_config?: { effort?: MessagesEffort | null; format?: MessagesOutputFormat | null } | null;
  /** The beta-era form of `output_config.format`, still accepted by the API during its transition. */
  output_format?: MessagesOutputFormat | null;
  /** Automatic caching: a marker on the last cacheable block. */
  cache_control?: MessagesCacheControl | null;
  stream?: boolean;
}

export interface MessagesRequest extends CountTokensRequest {
  max_tokens: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Responses

export interface MessagesTextBlock {
  type: 'text';
  text: string;
  citations: null;
}

export interface MessagesToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
  caller: { type: 'direct' };
}

export interface MessagesThinkingBlock {
  type: 'thinking';
  thinking: string;
  signature: string;
}

export interface MessagesRedactedThinkingBlock {
  type: 'redacted_thinking';
  data: string;
}

export type MessagesContentBlock =
  MessagesTextBlock | MessagesToolUseBlock | MessagesThinkingBlock | MessagesRedactedThinkingBlock;

export type MessagesStopReason =
  'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal' | 'model_context_window_exceeded';

export interface MessagesStopDetails {
  type: 'refusal';
  category: null;
  explanation: string | null;
}

/** `input_tokens` leaves out the cache reads and writes; the three add up to the whole input. */
export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
  cache_creation: null;
  inference_geo: null;
  output_tokens_details: { thinking_tokens: number } | null;
  server_tool_use: null;
  service_tier: null;
  speed: null;
}

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: MessagesContentBlock[];
  stop_reason: MessagesStopReason | null;
  stop_sequence: string | null;
  stop_details: MessagesStopDetails | null;
  container: null;
  diagnostics: null;
  usage: MessagesUsage;
}

export interface MessagesTokensCount {
  input_tokens: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Stream events (the SSE `event:` name is the data's `type`)

export type MessagesContentDelta =
  | { type: 'text_delta'; text: string }
  | { type: 'thinking_delta'; thinking: string }
  | { type: 'signature_delta'; signature: string }
  | { type: 'input_json_delta'; partial_json: string };

export interface MessagesDeltaUsage {
  input_tokens: number | null;
  output_tokens: number;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
  output_tokens_details: { thinking_tokens: number } | null;
  server_tool_use: null;
}

export type MessagesStreamEvent =
  | { type: 'message_start'; message: AnthropicMessage }
  | { type: 'content_block_start'; index: number; content_block: MessagesContentBlock }
  | { type: 'content_block_delta'; index: number; delta: MessagesContentDelta }
  | { type: 'content_block_stop'; index: number }
  | {
      type: 'message_delta';
      delta: {
        stop_reason: MessagesStopReason | null;
        stop_sequence: string | null;
        stop_details: MessagesStopDetails | null;
        container: null;
      };
      usage: MessagesDeltaUsage;
    }
  | { type: 'message_stop' }
  | { type: 'error'; error: MessagesErrorDetail };

export interface MessagesErrorDetail {
  type: string;
  message: string;
}

export interface MessagesErrorBody {
  type: 'error';
  error: MessagesErrorDetail;
}

// ---------------------------------------------------------------------------------------------------------------
// Opaque provider state carried through the Messages format

/**
 * A tool call's `extra_content` (Gemini's thought signature, which Gemini requires back with the call) rides in the
 * `tool_use` id: `gx_` + base64url(JSON `[id, extra_content]`). Clients must echo tool_use ids (tool_result blocks
 * name them), so the state survives any client; the alphabet stays within Anthropic's id pattern `[a-zA-Z0-9_-]`.
 * LiteLLM carries Gemini's signatures in tool-call ids the same way (BerriAI/litellm#16895).
 */
export const TOOL_USE_ID_ENVELOPE_PREFIX = 'gx_';

/**
 * A message's own `extra_content` rides in a trailing `redacted_thinking` block whose `data` is `gx:` +
 * base64url(JSON). Clients pass redacted thinking back unchanged (the API requires it), and `:` never occurs in the
 * API's own base64 data. The front turns such a block back into `extra_content`; it never reaches a provider as a
 * thinking block. A native passthrough to Anthropic must drop these blocks.
 */
export const EXTRA_CONTENT_BLOCK_PREFIX = 'gx:';
