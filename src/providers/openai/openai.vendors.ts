/**
 * Presets for OpenAI-compatible vendors: each is a small frozen table of named adaptations, resolved once when the
 * provider is built; the explicit options of the same names override it (see OpenAiOptions). Only what the vendors
 * document is adapted (sources per preset below and in docs/vendors.md); a vendor that needs only a base URL has an
 * empty preset. With no preset and no adaptation option the provider keeps its plain passthrough path.
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionRequest, ChatMessage, Usage } from '../../common/openai.types.js';

export const OPENAI_VENDORS = [
  'deepseek',
  'qwen',
  'mistral',
  'groq',
  'xai',
  'openrouter',
  'together',
  'fireworks',
  'vllm',
  'sglang',
  'ollama',
] as const;
export type OpenAiVendor = (typeof OPENAI_VENDORS)[number];

/**
 * Where the request's reasoning knob goes: OpenAI's `reasoning_effort`; DeepSeek's `thinking: {type}` switch (the
 * effort kept); DashScope's `enable_thinking` (+ `thinking_budget`); OpenRouter's `reasoning: {effort | max_tokens}`.
 */
export const REASONING_PARAMS = ['reasoning_effort', 'thinking', 'enable_thinking', 'reasoning'] as const;
export type ReasoningParam = (typeof REASONING_PARAMS)[number];

/** Which vendor usage fields are read into OpenAI's: DeepSeek's cache hits, Groq's `x_groq.usage` on the last chunk. */
export const USAGE_FIELDS = ['openai', 'deepseek', 'groq'] as const;
export type UsageFields = (typeof USAGE_FIELDS)[number];

/** How a stream ends: `done` needs `data: [DONE]`; `finish` also takes a clean end after every choice finished. */
export const STREAM_ENDS = ['done', 'finish'] as const;
export type StreamEnd = (typeof STREAM_ENDS)[number];

/** Which models take reasoning knobs when `options.reasoning` is not set: a name pattern, all or none. */
export type ReasoningModels = RegExp | 'all' | 'none';

/** The adaptations a provider applies, resolved once at start-up. */
export interface VendorAdaptations {
  readonly vendor: OpenAiVendor | undefined;
  /** Request fields left out (the vendor refuses them and leaving them out does not change the answer). */
  readonly dropParams: readonly string[];
  /** Message fields left out of every message. */
  readonly dropMessageFields: readonly string[];
  /** Request fields sent under the vendor's name (`[from, to]`); a field already set under `to` wins. */
  readonly renameParams: ReadonlyArray<readonly [string, string]>;
  /** `n > 1` is refused with a 400 naming `n` (dropping it would change the answer). */
  readonly singleChoice: boolean;
  readonly reasoningParam: ReasoningParam;
  /** Reasoning is refused without `stream: true` (DashScope) with a 400 naming `stream`. */
  readonly reasoningNeedsStream: boolean;
  readonly usageFields: UsageFields;
  readonly streamEnd: StreamEnd;
}

/** What a stream reader needs; undefined when nothing applies (the plain path). */
export interface StreamAdaptations {
  readonly usageFields: UsageFields;
  readonly streamEnd: StreamEnd;
}

type Preset = Partial<Omit<VendorAdaptations, 'vendor'>> & { readonly reasoningModels?: ReasoningModels };

/**
 * Mistral refuses any field it does not know with 422 `extra_forbidden` (Gage-Technologies/mistral-go#2,
 * BerriAI/litellm#30835); these are OpenAI's that it does not take. `seed` is its `random_seed` and
 * `max_completion_tokens` its `max_tokens` (its OpenAPI chat request, e.g. docs.rs mistral-rouille
 * docs/ChatCompletionRequest.md).
 */
const MISTRAL_DROPS = [
  'user',
  'store',
  'service_tier',
  'logprobs',
  'top_logprobs',
  'logit_bias',
  'modalities',
  'audio',
  'prompt_cache_key',
  'safety_identifier',
  'verbosity',
  'web_search_options',
];

