/**
 * Pure translation between the gateway's OpenAI format and Baidu ERNIE v1 (spec §2a, §4.1–4.3, §4.6): model →
 * endpoint, request, answer, stream events and error codes. No I/O here; ernie.provider.ts does the calls.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { echo, InvalidRequestError, NotFoundError, type GatewayError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkChoice,
  FinishReason,
  ToolCall,
  Usage,
} from '../../common/openai.types.js';
import type { SseEvent } from '../../upstream/sse-parser.js';
import { toGatewayErrorFromOpenAi } from '../openai/openai.mapper.js';
import { upstreamErrors } from '../provider-errors.js';
import type {
  ErnieChatRequest,
  ErnieChatResponse,
  ErnieChatStreamEvent,
  ErnieErrorBody,
  ErnieFunctionCall,
  ErnieMessage,
  ErnieUsage,
} from './ernie.types.js';

export const ERNIE_CHAT_PATH = '/rpc/2.0/ai_custom/v1/wenxinworkshop/chat';

interface ErnieModel {
  endpoint: string;
  /** Upper bound of `max_output_tokens` (spec §2a: 2048 on 8K models, 4096 on the 128K ones). */
  maxOutputTokens: number;
}

const SHORT = 2048;
const LONG = 4096;

/**
 * Model name (lower case) → chat endpoint, from the spec's table (JS SDK 0.2.4, one-api, Baidu docs). Display
 * names, their old aliases and the v2-style ids all resolve. Left out on purpose: the legacy "ERNIE-Speed"
 * (the sources disagree) and ERNIE-3.5-8K-0205 (endpoint case unconfirmed): configure them via `endpoints`.
 */
export const ERNIE_CHAT_MODELS: Readonly<Record<string, ErnieModel>> = {
  'ernie-4.0-8k': { endpoint: 'completions_pro', maxOutputTokens: SHORT },
  'ernie-bot-4': { endpoint: 'completions_pro', maxOutputTokens: SHORT },
  'ernie-4.0-8k-latest': { endpoint: 'ernie-4.0-8k-latest', maxOutputTokens: SHORT },
  'ernie-4.0-8k-0613': { endpoint: 'ernie-4.0-8k-0613', maxOutputTokens: SHORT },
  'ernie-4.0-turbo-8k': { endpoint: 'ernie-4.0-turbo-8k', maxOutputTokens: SHORT },
  'ernie-4.0-turbo-8k-latest': { endpoint: 'ernie-4.0-turbo-8k-latest', maxOutputTokens: SHORT },
  'ernie-4.0-turbo-128k': { endpoint: 'ernie-4.0-turbo-128k', maxOutputTokens: LONG },
  'ernie-3.5-8k': { endpoint: 'completions', maxOutputTokens: SHORT },
  'ernie-bot': { endpoint: 'completions', maxOutputTokens: SHORT },
  'ernie-3.5-8k-0613': { endpoint: 'ernie-3.5-8k-0613', maxOutputTokens: SHORT },
  'ernie-3.5-8k-1222': { endpoint: 'ernie-3.5-8k-1222', maxOutputTokens: SHORT },
  'ernie-3.5-4k-0205': { endpoint: 'ernie-3.5-4k-0205', maxOutputTokens: SHORT },
  'ernie-3.5-128k': { endpoint: 'ernie-3.5-128k', maxOutputTokens: LONG },
  'ernie-3.5-128k-preview': { endpoint: 'ernie-3.5-128k-preview', maxOutputTokens: LONG },
  'ernie-bot-8k': { endpoint: 'ernie_bot_8k', maxOutputTokens: SHORT },
  'ernie-speed-8k': { endpoint: 'ernie_speed', maxOutputTokens: SHORT },
  'ernie-speed-128k': { endpoint: 'ernie-speed-128k', maxOutputTokens: LONG },
  'ernie-lite-8k-0922': { endpoint: 'eb-instant', maxOutputTokens: SHORT },
  'ernie-bot-turbo': { endpoint: 'eb-instant', maxOutputTokens: SHORT },
  'ernie-lite-8k': { endpoint: 'ernie-lite-8k', maxOutputTokens: SHORT },
  'ernie-tiny-8k': { endpoint: 'ernie-tiny-8k', maxOutputTokens: SHORT },
  'ernie-character-fiction-8k': { endpoint: 'ernie-char-fiction-8k', maxOutputTokens: SHORT },
  'ernie-char-fiction-8k': { endpoint: 'ernie-char-fiction-8k', maxOutputTokens: SHORT },
  'ernie-speed-appbuilder': { endpoint: 'ai_apaas', maxOutputTokens: SHORT },
  'eb-turbo-appbuilder': { endpoint: 'ai_apaas', maxOutputTokens: SHORT },
  'ernie-lite-appbuilder-8k-0614': { endpoint: 'ai_apaas_lite', maxOutputTokens: SHORT },
  'llama-2-7b-chat': { endpoint: 'llama_2_7b', maxOutputTokens: SHORT },
  'llama-2-13b-chat': { endpoint: 'llama_2_13b', maxOutputTokens: SHORT },
  'llama-2-70b-chat': { endpoint: 'llama_2_70b', maxOutputTokens: SHORT },
  'mixtral-8x7b-instruct': { endpoint: 'mixtral_8x7b_instruct', maxOutputTokens: SHORT },
  'yi-34b-chat': { endpoint: 'yi_34b_chat', maxOutputTokens: SHORT },
  'bloomz-7b': { endpoint: 'bloomz_7b1', maxOutputTokens: SHORT },
  'gemma-7b-it': { endpoint: 'gemma_7b_it', maxOutputTokens: SHORT },
};

