/**
 * The Responses API as the OpenAI simulator answers it: request checks, the Response object, its stream events,
 * stored responses for `previous_response_id` and GET/DELETE, and sealed reasoning items (`encrypted_content`)
 * that must come back unchanged on a continuation.
 *
 * Follows https://platform.openai.com/docs/api-reference/responses/create,
 * https://platform.openai.com/docs/api-reference/responses/get, https://platform.openai.com/docs/api-reference/responses/delete,
 * https://platform.openai.com/docs/api-reference/responses-streaming and https://platform.openai.com/docs/guides/reasoning
 * (encrypted reasoning items with `store: false`); error bodies as OpenAI returns them in openai/codex#8119 (invalid
 * encrypted content), continuedev/continue#10018 (a function call without its reasoning item), can1357/oh-my-pi#41
 * (an item not persisted with `store: false`) and maximhq/bifrost#2441 (previous_response_not_found).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SimError } from './openai-vendors.js';
import {
  type AnswerPlan,
  countWords,
  isReasoningModelName,
  parseDirectives,
  planAnswer,
  type PromptPrefixCache,
  type Reasoning,
  reasoningFor,
  simId,
  splitEvery,
  splitIntoPieces,
  type ToolChoiceMode,
  type ToolOffer,
} from './openai-sim-common.js';
import { isArray, isObject, type Json } from './sim-json.js';

const TOKENS_PER_ITEM = 3;
const ARGUMENT_FRAGMENT_CHARS = 4;
const MAX_STORED_RESPONSES = 1_000;
const WEB_SEARCH_TOOL_TYPES = new Set(['web_search', 'web_search_preview', 'web_search_2025_08_26']);
const FERNET_VERSION = 0x80;
const HMAC_BYTES = 32;

/** What the simulator decided for a Responses request. */
export type ResponsesOutcome =
  | { kind: 'error'; error: SimError }
  /** A refusal whose body is already in its final shape (Azure's content filter). */
  | { kind: 'refusal'; status: number; body: unknown }
  | { kind: 'response'; response: Json; events: Json[] };

export interface ResponsesOptions {
  /** The model name the answer reports (Azure: the deployment's model). */
  model?: string;
  /** Azure's content filtering: SIM_FILTER_PROMPT refuses, SIM_FILTER_OUTPUT stops the answer. */
  contentFilter?: { promptRefusal: () => unknown };
}

interface StoredResponse {
  response: Json;
  /** Every item of the conversation so far: previous context, this request's input, this response's output. */
  context: Json[];
}

/**
 * Seals reasoning items like OpenAI's Fernet tokens (version byte, timestamp, payload, HMAC), so that a client
 * gets an opaque `gAAAA…` string and the simulator can tell an untouched one from a changed one.
 */
class ReasoningSealer {
  constructor(private readonly secret: Buffer) {}

  seal(payload: Json, createdAt: number): string {
    const header = Buffer.alloc(9);
    header.writeUInt8(FERNET_VERSION, 0);
    header.writeBigUInt64BE(BigInt(createdAt), 1);
    const body = Buffer.concat([header, Buffer.from(JSON.stringify(payload), 'utf8')]);
    return Buffer.concat([body, this.mac(body)]).toString('base64');
  }

  open(token: string): Json | undefined {
    const bytes = Buffer.from(token, 'base64');
    if (bytes.length <= 9 + HMAC_BYTES || bytes.readUInt8(0) !== FERNET_VERSION) return undefined;
    const body = bytes.subarray(0, bytes.length - HMAC_BYTES);
    const mac = bytes.subarray(bytes.length - HMAC_BYTES);
    if (!timingSafeEqual(mac, this.mac(body))) return undefined;
    try {
      const payload: unknown = JSON.parse(body.subarray(9).toString('utf8'));
      return isObject(payload) ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(body).digest();
  }
}

/** One simulator instance's Responses state: stored responses, sealed reasoning, issued function calls. */
export class ResponsesEngine {
  private readonly stored = new Map<string, StoredResponse>();
  private readonly storedItemIds = new Set<string>();
  /** Function-call item ids issued together with a reasoning item, and that item's id. */
  private readonly reasoningOfCall = new Map<string, string>();
  private readonly sealer: ReasoningSealer;
  private counter = 0;