const PRESETS: Readonly<Record<OpenAiVendor, Readonly<Preset>>> = Object.freeze({
  // https://api-docs.deepseek.com/guides/thinking_mode: `thinking: {type: enabled|disabled}` switches thinking,
  // `reasoning_effort` sets its effort; https://api-docs.deepseek.com/guides/reasoning_model: logprobs and
  // top_logprobs are refused in thinking mode; usage carries prompt_cache_hit_tokens / prompt_cache_miss_tokens.
  deepseek: {
    dropParams: ['logprobs', 'top_logprobs'],
    reasoningParam: 'thinking',
    reasoningModels: 'all',
    usageFields: 'deepseek',
  },
  // https://help.aliyun.com/en/model-studio/deep-thinking: `enable_thinking` (+ `thinking_budget`), streaming only
  // for the open Qwen3 models (https://www.alibabacloud.com/help/model-studio/error-code).
  qwen: { reasoningParam: 'enable_thinking', reasoningNeedsStream: true, reasoningModels: 'all' },
  mistral: {
    dropParams: MISTRAL_DROPS,
    dropMessageFields: ['name', 'refusal', 'reasoning_content', 'audio'],
    renameParams: [
      ['max_completion_tokens', 'max_tokens'],
      ['seed', 'random_seed'],
    ],
    reasoningModels: 'none',
  },
  // https://console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs and messages[].name are a 400, n must be
  // 1; usage of a stream in `x_groq.usage` of the last chunk (vercel/ai#1651).
  groq: {
    dropParams: ['logprobs', 'logit_bias', 'top_logprobs'],
    dropMessageFields: ['name'],
    singleChoice: true,
    usageFields: 'groq',
  },
  // Only grok-3-mini takes reasoning_effort; grok-4 reasons by itself
  // (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/partner-models/grok/capabilities/reasoning).
  xai: { reasoningModels: /^grok-3-mini/ },
  // https://openrouter.ai/docs/use-cases/reasoning-tokens: `reasoning: {effort | max_tokens, exclude, enabled}`;
  // the text comes back as `reasoning` (read as reasoning_content for every vendor).
  openrouter: { reasoningParam: 'reasoning', reasoningModels: 'all' },
  together: {},
  fireworks: {},
  vllm: {},
  sglang: {},
  ollama: {},
});

/** The explicit options, each overriding the preset's field of the same name. */
export interface AdaptationOverrides {
  vendor?: OpenAiVendor;
  dropParams?: readonly string[];
  dropMessageFields?: readonly string[];
  renameParams?: Readonly<Record<string, string>>;
  singleChoice?: boolean;
  reasoningParam?: ReasoningParam;
  usageFields?: UsageFields;
  streamEnd?: StreamEnd;
}

/** The preset with the explicit options over it; undefined when nothing differs from plain OpenAI. */
export function resolveAdaptations(overrides: AdaptationOverrides): VendorAdaptations | undefined {
  const preset: Preset = overrides.vendor ? PRESETS[overrides.vendor] : {};
  const renames = overrides.renameParams;
  if (renames) {
    for (const [from, to] of Object.entries(renames)) {
      if (typeof to !== 'string' || to === '') throw new Error(`options.renameParams.${from}: a field name`);
    }
  }
  const resolved: VendorAdaptations = Object.freeze({
    vendor: overrides.vendor,
    dropParams: Object.freeze([...(overrides.dropParams ?? preset.dropParams ?? [])]),
    dropMessageFields: Object.freeze([...(overrides.dropMessageFields ?? preset.dropMessageFields ?? [])]),
    renameParams: Object.freeze(renames ? Object.entries(renames) : [...(preset.renameParams ?? [])]),
    singleChoice: overrides.singleChoice ?? preset.singleChoice ?? false,
    reasoningParam: overrides.reasoningParam ?? preset.reasoningParam ?? 'reasoning_effort',
    reasoningNeedsStream: preset.reasoningNeedsStream ?? false,
    usageFields: overrides.usageFields ?? preset.usageFields ?? 'openai',
    streamEnd: overrides.streamEnd ?? preset.streamEnd ?? 'done',
  });
  const plain =
    resolved.dropParams.length === 0 &&
    resolved.dropMessageFields.length === 0 &&
    resolved.renameParams.length === 0 &&
    !resolved.singleChoice &&
    resolved.reasoningParam === 'reasoning_effort' &&
    !resolved.reasoningNeedsStream &&
    resolved.usageFields === 'openai' &&
    resolved.streamEnd === 'done';
  return plain ? undefined : resolved;
}

/** What the stream reader adapts; undefined for OpenAI's own stream format. */
export function streamAdaptationsOf(adaptations: VendorAdaptations | undefined): StreamAdaptations | undefined {
  if (!adaptations || (adaptations.usageFields === 'openai' && adaptations.streamEnd === 'done')) return undefined;
  return { usageFields: adaptations.usageFields, streamEnd: adaptations.streamEnd };
}

/**
 * The body for the vendor, from the OpenAI-compatible body (`body`, from toOpenAiRequest) and the client's request
 * (its `thinking` budget): refusals first (400 naming the parameter), then the reasoning knob in the vendor's form,
 * then fields dropped and renamed. Copies only what changes.
 */
