/**
 * Baidu ERNIE v1 ("wenxinworkshop") wire types (spec §2a): the OAuth token endpoint, the chat request, the
 * non-stream answer, the stream events and the HTTP-200 error body.
 */

/** Positions 1, 3, 5… are `user` or `function`; positions 2, 4… are `assistant`. There is no `system` role. */
export type ErnieRole = 'user' | 'assistant' | 'function';

export interface ErnieFunctionCall {
  name: string;
  arguments: string;
  thoughts?: string;
}

export interface ErnieMessage {
  role: ErnieRole;
  content: string;
  /** Required on `function` messages: the function whose result this is. */
  name?: string;
  /** On an assistant turn that called a function (its `content` may be empty). */
  function_call?: ErnieFunctionCall;
}

export interface ErnieFunction {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

export interface ErnieChatRequest {
  messages: ErnieMessage[];
  system?: string;
  /** (0, 1.0]. */
  temperature?: number;
  /** [0, 1.0]. */
  top_p?: number;
  /** [1.0, 2.0]. */
  penalty_score?: number;
  stream?: boolean;
  /** At most 4 items of at most 20 characters. */
  stop?: string[];
  /** [2, model maximum]. */
  max_output_tokens?: number;
  user_id?: string;
  /** A string, unlike OpenAI's object. */
  response_format?: 'text' | 'json_object';
  functions?: ErnieFunction[];
  tool_choice?: { type: 'function'; function: { name: string } };
}

export interface ErnieUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
}

export type ErnieFinishReason = 'normal' | 'stop' | 'length' | 'content_filter' | 'function_call';

export interface ErnieChatResponse {
  id: string;
  object: string;
  created: number;
  result: string;
  is_truncated?: boolean;
  /** The input was unsafe: the conversation should be reset. */
  need_clear_history?: boolean;
  ban_round?: number;
  /** One of ErnieFinishReason, or a reason newer models added. */
  finish_reason?: string;
  /** Safety class on newer models: 0 safe, 1 low risk, 2 no further chat, 3 may not display, 4 retract. */
  flag?: number;
  function_call?: ErnieFunctionCall;
  usage?: ErnieUsage;
}

/** One `data:` payload of a stream: `result` is the new text only; the stream ends after `is_end: true`. */
export interface ErnieChatStreamEvent extends ErnieChatResponse {
  sentence_id: number;
  is_end: boolean;
}

/** Baidu reports errors with HTTP 200 and this body, in place of any answer or stream. */
export interface ErnieErrorBody {
  error_code: number;
  error_msg: string;
  id?: string;
}

export interface ErnieTokenResponse {
  access_token: string;
  /** Seconds; 2 592 000 (30 days) in practice. */
  expires_in: number;
  refresh_token?: string;
  scope?: string;
}

export interface ErnieTokenErrorBody {
  error: string;
  error_description?: string;
}