/** Endpoint names become one path segment. */
export const ERNIE_ENDPOINT_PATTERN = /^[A-Za-z0-9_.-]+$/;

export interface ResolvedErnieModel {
  endpoint: string;
  /** Unknown for custom endpoints: the upstream then enforces its own maximum. */
  maxOutputTokens?: number;
}

/**
 * The chat endpoint of `model`: the configured override (exact name, then case-insensitive), else the built-in
 * table. An unknown model is a 404 `model_not_found` before any upstream call.
 */
export function resolveErnieModel(
  provider: string,
  model: string,
  overrides: Readonly<Record<string, string>> = {},
): ResolvedErnieModel {
  const key = model.toLowerCase();
  const known = ERNIE_CHAT_MODELS[key] as ErnieModel | undefined;
  const override = overrides[model] ?? Object.entries(overrides).find(([name]) => name.toLowerCase() === key)?.[1];
  if (override !== undefined) return { endpoint: override, maxOutputTokens: known?.maxOutputTokens };
  if (known) return known;
  // Decided here, before any call: the gateway's refusal, not the provider's.
  throw new NotFoundError(
    `${provider}: no ERNIE v1 chat endpoint is known for model '${echo(model)}'`,
    'model_not_found',
    'model',
  );
}

// ---------------------------------------------------------------------------------------------------------
// OpenAI request → ERNIE v1 request (spec §4.2)
// ---------------------------------------------------------------------------------------------------------

const MIN_TEMPERATURE = 0.01;
const MIN_OUTPUT_TOKENS = 2;
const MAX_STOP_SEQUENCES = 4;
const MAX_STOP_LENGTH = 20;

/**
 * Translates a chat request. Unsupported features are rejected with a 400 naming the parameter, never dropped
 * silently (spec §4.1). Out-of-range numbers: values outside OpenAI's own range are rejected; values OpenAI
 * allows but ERNIE does not are mapped onto ERNIE's range (temperature and max tokens clamped, penalties
 * converted to `penalty_score`), as spec §4.2 prescribes, so a request valid for OpenAI is valid here.
 */