export function toVendorRequest(
  request: ChatCompletionRequest,
  body: ChatCompletionRequest,
  adaptations: VendorAdaptations,
  provider: string,
): ChatCompletionRequest {
  if (adaptations.singleChoice && typeof request.n === 'number' && request.n > 1) {
    throw new InvalidRequestError(
      `${provider}: this provider returns one choice per request (n must be 1); repeat the call for more`,
      'n',
      'unsupported_parameter',
    );
  }
  let out = withVendorReasoning(request, body, adaptations, provider);
  let copied = out !== body;
  const own = () => {
    if (!copied) {
      out = { ...out };
      copied = true;
    }
    return out;
  };
  for (const name of adaptations.dropParams) {
    if (out[name] !== undefined) delete own()[name];
  }
  for (const [from, to] of adaptations.renameParams) {
    const value = out[from];
    if (value === undefined) continue;
    const target = own();
    if (target[to] === undefined || target[to] === null) target[to] = value;
    delete target[from];
  }
  const fields = adaptations.dropMessageFields;
  if (fields.length > 0) {
    const messages = withoutMessageFields(out.messages, fields);
    if (messages !== out.messages) own().messages = messages;
  }
  return out;
}

function withoutMessageFields(messages: ChatMessage[], fields: readonly string[]): ChatMessage[] {
  let stripped: ChatMessage[] | undefined;
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as ChatMessage & Record<string, unknown>;
    if (!fields.some((field) => message[field] !== undefined)) continue;
    const plain: Record<string, unknown> = { ...message };
    for (const field of fields) delete plain[field];
    (stripped ??= messages.slice())[i] = plain as unknown as ChatMessage;
  }
  return stripped ?? messages;
}

function withVendorReasoning(
  request: ChatCompletionRequest,
  body: ChatCompletionRequest,
  adaptations: VendorAdaptations,
  provider: string,
): ChatCompletionRequest {
  const effort = body.reasoning_effort;
  const param = adaptations.reasoningParam;
  if (effort === undefined || effort === null || param === 'reasoning_effort') return body;
  const { reasoning_effort: _effort, ...rest } = body;
  const off = effort === 'none';
  const budget = request.thinking?.type === 'enabled' ? request.thinking.budget_tokens : undefined;
  switch (param) {
    case 'thinking':
      // DeepSeek's switch has no budget: the effort says how much.
      return withField(off ? rest : { ...body }, 'thinking', { type: off ? 'disabled' : 'enabled' });
    case 'enable_thinking':
      if (off) return { ...rest, enable_thinking: false };
      if (adaptations.reasoningNeedsStream && body.stream !== true) {
        throw new InvalidRequestError(
          `${provider}: this provider reasons only in streamed answers; send stream: true, or no reasoning_effort`,
          'stream',
          'unsupported_parameter',
        );
      }
      return { ...rest, enable_thinking: true, ...(budget !== undefined && { thinking_budget: budget }) };
    case 'reasoning':
      if (rest.reasoning !== undefined) return rest;
      return { ...rest, reasoning: budget !== undefined ? { max_tokens: budget } : { effort } };
  }
}

/** Sets a vendor field that shares a name with a gateway extension of another shape (DeepSeek's `thinking`). */
function withField(body: ChatCompletionRequest, name: string, value: unknown): ChatCompletionRequest {
  body[name] = value;
  return body;
}

interface VendorUsage extends Usage {
  prompt_cache_hit_tokens?: unknown;
}

/**
 * DeepSeek's `prompt_cache_hit_tokens` as `prompt_tokens_details.cached_tokens` when the latter is missing.
 * Returns whether the usage changed (the upstream's bytes then no longer fit).
 */
export function usageWithVendorFields(usage: Usage | null | undefined, fields: UsageFields): boolean {
  if (!usage || fields !== 'deepseek') return false;
  const hit = (usage as VendorUsage).prompt_cache_hit_tokens;
  if (typeof hit !== 'number' || usage.prompt_tokens_details?.cached_tokens !== undefined) return false;
  usage.prompt_tokens_details = { ...usage.prompt_tokens_details, cached_tokens: hit };
  return true;
}

/** Groq's usage block of a stream's last chunk (`x_groq.usage`) in OpenAI's form, or undefined. */
export function groqStreamUsage(chunk: Record<string, unknown>): Usage | undefined {
  const xGroq = chunk.x_groq as { usage?: Record<string, unknown> } | undefined;
  const usage = xGroq?.usage;
  if (!usage || typeof usage.prompt_tokens !== 'number' || typeof usage.completion_tokens !== 'number') {
    return undefined;
  }
  const total =
    typeof usage.total_tokens === 'number' ? usage.total_tokens : usage.prompt_tokens + usage.completion_tokens;
  return { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: total };
}

/** Which models take reasoning knobs: `options.reasoning` when set (`auto`: by name), else the preset's choice. */
export function reasoningModelsOf(
  option: 'auto' | 'all' | 'none' | undefined,
  vendor: OpenAiVendor | undefined,
  byName: RegExp,
): ReasoningModels {
  if (option === 'all' || option === 'none') return option;
  if (option === 'auto' || vendor === undefined) return byName;
  return PRESETS[vendor].reasoningModels ?? byName;
}