  constructor(
    private readonly name: string,
    private readonly promptCache: PromptPrefixCache,
    secret: Buffer,
  ) {
    this.sealer = new ReasoningSealer(secret);
  }

  /** Forgets stored responses and issued items. */
  reset(): void {
    this.stored.clear();
    this.storedItemIds.clear();
    this.reasoningOfCall.clear();
  }

  retrieve(id: string): Json | undefined {
    return this.stored.get(id)?.response;
  }

  delete(id: string): boolean {
    const stored = this.stored.get(id);
    if (!stored) return false;
    this.stored.delete(id);
    for (const item of stored.response.output as Json[]) this.storedItemIds.delete(String(item.id));
    return true;
  }

  create(request: Json, options: ResponsesOptions = {}): ResponsesOutcome {
    const counter = ++this.counter;
    const id = (prefix: string) => `${prefix}_${simId(`${this.name}:${counter}:${prefix}`, 48)}`;
    const previousId = request.previous_response_id;
    const previous = typeof previousId === 'string' ? this.stored.get(previousId) : undefined;
    if (typeof previousId === 'string' && !previous) {
      return error(
        400,
        `Previous response with id '${previousId}' not found.`,
        'previous_response_id',
        'previous_response_not_found',
      );
    }
    const input = inputItems(request.input);
    if (!input) {
      return error(
        400,
        `Invalid type for 'input': expected one of a string or array of input items, but got ${describeType(request.input)} instead.`,
        'input',
        'invalid_type',
      );
    }
    const context = [...(previous?.context ?? []), ...input];
    const continuationProblem = this.continuationProblem(input, context);
    if (continuationProblem) return continuationProblem;

    const model = options.model ?? String(request.model);
    const conversation = conversationOf(context);
    const directives = conversation.lastIsUser ? parseDirectives(conversation.userText) : undefined;
    if (options.contentFilter && directives?.filterPrompt) {
      return { kind: 'refusal', status: 400, body: options.contentFilter.promptRefusal() };
    }
    const plan = planAnswer({
      model,
      ...conversation,
      tools: toolOffers(request.tools),
      toolChoice: toolChoiceOf(request.tool_choice),
      jsonSchema: jsonSchemaOf(request.text),
    });
    if (plan.kind === 'fail' && request.stream !== true)
      return error(500, plan.message, null, 'server_error', 'server_error');

    const createdAt = Math.floor(Date.now() / 1000);
    const reasoning = reasoningOf(request, model, conversation.toolOutput ?? conversation.userText);
    const limit = typeof request.max_output_tokens === 'number' ? request.max_output_tokens : undefined;
    const filtered = Boolean(options.contentFilter && directives?.filterOutput);
    const answer =
      plan.kind === 'fail' ? undefined : this.answerItems(plan, reasoning, request, id, createdAt, limit, filtered);
    const segments = promptSegments(request.instructions, context);
    const cachedTokens = this.promptCache.lookupAndRemember(model, segments, lastUserIndex(segments));
    const inputTokens = segments.reduce((sum, segment) => sum + segment.tokens, 0);
    const outputTokens = answer?.outputTokens ?? 0;
    const status = plan.kind === 'fail' ? 'failed' : answer?.incompleteReason ? 'incomplete' : 'completed';
    const response: Json = {
      ...responseShell(request, id('resp'), createdAt, model),
      status,
      completed_at: status === 'completed' ? createdAt : null,
      error: plan.kind === 'fail' ? { code: 'server_error', message: plan.message } : null,
      incomplete_details: answer?.incompleteReason ? { reason: answer.incompleteReason } : null,
      output: answer?.items ?? [],
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: cachedTokens, cache_write_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: answer?.reasoningTokens ?? 0 },
        total_tokens: inputTokens + outputTokens,
      },
    };
    if (request.store !== false && plan.kind !== 'fail')
      this.remember(response, [...context, ...(answer?.items ?? [])]);
    return {
      kind: 'response',
      response,
      events: request.stream === true ? streamEvents(response, answer?.pieces ?? []) : [],
    };
  }

  /** The refusal OpenAI sends for reasoning items that were changed, lost or left out of a continuation. */
  private continuationProblem(input: Json[], context: Json[]): ResponsesOutcome | undefined {
    const reasoningIds = new Set<string>();
    for (const item of context) {
      if (item.type === 'reasoning' && typeof item.id === 'string') reasoningIds.add(item.id);
    }
    for (const item of input) {
      if (item.type === 'reasoning' && typeof item.id === 'string') {
        const sealed = item.encrypted_content;
        if (typeof sealed === 'string') {
          if (this.sealer.open(sealed)?.id !== item.id) {
            return error(
              400,
              `The encrypted content ${abbreviate(sealed)} could not be verified.`,
              null,
              'invalid_encrypted_content',
            );
          }
        } else if (!this.storedItemIds.has(item.id)) {
          return error(
            404,
            `Item with id '${item.id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
            'input',
          );
        }
      }
      if (item.type === 'function_call' && typeof item.id === 'string') {
        const reasoningId = this.reasoningOfCall.get(item.id);
        if (reasoningId && !reasoningIds.has(reasoningId)) {
          return error(
            400,
            `Item '${item.id}' of type 'function_call' was provided without its required 'reasoning' item: '${reasoningId}'.`,
            'input',
          );
        }
      }
    }
    return undefined;
  }

  private answerItems(
    plan: Exclude<AnswerPlan, { kind: 'fail' }>,
    reasoning: { reasoning: Reasoning; summary: boolean } | undefined,
    request: Json,
    id: (prefix: string) => string,
    createdAt: number,
    limit: number | undefined,
    filtered: boolean,
  ): AnswerItems {
    const items: Json[] = [];
    const pieces: string[][] = [];
    const reasoningTokens = Math.min(reasoning?.reasoning.tokens ?? 0, limit ?? Infinity);
    const budget = (limit ?? Infinity) - reasoningTokens;
    let incompleteReason: string | undefined =
      reasoning && limit !== undefined && reasoning.reasoning.tokens >= limit ? 'max_output_tokens' : undefined;
    let reasoningId: string | undefined;
    if (reasoning) {
      reasoningId = id('rs');
      const summaryText = reasoning.reasoning.summary;
      const include = isArray(request.include) ? request.include : [];
      items.push({
        id: reasoningId,
        type: 'reasoning',
        summary: reasoning.summary ? [{ type: 'summary_text', text: summaryText }] : [],
        ...(include.includes('reasoning.encrypted_content') && {
          encrypted_content: this.sealer.seal({ id: reasoningId, summary: summaryText }, createdAt),
        }),
      });
      pieces.push(reasoning.summary ? splitIntoPieces(summaryText) : []);
    }
    let visibleTokens = 0;
    if (plan.kind === 'tool') {
      const fragments = splitEvery(plan.arguments, ARGUMENT_FRAGMENT_CHARS);
      if (fragments.length > budget) incompleteReason = 'max_output_tokens';
      else {
        const callId = id('fc');
        if (reasoningId) this.reasoningOfCall.set(callId, reasoningId);
        items.push({
          id: callId,
          type: 'function_call',
          status: 'completed',
          arguments: plan.arguments,
          call_id: `call_${simId(callId, 24)}`,
          name: plan.name,
          ...(plan.namespace !== undefined && { namespace: plan.namespace }),
        });
        pieces.push(fragments);
        visibleTokens = fragments.length;
      }
    } else {
      if (plan.kind === 'web_search') {
        items.push({
          id: id('ws'),
          type: 'web_search_call',
          status: 'completed',
          action: { type: 'search', query: plan.query, queries: [plan.query] },
        });
        pieces.push([]);
      }
      let textPieces = splitIntoPieces(plan.text);
      if (filtered) {
        textPieces = textPieces.slice(0, Math.floor(textPieces.length / 2));
        incompleteReason = 'content_filter';
      }
      if (textPieces.length > budget) {
        textPieces = textPieces.slice(0, Math.max(0, budget));
        incompleteReason = 'max_output_tokens';
      }
      if (textPieces.length > 0 || !incompleteReason) {
        items.push({
          id: id('msg'),
          type: 'message',
          status: incompleteReason ? 'incomplete' : 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', annotations: [], logprobs: [], text: textPieces.join('') }],
        });
        pieces.push(textPieces);
      }
      visibleTokens = textPieces.length;
    }
    return { items, pieces, reasoningTokens, outputTokens: reasoningTokens + visibleTokens, incompleteReason };
  }

  private remember(response: Json, context: Json[]): void {
    if (this.stored.size >= MAX_STORED_RESPONSES) this.delete(this.stored.keys().next().value as string);
    this.stored.set(String(response.id), { response, context });
    for (const item of response.output as Json[]) this.storedItemIds.add(String(item.id));
  }
}

interface AnswerItems {
  items: Json[];
  /** Stream-sized pieces per output item: summary text, argument fragments or output text. */
  pieces: string[][];
  reasoningTokens: number;
  outputTokens: number;
  incompleteReason?: string;
}

function error(
  status: number,
  message: string,
  param: string | null,
  code: string | null = null,
  type = 'invalid_request_error',
): ResponsesOutcome {
  return { kind: 'error', error: { status, message, type, param, code } };
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** OpenAI quotes a refused encrypted blob by its first and last four characters. */
function abbreviate(token: string): string {
  return token.length > 8 ? `${token.slice(0, 4)}...${token.slice(-4)}` : token;
}

/** The request's input as items; a string is one user message. Undefined when it is neither. */
function inputItems(input: unknown): Json[] | undefined {
  if (input === undefined) return [];
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  if (!isArray(input) || !input.every(isObject)) return undefined;
  return input.map((item) =>
    item.type === undefined && typeof item.role === 'string' ? { type: 'message', ...item } : item,
  );
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!isArray(content)) return '';
  return content
    .filter(isObject)
    .flatMap((part) => (typeof part.text === 'string' ? [part.text] : []))
    .join(' ');
}

/** Text an item contributes to the prompt, for token counting. */
function itemText(item: Json): string {
  switch (item.type) {
    case 'message':
      return contentText(item.content);
    case 'function_call':
      return `${String(item.name)} ${String(item.arguments)}`;
    case 'function_call_output':
      return typeof item.output === 'string' ? item.output : contentText(item.output);
    case 'reasoning':
      return contentText(item.summary);
    default:
      return '';
  }
}

function conversationOf(context: Json[]): { lastIsUser: boolean; toolOutput?: string; userText: string } {
  // System and developer messages (also mid-conversation ones) are instructions, not turns.
  const last = context.findLast(
    (item) => !(item.type === 'message' && (item.role === 'system' || item.role === 'developer')),
  );
  const lastUser = context.findLast((item) => item.type === 'message' && item.role === 'user');
  const userText = lastUser ? contentText(lastUser.content) : '';
  if (last?.type === 'function_call_output') return { lastIsUser: false, toolOutput: itemText(last), userText };
  return { lastIsUser: last === lastUser && last !== undefined, userText };
}

function promptSegments(instructions: unknown, context: Json[]): Array<{ key: string; tokens: number; user: boolean }> {
  const segments = context.map((item) => ({
    key: JSON.stringify(item),
    tokens: countWords(itemText(item)) + TOKENS_PER_ITEM,
    user: item.type === 'message' && item.role === 'user',
  }));
  if (typeof instructions === 'string') {
    segments.unshift({
      key: JSON.stringify({ instructions }),
      tokens: countWords(instructions) + TOKENS_PER_ITEM,
      user: false,
    });
  }
  return segments;
}

function lastUserIndex(segments: Array<{ user: boolean }>): number {
  return Math.max(
    0,
    segments.findLastIndex((segment) => segment.user),
  );
}

function toolOffers(tools: unknown): ToolOffer[] {
  if (!isArray(tools)) return [];
  return tools.filter(isObject).flatMap((tool): ToolOffer[] => {
    if (tool.type === 'function' && typeof tool.name === 'string') return [{ name: tool.name, kind: 'function' }];
    if (typeof tool.type === 'string' && WEB_SEARCH_TOOL_TYPES.has(tool.type))
      return [{ name: tool.type, kind: 'web_search' }];
    if (tool.type === 'namespace' && typeof tool.name === 'string' && isArray(tool.tools)) {
      const namespace = tool.name;
      return tool.tools
        .filter(isObject)
        .flatMap((inner) =>
          typeof inner.name === 'string' ? [{ name: inner.name, kind: 'function' as const, namespace }] : [],
        );
    }
    return [];
  });
}

function toolChoiceOf(choice: unknown): ToolChoiceMode {
  if (choice === 'none' || choice === 'required') return { mode: choice };
  if (isObject(choice)) {
    if (choice.type === 'function' && typeof choice.name === 'string') return { mode: 'function', name: choice.name };
    if (typeof choice.type === 'string' && WEB_SEARCH_TOOL_TYPES.has(choice.type)) return { mode: 'web_search' };
  }
  return { mode: 'auto' };
}

function jsonSchemaOf(text: unknown): unknown {
  if (!isObject(text) || !isObject(text.format) || text.format.type !== 'json_schema') return undefined;
  return text.format.schema ?? {};
}

/** Reasoning for reasoning models, or for any model when the request sets `reasoning` (effort other than none). */
function reasoningOf(
  request: Json,
  model: string,
  subject: string,
): { reasoning: Reasoning; summary: boolean } | undefined {
  const settings = isObject(request.reasoning) ? request.reasoning : undefined;
  if (!settings && !isReasoningModelName(model)) return undefined;
  const effort = typeof settings?.effort === 'string' ? settings.effort : undefined;
  const reasoning = reasoningFor(subject, effort);
  if (!reasoning) return undefined;
  const summary = settings?.summary ?? settings?.generate_summary;
  return { reasoning, summary: typeof summary === 'string' };
}

/** Echoes the request's function tools with the defaults OpenAI fills in. */
function echoTools(tools: unknown): Json[] {
  if (!isArray(tools)) return [];
  return tools.filter(isObject).map((tool) =>
    tool.type === 'function'
      ? {
          ...tool,
          description: tool.description ?? null,
          parameters: tool.parameters ?? null,
          strict: tool.strict ?? true,
        }
      : tool,
  );
}

/** The fields every Response carries, from the request, before the answer is known. */
function responseShell(request: Json, id: string, createdAt: number, model: string): Json {
  const reasoning = isObject(request.reasoning) ? request.reasoning : undefined;
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status: 'in_progress',
    background: false,
    completed_at: null,
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    max_tool_calls: null,
    model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    prompt_cache_key: request.prompt_cache_key ?? null,
    reasoning: {
      effort: reasoning?.effort ?? (isReasoningModelName(model) || reasoning ? 'medium' : null),
      summary: reasoning?.summary ?? null,
    },
    safety_identifier: request.safety_identifier ?? null,
    service_tier: 'default',
    store: request.store !== false,
    temperature: request.temperature ?? 1,
    text: { format: (isObject(request.text) && request.text.format) || { type: 'text' }, verbosity: 'medium' },
    tool_choice: request.tool_choice ?? 'auto',
    tools: echoTools(request.tools),
    top_logprobs: 0,
    top_p: request.top_p ?? 1,
    truncation: request.truncation ?? 'disabled',
    metadata: request.metadata ?? {},
    ...(typeof request.user === 'string' && { user: request.user }),
  };
}

/**
 * The stream for a finished response, in OpenAI's order: created, in_progress, then per output item its added
 * event, part and delta events and done event, then completed, incomplete or failed. `pieces` holds each item's
 * stream-sized pieces.
 */
function streamEvents(response: Json, pieces: string[][]): Json[] {
  const events: Json[] = [];
  const emit = (type: string, fields: Json) => events.push({ type, sequence_number: events.length, ...fields });
  const snapshot: Json = {
    ...response,
    status: 'in_progress',
    completed_at: null,
    error: null,
    incomplete_details: null,
    output: [],
  };
  // Until the response completes its usage is unknown, and the schema has no null for it.
  delete snapshot.usage;
  emit('response.created', { response: snapshot });
  emit('response.in_progress', { response: snapshot });
  (response.output as Json[]).forEach((item, outputIndex) => {
    const itemId = String(item.id);
    const parts = pieces[outputIndex] ?? [];
    const at = { item_id: itemId, output_index: outputIndex };
    switch (item.type) {
      case 'reasoning': {
        emit('response.output_item.added', { output_index: outputIndex, item: { ...item, summary: [] } });
        const summaries = item.summary as Json[];
        summaries.forEach((summary, summaryIndex) => {
          const text = String(summary.text);
          emit('response.reasoning_summary_part.added', {
            ...at,
            summary_index: summaryIndex,
            part: { type: 'summary_text', text: '' },
          });
          for (const delta of parts)
            emit('response.reasoning_summary_text.delta', { ...at, summary_index: summaryIndex, delta });
          emit('response.reasoning_summary_text.done', { ...at, summary_index: summaryIndex, text });
          emit('response.reasoning_summary_part.done', {
            ...at,
            summary_index: summaryIndex,
            part: { type: 'summary_text', text },
          });
        });
        break;
      }
      case 'function_call': {
        emit('response.output_item.added', {
          output_index: outputIndex,
          item: { ...item, status: 'in_progress', arguments: '' },
        });
        for (const delta of parts) emit('response.function_call_arguments.delta', { ...at, delta });
        emit('response.function_call_arguments.done', { ...at, name: item.name, arguments: item.arguments });
        break;
      }
      case 'web_search_call': {
        emit('response.output_item.added', { output_index: outputIndex, item: { ...item, status: 'in_progress' } });
        emit('response.web_search_call.in_progress', at);
        emit('response.web_search_call.searching', at);
        emit('response.web_search_call.completed', at);
        break;
      }
      default: {
        const part = (item.content as Json[])[0];
        emit('response.output_item.added', {
          output_index: outputIndex,
          item: { ...item, status: 'in_progress', content: [] },
        });
        const textAt = { ...at, content_index: 0 };
        emit('response.content_part.added', { ...textAt, part: { ...part, text: '' } });
        for (const delta of parts) emit('response.output_text.delta', { ...textAt, delta, logprobs: [] });
        emit('response.output_text.done', { ...textAt, text: part.text, logprobs: [] });
        emit('response.content_part.done', { ...textAt, part });
      }
    }
    emit('response.output_item.done', { output_index: outputIndex, item });
  });
  const terminal = { completed: 'response.completed', incomplete: 'response.incomplete', failed: 'response.failed' }[
    String(response.status) as 'completed' | 'incomplete' | 'failed'
  ];
  emit(terminal, { response });
  return events;
}

/** The `error` event a Responses stream carries when it breaks off. */
export function responsesErrorEvent(sequenceNumber: number, message: string): Json {
  return { type: 'error', code: 'server_error', message, param: null, sequence_number: sequenceNumber };
}