export function toErnieRequest(request: ChatCompletionRequest, model: ResolvedErnieModel): ErnieChatRequest {
  rejectUnsupported(request);
  const { system, messages } = toErnieMessages(request.messages);
  const body: ErnieChatRequest = { messages };
  const schemaHint = schemaInstruction(request.response_format);
  const instructions =
    schemaHint === undefined ? system : system === undefined ? schemaHint : `${system}\n\n${schemaHint}`;
  if (instructions !== undefined) body.system = instructions;

  const temperature = numberInRange(request.temperature, 'temperature', 0, 2);
  if (temperature !== undefined) body.temperature = clamp(temperature, MIN_TEMPERATURE, 1);
  const topP = numberInRange(request.top_p, 'top_p', 0, 1);
  if (topP !== undefined) body.top_p = topP;
  const penalty = penaltyScore(request);
  if (penalty !== undefined) body.penalty_score = penalty;
  const maxOutputTokens = maxOutputTokensOf(request, model.maxOutputTokens);
  if (maxOutputTokens !== undefined) body.max_output_tokens = maxOutputTokens;
  const stop = stopSequences(request.stop);
  if (stop !== undefined) body.stop = stop;
  if (request.user) body.user_id = request.user;
  if (request.response_format) body.response_format = responseFormat(request.response_format.type);
  Object.assign(body, functionsOf(request));
  body.stream = request.stream === true;
  return body;
}

function rejectUnsupported(request: ChatCompletionRequest): void {
  if (request.n != null && request.n !== 1) {
    throw new InvalidRequestError('ERNIE v1 returns a single choice: n must be 1.', 'n', 'unsupported_parameter');
  }
  if (request.logprobs === true) {
    throw new InvalidRequestError('ERNIE v1 does not return logprobs.', 'logprobs', 'unsupported_parameter');
  }
  if (request.top_logprobs != null) {
    throw new InvalidRequestError('ERNIE v1 does not return logprobs.', 'top_logprobs', 'unsupported_parameter');
  }
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) {
    throw new InvalidRequestError('ERNIE v1 does not support logit_bias.', 'logit_bias', 'unsupported_parameter');
  }
  if (request.audio != null || (Array.isArray(request.modalities) && request.modalities.includes('audio'))) {
    throw new InvalidRequestError('ERNIE v1 does not produce audio.', 'modalities', 'unsupported_parameter');
  }
}

/** Where a translated message came from, so that shape errors name the right `messages[i]`. */
interface PlacedMessage extends ErnieMessage {
  index: number;
}

function toErnieMessages(input: ChatMessage[]): { system?: string; messages: ErnieMessage[] } {
  if (!Array.isArray(input) || input.length === 0) {
    throw new InvalidRequestError('messages must be a non-empty array.', 'messages');
  }
  const systemParts: string[] = [];
  const toolNames = new Map<string, string>();
  const placed: PlacedMessage[] = [];

  input.forEach((message, index) => {
    const param = `messages[${index}]`;
    switch (message.role) {
      case 'system':
      case 'developer':
        systemParts.push(flattenContent(message.content, param));
        return;
      case 'user':
        appendMerged(placed, { role: 'user', content: flattenContent(message.content, param), index });
        return;
      case 'assistant': {
        const calls = message.tool_calls ?? [];
        if (calls.length > 1) {
          throw new InvalidRequestError('ERNIE v1 allows one function call per assistant turn.', `${param}.tool_calls`);
        }
        const next: PlacedMessage = { role: 'assistant', content: flattenContent(message.content, param), index };
        if (calls.length === 1) {
          const call = calls[0];
          toolNames.set(call.id, call.function.name);
          next.function_call = { name: call.function.name, arguments: call.function.arguments };
        }
        appendMerged(placed, next);
        return;
      }
      case 'tool': {
        const name = message.tool_call_id === undefined ? undefined : toolNames.get(message.tool_call_id);
        if (name === undefined) {
          throw new InvalidRequestError(
            'A tool message must answer a tool call of an earlier assistant message.',
            `${param}.tool_call_id`,
          );
        }
        placed.push({ role: 'function', name, content: flattenContent(message.content, param), index });
        return;
      }
      case 'function':
        if (!message.name) throw new InvalidRequestError('A function message needs a name.', `${param}.name`);
        placed.push({ role: 'function', name: message.name, content: flattenContent(message.content, param), index });
        return;
      default:
        throw new InvalidRequestError(`Unknown message role '${echo(message.role)}'.`, `${param}.role`);
    }
  });

  // v1 conversations start with the user: a leading assistant turn (a greeting) is dropped rather than
  // answered by an invented user turn [design, spec §4.2.4].
  while (placed.length > 0 && placed[0].role === 'assistant') placed.shift();
  checkAlternation(placed);

  const messages = placed.map(({ index: _index, ...message }) => message);
  const system = systemParts.filter((part) => part !== '').join('\n\n');
  return system === '' ? { messages } : { system, messages };
}

