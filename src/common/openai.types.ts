/**
 * The gateway's internal form, which is also the Chat Completions front's wire format: OpenAI's chat completions,
 * chunks and embeddings, plus the extensions common gateways use so nothing is lost between protocols (each marked
 * "gateway extension" below). Providers translate to and from these shapes; the other fronts (Responses, Messages)
 * translate to and from them too.
 *
 * - Reasoning: `reasoning_content` (summary or thinking text, as DeepSeek, vLLM and LiteLLM name it) and
 *   `thinking_blocks` (Anthropic-style blocks with their signatures, as LiteLLM names them) on assistant messages
 *   and deltas. A client that sends the blocks back gets them to the provider exactly as it produced them.
 *   Gemini's thought signatures ride in `extra_content.google.thought_signature`, on the tool call or the message
 *   whose part carried them (Google's own OpenAI-compatible convention).
 * - Request knobs: `reasoning_effort` (OpenAI's) and `thinking` (Anthropic's `{type, budget_tokens}`).
 * - Prompt caching: `cache_control` on messages and content parts (Anthropic's marker), `prompt_cache_key` (OpenAI).
 * - Usage: `prompt_tokens` counts all input, cached included (OpenAI's convention);
 *   `prompt_tokens_details.cached_tokens` is what was read from the provider's cache and
 *   `prompt_tokens_details.cache_creation_tokens` what was written to it; `completion_tokens_details.reasoning_tokens`
 *   is the part of `completion_tokens` spent reasoning.
 */

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'function';

/** Anthropic's prompt-cache marker (gateway extension on chat messages and content parts). */
export interface CacheControl {
  type: 'ephemeral';
  ttl?: '5m' | '1h';
}

export interface TextPart {
  type: 'text';
  text: string;
  cache_control?: CacheControl;
}
export interface ImageUrlPart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' | 'original' };
  cache_control?: CacheControl;
}
export interface InputAudioPart {
  type: 'input_audio';
  input_audio: { data: string; format: string };
}
export interface FilePart {
  type: 'file';
  file: { file_data?: string; file_id?: string; filename?: string };
  cache_control?: CacheControl;
}
export interface RefusalPart {
  type: 'refusal';
  refusal: string;
}
export type ContentPart = TextPart | ImageUrlPart | InputAudioPart | FilePart | RefusalPart;

/** A reasoning block with its signature, exactly as the provider produced it (gateway extension). */
export type ThinkingBlock =
  { type: 'thinking'; thinking: string; signature?: string } | { type: 'redacted_thinking'; data: string };

/** Provider-specific opaque state that must come back on the next turn (gateway extension, Google's convention). */
export interface ExtraContent {
  google?: { thought_signature?: string };
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
  extra_content?: ExtraContent;
}

export interface ChatMessage {
  role: Role;
  content?: string | ContentPart[] | null;
  name?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  refusal?: string | null;
  /** Assistant turns: the reasoning text the provider showed (gateway extension). */
  reasoning_content?: string | null;
  /** Assistant turns: the reasoning blocks with signatures, to be sent back unchanged (gateway extension). */
  thinking_blocks?: ThinkingBlock[];
  extra_content?: ExtraContent;
  /** A prompt-cache breakpoint after this message (gateway extension). */
  cache_control?: CacheControl;
}

export interface FunctionTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
  /** A prompt-cache breakpoint after the tool definitions up to this one (gateway extension). */
  cache_control?: CacheControl;
}

export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh';

/** Anthropic's thinking knob, accepted on every front (gateway extension on chat). */
export type ThinkingConfig = { type: 'enabled'; budget_tokens: number } | { type: 'adaptive' } | { type: 'disabled' };

export type ToolChoice =
  | 'none'
  | 'auto'
  | 'required'
  | { type: 'function'; function: { name: string } }
  | { type: 'allowed_tools'; allowed_tools: { mode: string; tools: unknown[] } };

export interface ResponseFormat {
  type: 'text' | 'json_object' | 'json_schema';
  json_schema?: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean };
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean; include_obfuscation?: boolean } | null;
  response_format?: ResponseFormat;
  seed?: number | null;
  user?: string;
  tools?: FunctionTool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  logit_bias?: Record<string, number> | null;
  reasoning_effort?: ReasoningEffort;
  /** Gateway extension; mapped to each provider's own knob (see the file comment). */
  thinking?: ThinkingConfig;
  prompt_cache_key?: string;
  /** Vendor extras (e.g. vLLM's `top_k`) are forwarded untouched to OpenAI-compatible upstreams. */
  [extra: string]: unknown;
}

export interface Usage {
  /** All input tokens, cached and cache-written included. */
  prompt_tokens: number;
  /** All output tokens, reasoning included. */
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: {
    /** Read from the provider's prompt cache. */
    cached_tokens?: number;
    /** Written to the provider's prompt cache (gateway extension; Anthropic's cache_creation_input_tokens). */
    cache_creation_tokens?: number;
    [detail: string]: number | undefined;
  };
  completion_tokens_details?: {
    reasoning_tokens?: number;
    [detail: string]: number | undefined;
  };
}

/** The assistant message of a completion. */
export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  refusal?: string | null;
  tool_calls?: ToolCall[];
  reasoning_content?: string | null;
  thinking_blocks?: ThinkingBlock[];
  extra_content?: ExtraContent;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ChatCompletionChoice {
  index: number;
  message: AssistantMessage;
  logprobs: unknown;
  finish_reason: FinishReason | null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: Usage;
  system_fingerprint?: string | null;
  [extra: string]: unknown;
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
  extra_content?: ExtraContent;
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ToolCallDelta[];
  /** Reasoning text as it streams (gateway extension). */
  reasoning_content?: string | null;
  /**
   * Reasoning blocks as they stream (gateway extension): a block's text arrives as `thinking` fragments and its
   * signature last, in a delta with `thinking: ''` and the `signature`; a redacted block arrives whole.
   */
  thinking_blocks?: ThinkingBlock[];
  extra_content?: ExtraContent;
}

export interface ChunkChoice {
  index: number;
  delta: ChunkDelta;
  logprobs: unknown;
  finish_reason: FinishReason | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChunkChoice[];
  usage?: Usage | null;
  system_fingerprint?: string | null;
  [extra: string]: unknown;
}

export interface EmbeddingRequest {
  model: string;
  input: string | string[] | number[] | number[][];
  dimensions?: number;
  encoding_format?: 'float' | 'base64';
  user?: string;
  [extra: string]: unknown;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  embedding: number[] | string;
}

export interface EmbeddingResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}
