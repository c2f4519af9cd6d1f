/**
 * Quirks of OpenAI-compatible vendors, for the OpenAI simulator's `vendor` option. Only what the vendors' own
 * documentation, source or error reports show is modelled; everything else behaves as OpenAI does.
 *
 * - DeepSeek: https://api-docs.deepseek.com/zh-cn/guides/reasoning_model (reasoning_content, logprobs refused);
 *   error bodies in lollipopkit/flutter_gpt_box#213 and JetBrains/koog#1599 (reasoning_content required on
 *   assistant tool-call turns, https://api-docs.deepseek.com/guides/thinking_mode#tool-calls)
 * - OpenRouter: https://openrouter.ai/docs/api/reference/errors-and-debugging (error shape),
 *   https://openrouter.ai/docs/guides/best-practices/reasoning-tokens (reasoning, reasoning_details, exclude)
 * - vLLM: vllm-project/vllm#12886 (error shape)
 * - Groq: https://console.groq.com/docs/openai (400 for n > 1, logprobs, logit_bias, top_logprobs,
 *   messages[].name), vercel/ai#1651 (usage in x_groq of the last chunk)
 * - Mistral: Gage-Technologies/mistral-go#2, nomtek/mistralai_client_dart#44, editor-code-assistant/eca#231 and
 *   BerriAI/litellm#30835 (422 extra_forbidden for fields it does not know, its error shape)
 * - Ollama: ollama/ollama openai/openai.go and middleware/openai.go (error shape, `reasoning`, fp_ollama, [DONE])
 * - xAI: nocmt/LLMSearchPlus#2 (its `{code, error}` body); reasoning_content only on grok-3-mini, per
 *   https://docs.cloud.google.com/vertex-ai/generative-ai/docs/partner-models/grok/capabilities/reasoning
 * - Qwen (DashScope compatible mode): https://help.aliyun.com/en/model-studio/deep-thinking (enable_thinking),
 *   https://www.alibabacloud.com/help/model-studio/error-code (enable_thinking refused without streaming)
 * - Fireworks: TabbyML/tabby#3676 (error shape). Together and SGLang: the OpenAI wire format.
 */
import { isReasoningModelName } from './openai-sim-common.js';
import { isArray, isObject, textOf } from './sim-json.js';

export type Vendor =
  | 'openai'
  | 'azure'
  | 'deepseek'
  | 'openrouter'
  | 'vllm'
  | 'groq'
  | 'mistral'
  | 'ollama'
  | 'xai'
  | 'together'
  | 'fireworks'
  | 'qwen'
  | 'sglang';

export const VENDORS: readonly Vendor[] = [
  'openai',
  'azure',
  'deepseek',
  'openrouter',
  'vllm',
  'groq',
  'mistral',
  'ollama',
  'xai',
  'together',
  'fireworks',
  'qwen',
  'sglang',
];