/** Consecutive user (or assistant) turns become one, joined by "\n" (spec §4.2.3). Function results are not merged. */
function appendMerged(placed: PlacedMessage[], next: PlacedMessage): void {
  const previous = placed.at(-1);
  if (!previous || previous.role !== next.role) {
    placed.push(next);
    return;
  }
  if (previous.function_call && next.function_call) {
    throw new InvalidRequestError(
      'ERNIE v1 allows one function call per assistant turn.',
      `messages[${next.index}].tool_calls`,
    );
  }
  previous.content = [previous.content, next.content].filter((text) => text !== '').join('\n');
  if (next.function_call) previous.function_call = next.function_call;
}

/** Positions 1, 3, 5… user or function (not function first), 2, 4… assistant, odd count, last not blank. */
function checkAlternation(placed: PlacedMessage[]): void {
  if (placed.length === 0) {
    throw new InvalidRequestError('messages must contain at least one user message.', 'messages');
  }
  if (placed[0].role === 'function') {
    throw new InvalidRequestError('The first message cannot be a tool result.', `messages[${placed[0].index}]`);
  }
  placed.forEach((message, position) => {
    const wantsAssistant = position % 2 === 1;
    if (wantsAssistant !== (message.role === 'assistant')) {
      throw new InvalidRequestError(
        `ERNIE v1 needs user and assistant turns to alternate; messages[${message.index}] (${message.role}) breaks the order.`,
        `messages[${message.index}]`,
      );
    }
  });
  const last = placed[placed.length - 1];
  if (last.role === 'assistant') {
    throw new InvalidRequestError(
      'ERNIE v1 cannot continue an assistant message: the last message must come from the user or a tool.',
      `messages[${last.index}]`,
    );
  }
  if (last.content.trim() === '') {
    throw new InvalidRequestError('The last message must not be blank.', `messages[${last.index}].content`);
  }
}

/** Text parts joined by "\n"; v1 takes text only, so any other part is a 400 naming it. */
function flattenContent(content: ChatMessage['content'], param: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, i) => {
      if (part.type === 'text') return part.text;
      if (part.type === 'refusal') return part.refusal;
      throw new InvalidRequestError(
        `ERNIE v1 accepts text only; '${part.type}' content parts are not supported.`,
        `${param}.content[${i}]`,
        'unsupported_content',
      );
    })
    .join('\n');
}

function numberInRange(value: unknown, param: string, min: number, max: number): number | undefined {
  if (value == null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidRequestError(`${param} must be a number between ${min} and ${max}.`, param);
  }
  return value;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** `penalty_score = clamp(1 + max(fp, pp, 0) / 2, 1, 2)`, omitted when neither penalty is positive (spec §4.2.7). */
function penaltyScore(request: ChatCompletionRequest): number | undefined {
  const frequency = numberInRange(request.frequency_penalty, 'frequency_penalty', -2, 2) ?? 0;
  const presence = numberInRange(request.presence_penalty, 'presence_penalty', -2, 2) ?? 0;
  const strongest = Math.max(frequency, presence, 0);
  return strongest === 0 ? undefined : clamp(1 + strongest / 2, 1, 2);
}

function maxOutputTokensOf(request: ChatCompletionRequest, modelMax: number | undefined): number | undefined {
  const param = request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const value = request.max_completion_tokens ?? request.max_tokens;
  if (value == null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidRequestError(`${param} must be a positive integer.`, param);
  }
  return clamp(value, MIN_OUTPUT_TOKENS, modelMax ?? Number.MAX_SAFE_INTEGER);
}

/** Rejected rather than truncated: a dropped stop sequence silently changes the output. */
function stopSequences(stop: ChatCompletionRequest['stop']): string[] | undefined {
  if (stop == null) return undefined;
  const list = typeof stop === 'string' ? [stop] : stop;
  if (list.length === 0) return undefined;
  if (list.length > MAX_STOP_SEQUENCES) {
    throw new InvalidRequestError(`ERNIE v1 accepts at most ${MAX_STOP_SEQUENCES} stop sequences.`, 'stop');
  }
  if (list.some((item) => typeof item !== 'string' || item.length > MAX_STOP_LENGTH)) {
    throw new InvalidRequestError(`ERNIE v1 stop sequences are at most ${MAX_STOP_LENGTH} characters long.`, 'stop');
  }
  return list;
}

/**
 * ERNIE v1 has a JSON mode (`response_format: "json_object"`) and no schemas: `json_schema` is the closest it has,
 * JSON mode with the schema given to the model in `system` (schemaInstruction). The answer is JSON, but ERNIE does not
 * enforce the schema as OpenAI's strict mode does; clients that validate (LangChain, the AI SDK) still do.
 */
function responseFormat(type: string): 'text' | 'json_object' {
  return type === 'text' ? 'text' : 'json_object';
}

/** The instruction that carries a json_schema response format to ERNIE (appended to `system`). */
function schemaInstruction(format: ChatCompletionRequest['response_format']): string | undefined {
  if (format?.type !== 'json_schema') return undefined;
  const { name, description, schema } = format.json_schema ?? { name: 'answer' };
  const about = description ? ` (${description})` : '';
  return `Answer with one JSON object only, "${name}"${about}, valid against this JSON Schema:\n${JSON.stringify(schema ?? {})}`;
}

function functionsOf(request: ChatCompletionRequest): Pick<ErnieChatRequest, 'functions' | 'tool_choice'> {
  const tools = request.tools ?? [];
  const choice = request.tool_choice;
  if (tools.length === 0) {
    if (choice === 'required' || (typeof choice === 'object' && choice !== null)) {
      throw new InvalidRequestError('tool_choice needs tools.', 'tool_choice');
    }
    return {};
  }
  const functions = tools.map((tool, i) => {
    if (tool.type !== 'function') {
      throw new InvalidRequestError(`ERNIE v1 supports function tools only.`, `tools[${i}].type`);
    }
    const { name, description, parameters } = tool.function;
    return { name, ...(description === undefined ? {} : { description }), ...(parameters ? { parameters } : {}) };
  });
  if (choice === undefined || choice === 'auto') return { functions };
  // A model cannot call what it is not given.
  if (choice === 'none') return {};
  // v1 can force one named function but has no "call any": `required` works only when there is one.
  if (choice === 'required') {
    if (functions.length === 1)
      return { functions, tool_choice: { type: 'function', function: { name: functions[0].name } } };
    throw new InvalidRequestError(
      "ERNIE v1 cannot force 'some' function: use tool_choice 'required' with a single tool, or name the function.",
      'tool_choice',
    );
  }
  if (choice.type === 'function') {
    return { functions, tool_choice: { type: 'function', function: { name: choice.function.name } } };
  }
  throw new InvalidRequestError(`ERNIE v1 does not support tool_choice '${echo(choice.type)}'.`, 'tool_choice');
}

// ---------------------------------------------------------------------------------------------------------
// ERNIE v1 answer → OpenAI (spec §4.3)
// ---------------------------------------------------------------------------------------------------------

/** Safety flags from 2 up mean the answer may not be shown or the conversation must stop. */
const FLAG_CONTENT_FILTER = 2;

export function toFinishReason(response: ErnieChatResponse): FinishReason {
  if (response.need_clear_history === true || response.finish_reason === 'content_filter') return 'content_filter';
  if ((response.flag ?? 0) >= FLAG_CONTENT_FILTER) return 'content_filter';
  if (response.function_call || response.finish_reason === 'function_call') return 'tool_calls';
  if (response.finish_reason === 'length') return 'length';
  if (response.finish_reason === 'normal' || response.finish_reason === 'stop') return 'stop';
  return response.is_truncated === true ? 'length' : 'stop';
}

export function toUsage(usage: ErnieUsage): Usage {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
  };
}