/** An error in OpenAI's vocabulary, before a vendor shapes it. */
export interface SimError {
  status: number;
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** Where a vendor puts reasoning text in chat completions and their deltas. */
export type ReasoningField = 'reasoning_content' | 'reasoning' | 'none';

/** The vendor's error body for an error in OpenAI's vocabulary. */
export function vendorErrorBody(vendor: Vendor, error: SimError, requestId: string): unknown {
  switch (vendor) {
    case 'deepseek':
      return { error: { message: error.message, type: error.type, param: error.param, code: error.type } };
    case 'openrouter':
      return { error: { code: error.status, message: error.message, metadata: { provider_name: null } } };
    case 'vllm':
      return {
        object: 'error',
        message: error.message,
        type: vllmErrorType(error.status),
        param: error.param,
        code: error.status,
      };
    case 'sglang':
      return {
        object: 'error',
        message: error.message,
        type: sglangErrorType(error.status),
        param: error.param,
        code: error.status,
      };
    case 'mistral':
      return { object: 'error', message: error.message, type: error.type, param: error.param, code: error.code };
    case 'ollama':
      return { error: { message: error.message, type: ollamaErrorType(error.status), param: null, code: null } };
    case 'xai':
      return { code: xaiErrorCode(error.status), error: error.message };
    case 'fireworks':
      return { error: { object: 'error', type: error.type, message: error.message } };
    case 'qwen':
      return {
        error: {
          message: error.message,
          type: error.type,
          param: error.param,
          code: error.code ?? 'invalid_parameter_error',
        },
        id: `chatcmpl-${requestId}`,
        request_id: requestId,
      };
    default:
      return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
  }
}

function vllmErrorType(status: number): string {
  if (status === 404) return 'NotFoundError';
  if (status >= 500) return 'InternalServerError';
  return 'BadRequestError';
}

function sglangErrorType(status: number): string {
  if (status === 404) return 'NotFound';
  if (status >= 500) return 'InternalServerError';
  return 'BadRequest';
}

function ollamaErrorType(status: number): string {
  if (status === 400) return 'invalid_request_error';
  if (status === 404) return 'not_found_error';
  return 'api_error';
}

function xaiErrorCode(status: number): string {
  if (status === 401 || status === 403) return 'The caller does not have permission to execute the specified operation';
  if (status === 404) return 'Some requested entity was not found';
  if (status === 429) return 'Some resource has been exhausted';
  if (status >= 500) return 'Internal error';
  return 'Client specified an invalid argument';
}

export function reasoningFieldOf(vendor: Vendor): ReasoningField {
  switch (vendor) {
    case 'deepseek':
    case 'vllm':
    case 'sglang':
    case 'qwen':
    case 'xai':
    case 'fireworks':
      return 'reasoning_content';
    case 'openrouter':
    case 'ollama':
      return 'reasoning';
    default:
      return 'none';
  }
}

/** Whether this chat request makes the vendor's model reason, by model name or by the vendor's own switch. */
export function chatReasons(vendor: Vendor, request: Record<string, unknown>): boolean {
  const model = typeof request.model === 'string' ? request.model : '';
  if (request.reasoning_effort === 'none') return false;
  switch (vendor) {
    case 'deepseek':
      return model.includes('reasoner') || (isObject(request.thinking) && request.thinking.type === 'enabled');
    case 'qwen':
      return request.enable_thinking === true;
    case 'openrouter': {
      const reasoning = request.reasoning;
      if (isObject(reasoning)) return reasoning.enabled !== false && reasoning.effort !== 'none';
      return isReasoningModelName(model);
    }
    case 'xai':
      return model.startsWith('grok-3-mini') || isReasoningModelName(model);
    default:
      return isReasoningModelName(model) || typeof request.reasoning_effort === 'string';
  }
}

/** Whether the reasoning text itself is returned (OpenRouter's `exclude` keeps it server-side). */
export function chatReturnsReasoningText(vendor: Vendor, request: Record<string, unknown>): boolean {
  if (vendor === 'openrouter' && isObject(request.reasoning) && request.reasoning.exclude === true) return false;
  if (vendor === 'xai') return typeof request.model === 'string' && request.model.startsWith('grok-3-mini');
  return reasoningFieldOf(vendor) !== 'none';
}

const OPENAI_REASONING_EFFORTS = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh'];
const GROQ_UNSUPPORTED = ['logprobs', 'logit_bias', 'top_logprobs'];
const DEEPSEEK_REASONER_UNSUPPORTED = ['logprobs', 'top_logprobs'];
/** Mistral's chat completion request fields; anything else is refused with 422 extra_forbidden. */
const MISTRAL_FIELDS = new Set([
  'model',
  'messages',
  'temperature',
  'top_p',
  'max_tokens',
  'stream',
  'stream_options',
  'stop',
  'random_seed',
  'metadata',
  'response_format',
  'tools',
  'tool_choice',
  'presence_penalty',
  'frequency_penalty',
  'n',
  'prediction',
  'parallel_tool_calls',
  'prompt_mode',
  'safe_prompt',
]);
const MISTRAL_MESSAGE_FIELDS: Record<string, Set<string>> = {
  system: new Set(['role', 'content']),
  user: new Set(['role', 'content']),
  assistant: new Set(['role', 'content', 'tool_calls', 'prefix']),
  tool: new Set(['role', 'content', 'tool_call_id', 'name']),
};

/** A refusal already shaped as the vendor sends it. */
export interface VendorRefusal {
  status: number;
  body: unknown;
}

/**
 * The vendor's refusal of a chat request it does not accept, or undefined. `error` shapes an error in OpenAI's
 * vocabulary the vendor's way.
 */
export function chatRequestRefusal(
  vendor: Vendor,
  request: Record<string, unknown>,
  error: (error: SimError) => VendorRefusal,
): VendorRefusal | undefined {
  const model = typeof request.model === 'string' ? request.model : '';
  const invalid = (message: string, param: string | null = null, code: string | null = null) =>
    error({ status: 400, message, type: 'invalid_request_error', param, code });
  const messages = isArray(request.messages) ? request.messages.filter(isObject) : [];
  switch (vendor) {
    case 'openai':
    case 'azure': {
      const effort = request.reasoning_effort;
      if (effort === undefined) return undefined;
      if (!isReasoningModelName(model)) {
        return invalid(
          "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
          'reasoning_effort',
          'unsupported_parameter',
        );
      }
      if (typeof effort !== 'string' || !OPENAI_REASONING_EFFORTS.includes(effort)) {
        return invalid(
          `Invalid value: '${textOf(effort)}'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.`,
          'reasoning_effort',
          'invalid_value',
        );
      }
      return undefined;
    }
    case 'deepseek': {
      if (!chatReasons(vendor, request)) return undefined;
      const unsupported = DEEPSEEK_REASONER_UNSUPPORTED.find((name) => request[name] !== undefined);
      if (unsupported) return invalid(`${model} does not support the parameter \`${unsupported}\``);
      const index = messages.findIndex(
        (message) =>
          message.role === 'assistant' && isArray(message.tool_calls) && typeof message.reasoning_content !== 'string',
      );
      if (index >= 0) {
        return invalid(
          `Missing \`reasoning_content\` field in the assistant message at message index ${index}. For more information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls`,
        );
      }
      return undefined;
    }
    case 'groq': {
      if (typeof request.n === 'number' && request.n > 1) return invalid("'n' : number must be at most 1", 'n');
      const unsupported = GROQ_UNSUPPORTED.find((name) => request[name] !== undefined && request[name] !== false);
      if (unsupported) return invalid(`\`${unsupported}\` is not supported with this model`, unsupported);
      const named = messages.findIndex((message) => message.name !== undefined);
      if (named >= 0) return invalid(`'messages.${named}' : property 'name' is unsupported`, `messages.${named}.name`);
      return undefined;
    }
    case 'mistral':
      return mistralRefusal(request, messages);
    case 'qwen':
      if (request.enable_thinking === true && request.stream !== true) {
        return invalid(
          'parameter.enable_thinking must be set to false for non-streaming calls',
          null,
          'invalid_parameter_error',
        );
      }
      return undefined;
    default:
      return undefined;
  }
}

function mistralRefusal(
  request: Record<string, unknown>,
  messages: Record<string, unknown>[],
): VendorRefusal | undefined {
  const detail: Array<{ type: string; loc: Array<string | number>; msg: string; input: unknown }> = [];
  for (const [name, value] of Object.entries(request)) {
    if (!MISTRAL_FIELDS.has(name)) detail.push(extraForbidden(['body', name], value));
  }
  messages.forEach((message, index) => {
    const role = typeof message.role === 'string' ? message.role : '';
    const allowed = MISTRAL_MESSAGE_FIELDS[role];
    if (!allowed) return;
    for (const [name, value] of Object.entries(message)) {
      if (!allowed.has(name)) detail.push(extraForbidden(['body', 'messages', index, role, name], value));
    }
  });
  if (detail.length === 0) return undefined;
  return {
    status: 422,
    body: { object: 'error', message: { detail }, type: 'invalid_request_error', param: null, code: null },
  };
}

function extraForbidden(loc: Array<string | number>, input: unknown) {
  return { type: 'extra_forbidden', loc, msg: 'Extra inputs are not permitted', input };
}

/** Usage fields a vendor adds to OpenAI's, given the cached prompt tokens. */
export function vendorUsageExtras(vendor: Vendor, promptTokens: number, cachedTokens: number): Record<string, number> {
  if (vendor !== 'deepseek') return {};
  return { prompt_cache_hit_tokens: cachedTokens, prompt_cache_miss_tokens: promptTokens - cachedTokens };
}

/** Whether the vendor reports prompt_tokens_details / completion_tokens_details at all. */
export function reportsTokenDetails(vendor: Vendor): boolean {
  return vendor !== 'ollama' && vendor !== 'mistral';
}

/** OpenRouter's `reasoning_details` entry for reasoning text. */
export function openRouterReasoningDetail(text: string, id: string) {
  return { type: 'reasoning.text', text, signature: null, id, format: 'unknown', index: 0 };
}

/** Groq's per-request timing block; times derive from token counts so they are deterministic. */
export function groqUsage(promptTokens: number, completionTokens: number) {
  const promptTime = promptTokens / 10_000;
  const completionTime = completionTokens / 1_000;
  return {
    queue_time: 0.001,
    prompt_tokens: promptTokens,
    prompt_time: promptTime,
    completion_tokens: completionTokens,
    completion_time: completionTime,
    total_tokens: promptTokens + completionTokens,
    total_time: promptTime + completionTime,
  };
}

export function systemFingerprintOf(vendor: Vendor, name: string): string | null {
  if (vendor === 'ollama') return 'fp_ollama';
  if (vendor === 'mistral' || vendor === 'vllm' || vendor === 'sglang') return null;
  return `fp_sim_${name}`;
}