/** The ERNIE id made recognisable and unique (spec §4.1). */
export function toCompletionId(ernieId: string | undefined): string {
  return `chatcmpl-${ernieId || randomUUID()}`;
}

/** v1 has one call per turn and no call ids: the answer's own id makes a stable, unique one. */
function toToolCall(call: ErnieFunctionCall, ernieId: string | undefined): ToolCall {
  return {
    id: `call_${ernieId || randomUUID().replaceAll('-', '')}`,
    type: 'function',
    function: { name: call.name, arguments: call.arguments },
  };
}

export function fromErnieResponse(response: ErnieChatResponse, model: string): ChatCompletion {
  const message: ChatCompletion['choices'][number]['message'] = response.function_call
    ? { role: 'assistant', content: null, refusal: null, tool_calls: [toToolCall(response.function_call, response.id)] }
    : { role: 'assistant', content: response.result ?? '', refusal: null };
  const completion: ChatCompletion = {
    id: toCompletionId(response.id),
    object: 'chat.completion',
    created: response.created,
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: toFinishReason(response) }],
  };
  if (response.usage) completion.usage = toUsage(response.usage);
  return completion;
}

export interface ErnieStreamState {
  /** Echoed on every chunk: the model name of the request. */
  readonly model: string;
  readonly includeUsage: boolean;
  /** Fixed by the first event: ERNIE's own `created` moves on every event. */
  id?: string;
  created?: number;
  ernieId?: string;
  roleSent: boolean;
  finished: boolean;
}

export function createErnieStreamState(request: ChatCompletionRequest): ErnieStreamState {
  return {
    model: request.model,
    includeUsage: request.stream_options?.include_usage === true,
    roleSent: false,
    finished: false,
  };
}

/**
 * The chunks for one stream event: its text (the first carrying the role), a function call if any, and on
 * `is_end` the finish chunk plus, when asked for, the usage chunk with `choices: []`. Events after the end are
 * ignored.
 */
export function fromErnieStreamEvent(event: ErnieChatStreamEvent, state: ErnieStreamState): ChatCompletionChunk[] {
  if (state.finished) return [];
  if (state.id === undefined) {
    state.ernieId = event.id;
    state.id = toCompletionId(event.id);
    state.created = event.created;
  }
  const chunks: ChatCompletionChunk[] = [];
  if (event.result) chunks.push(chunk(state, withRole(state, { content: event.result }), null));
  if (event.function_call) {
    const call = toToolCall(event.function_call, state.ernieId);
    chunks.push(
      chunk(
        state,
        withRole(state, { tool_calls: [{ index: 0, id: call.id, type: 'function', function: call.function }] }),
        null,
      ),
    );
  }
  if (event.is_end) {
    state.finished = true;
    chunks.push(chunk(state, withRole(state, {}), toFinishReason(event)));
    if (state.includeUsage && event.usage) {
      chunks.push({ ...chunkBase(state), choices: [], usage: toUsage(event.usage) });
    }
  }
  return chunks;
}

function withRole(state: ErnieStreamState, delta: ChunkChoice['delta']): ChunkChoice['delta'] {
  if (state.roleSent) return delta;
  state.roleSent = true;
  return { role: 'assistant', ...delta };
}

function chunkBase(state: ErnieStreamState): Pick<ChatCompletionChunk, 'id' | 'object' | 'created' | 'model'> {
  return {
    id: state.id as string,
    object: 'chat.completion.chunk',
    created: state.created as number,
    model: state.model,
  };
}

function chunk(
  state: ErnieStreamState,
  delta: ChunkChoice['delta'],
  finishReason: FinishReason | null,
): ChatCompletionChunk {
  return {
    ...chunkBase(state),
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    usage: null,
  };
}

/** Parses one stream `data:` payload: an event, or an error body (the stream's only payload when it failed). */
export function parseErnieStreamData(data: string, provider: string): ErnieChatStreamEvent | ErnieErrorBody {
  try {
    const parsed = JSON.parse(data) as unknown;
    if (parsed !== null && typeof parsed === 'object') return parsed as ErnieChatStreamEvent | ErnieErrorBody;
  } catch {
    // Reported below.
  }
  throw upstreamErrors.invalidResponse(provider, 'the stream carried an event that is not a JSON object');
}

/**
 * Maps SSE events to chunks until `is_end`. An error body mid-stream or an end without `is_end` is thrown as
 * `streamInterrupted`; the gateway, not this iterable, writes `[DONE]`.
 */
export async function* readErnieChunks(
  events: AsyncIterable<SseEvent>,
  state: ErnieStreamState,
  provider: string,
): AsyncGenerator<ChatCompletionChunk> {
  try {
    for await (const event of events) {
      const payload = parseErnieStreamData(event.data, provider);
      if (isErnieError(payload)) {
        throw upstreamErrors.streamInterrupted(provider, `${payload.error_msg} (${payload.error_code})`);
      }
      yield* fromErnieStreamEvent(payload, state);
      if (state.finished) return;
    }
  } catch (error) {
    if ((error as { status?: unknown }).status !== undefined) throw error;
    throw upstreamErrors.streamInterrupted(provider, 'the connection to the provider was lost mid-stream');
  }
  throw upstreamErrors.streamInterrupted(provider);
}

// ---------------------------------------------------------------------------------------------------------
// Errors (spec §2a error table, §4.6)
// ---------------------------------------------------------------------------------------------------------

export function isErnieError(body: unknown): body is ErnieErrorBody {
  return body !== null && typeof body === 'object' && typeof (body as ErnieErrorBody).error_code === 'number';
}

/** Answered when the access token is missing, invalid or expired: refresh it and replay once. */
export const ERNIE_TOKEN_ERROR_CODES: ReadonlySet<number> = new Set([100, 110, 111]);

const RATE_LIMITED = new Set([18, 336501, 336502]);
const QUOTA_EXHAUSTED = new Set([17, 19]);
const OVERLOADED = new Set([2, 4, 336100]);
const BAD_REQUEST = new Set([336001, 336002, 336003, 336006, 336101, 336104, 336105]);
const CONTEXT_TOO_LONG = new Set([336007, 336103]);
const MODEL_NOT_FOUND = new Set([3, 336005]);
const PERMISSION_DENIED = new Set([6, 336004]);
const AUTH_FAILED = new Set([13, 14, ...ERNIE_TOKEN_ERROR_CODES]);

/**
 * Maps an ERNIE `{error_code, error_msg}` body (spec §4.6). The message keeps Baidu's text and code, e.g.
 * "ernie: Open api qps request limit reached (18)". Codes not in the spec's table count as server errors
 * (retryable 500), like the internal-error codes.
 */
export function toGatewayErrorFromErnie(provider: string, error: ErnieErrorBody): GatewayError {
  const code = error.error_code;
  const message = `${error.error_msg || 'error'} (${code})`;
  if (RATE_LIMITED.has(code)) return upstreamErrors.rateLimited(provider, message);
  if (QUOTA_EXHAUSTED.has(code)) return upstreamErrors.insufficientQuota(provider, message);
  if (OVERLOADED.has(code)) return upstreamErrors.overloaded(provider, message);
  if (AUTH_FAILED.has(code)) return upstreamErrors.authFailed(provider);
  if (CONTEXT_TOO_LONG.has(code)) return upstreamErrors.contextLengthExceeded(provider, message);
  if (BAD_REQUEST.has(code)) return upstreamErrors.badRequest(provider, message, code === 336006 ? 'messages' : null);
  if (MODEL_NOT_FOUND.has(code)) return upstreamErrors.modelNotFound(provider, message);
  if (PERMISSION_DENIED.has(code)) return upstreamErrors.permissionDenied(provider, message);
  // 1, 15, 336000, 500000 and codes the spec does not list.
  return upstreamErrors.serverError(provider, message);
}

/** A non-2xx answer from the chat endpoint: an ERNIE body if it has one, else judged by its status. */
export function toGatewayErrorFromErnieHttp(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  return isErnieError(body)
    ? toGatewayErrorFromErnie(provider, body)
    : toGatewayErrorFromOpenAi(provider, status, body, headers);
}
