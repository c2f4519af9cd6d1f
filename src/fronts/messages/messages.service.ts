/**
 * The Messages front's requests through the shared pipeline. On a deployment whose provider speaks Messages natively
 * (Anthropic) the client's body goes upstream as sent, but for the model name, with its anthropic-version and
 * anthropic-beta headers, and the upstream's bytes come back unchanged (events forwarded as they came) but for the
 * model name, which is the one the client asked for (as in a translated answer); on any other provider the request
 * is translated to chat and the answer back (messages.translator.ts, messages.stream.ts).
 * Either way usage is read for accounting, limits, metrics and the log.
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ChatCompletionRequest } from '../../common/openai.types.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import type { StreamingExchange, GatewayCall, StreamFold, TraceFacts } from '../../pipeline/exchange.js';
import { GatewayPipeline } from '../../pipeline/gateway-pipeline.js';
import { type NativeEvent, type NativeRequest, speaksNatively } from '../../providers/llm-provider.js';
import type { AttemptCall, Routed, StreamOpener } from '../../routing/router.service.js';
import type { Deployment } from '../../routing/model-router.js';
import { chatFor, REASONING_HEADER } from '../../pipeline/reasoning.js';
import type { TokenUsage } from '../../usage/pricing.js';
import { MessageAssembler } from './messages.assembler.js';
import { MessagesStreamTranslator } from './messages.stream.js';
import {
  estimateInputTokens,
  type MessageMeta,
  type MessagesTranslation,
  replayMessage,
  toChatRequest,
  toMessage,
} from './messages.translator.js';
import {
  type AnthropicMessage,
  type CountTokensRequest,
  EXTRA_CONTENT_BLOCK_PREFIX,
  type MessagesRequest,
  type MessagesStreamEvent,
  type MessagesTokensCount,
  type MessagesUsage,
  TOOL_USE_ID_ENVELOPE_PREFIX,
} from './messages.types.js';

/** A whole answer: the Message, and the upstream's own text when it came natively (sent to the client as is). */
export interface MessagesAnswer {
  message: AnthropicMessage;
  text?: string;
}

/** One stream event: its name and JSON text as sent, and the object when the gateway made it. */
export interface MessagesItem {
  event: string;
  data: string;
  parsed?: MessagesStreamEvent;
}

/** What the client sent besides the body that a native upstream needs. */
export interface MessagesClientFacts {
  /** The client's JSON text, sent as is to a native upstream when the model name is unchanged. */
  rawBody: string;
  /** The client's anthropic-version and anthropic-beta headers, forwarded unchanged. */
  protocolHeaders: Readonly<Record<string, string>>;
}

export interface MessagesResult<T> {
  result: T;
  headers: Record<string, string>;
}

@Injectable()
export class MessagesService {
  private readonly serverTools: 'drop' | 'reject';

  constructor(
    private readonly pipeline: GatewayPipeline,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.serverTools = config.fronts.messages.serverTools;
  }

  async create(
    request: MessagesRequest,
    client: MessagesClientFacts,
    call: GatewayCall,
  ): Promise<MessagesResult<MessagesAnswer>> {
    const exchange = new MessagesExchange(request, client, this.serverTools);
    const { answer, headers } = await this.pipeline.complete(exchange, call);
    return { result: answer, headers };
  }

  async stream(
    request: MessagesRequest,
    client: MessagesClientFacts,
    call: GatewayCall,
  ): Promise<MessagesResult<AsyncIterable<MessagesItem>>> {
    const exchange = new MessagesExchange(request, client, this.serverTools);
    const { items, headers } = await this.pipeline.stream(exchange, call);
    return { result: items, headers };
  }

  /**
   * `count_tokens`: Anthropic's own count where the model's deployment is Anthropic, else the documented estimate
   * (`x-gateway-token-count: estimated`). Access is checked; nothing is metered.
   */
  async countTokens(
    request: CountTokensRequest,
    client: MessagesClientFacts,
    call: GatewayCall,
  ): Promise<MessagesResult<MessagesTokensCount>> {
    this.pipeline.authorize(request.model, call);
    const headers: Record<string, string> = {};
    const routed: Routed<MessagesTokensCount> = await this.pipeline.router.completeWith(
      request.model,
      call.context,
      async (deployment, context) => {
        if (!speaksNatively(deployment.provider, 'messages')) {
          headers['x-gateway-token-count'] = 'estimated';
          return { input_tokens: estimateInputTokens(request) };
        }
        const answer = await deployment.provider.forward(
          'messages',
          {
            operation: 'count_tokens',
            body: nativeBody(request, client.rawBody, deployment.model),
            headers: client.protocolHeaders,
          },
          context,
        );
        return answer.data as MessagesTokensCount;
      },
    );
    return { result: routed.result, headers };
  }
}

/** The body for a native upstream: the client's bytes, or a copy with the upstream model name. */
function nativeBody(request: CountTokensRequest, rawBody: string, model: string): string {
  return request.model === model ? rawBody : JSON.stringify({ ...request, model });
}

/** Anthropic's usage as the gateway counts it: `input_tokens` leaves the cache out, the internal count has it in. */
export function messagesTokenUsage(usage: Partial<MessagesUsage> | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  const cached = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const counted: TokenUsage = {
    prompt: (usage.input_tokens ?? 0) + cached + cacheWrite,
    completion: usage.output_tokens ?? 0,
    estimated: false,
  };
  if (cached) counted.cached = cached;
  if (cacheWrite) counted.cacheWrite = cacheWrite;
  const thinking = usage.output_tokens_details?.thinking_tokens;
  if (thinking) counted.reasoning = thinking;
  return counted;
}

function itemOf(event: MessagesStreamEvent): MessagesItem {
  return { event: event.type, data: JSON.stringify(event), parsed: event };
}

const OUTPUT_EVENTS: ReadonlySet<string> = new Set(['content_block_start', 'content_block_delta']);

class MessagesExchange implements StreamingExchange<MessagesAnswer, MessagesItem> {
  readonly front = 'messages';
  readonly model: string;
  readonly maxOutputTokens: number;
  readonly traceInput: unknown;
  readonly cache: { material: Record<string, unknown>; deterministic: boolean };
  private readonly meta: MessageMeta;
  private translation: MessagesTranslation | undefined;
  /** Signatures of another provider carried in the history must never reach Anthropic as they are. */
  private readonly carriesForeignState: boolean;

  constructor(
    private readonly request: MessagesRequest,
    private readonly client: MessagesClientFacts,
    private readonly serverTools: 'drop' | 'reject',
  ) {
    this.model = request.model;
    this.maxOutputTokens = request.max_tokens;
    this.traceInput = request.messages;
    this.meta = { id: `msg_${randomUUID().replace(/-/g, '')}`, model: request.model };
    const beta = client.protocolHeaders['anthropic-beta'];
    this.cache = {
      material: (beta === undefined ? request : { ...request, 'anthropic-beta': beta }) as Record<string, unknown>,
      deterministic: request.temperature === 0,
    };
    this.carriesForeignState =
      client.rawBody.includes(TOOL_USE_ID_ENVELOPE_PREFIX) || client.rawBody.includes(`"${EXTRA_CONTENT_BLOCK_PREFIX}`);
  }

  /** The request as chat, made once, for the deployments that need it. */
  private chat(): ChatCompletionRequest {
    this.translation ??= toChatRequest(this.request, { model: this.request.model, serverTools: this.serverTools });
    return this.translation.chat;
  }

  /** Names the server tools a translated request left out, and says when reasoning knobs were. */
  addHeaders(headers: Record<string, string>): void {
    const dropped = this.translated && this.translation?.droppedTools;
    if (dropped && dropped.length > 0) headers['x-gateway-dropped-tools'] = dropped.join(', ');
    if (this.reasoningIgnored) headers[REASONING_HEADER] = 'ignored';
  }

  private native(model: string): NativeRequest {
    return {
      operation: 'create',
      body: nativeBody(this.request, this.client.rawBody, model),
      headers: this.client.protocolHeaders,
    };
  }

  /** Whether the serving attempt was translated, and whether its deployment could not take the reasoning knobs. */
  private translated = false;
  private reasoningIgnored = false;

  private servedNatively(): void {
    this.translated = false;
    this.reasoningIgnored = false;
  }

  /** The chat request for a translated attempt on this deployment. */
  private prepare(chat: ChatCompletionRequest, deployment: Deployment): ChatCompletionRequest {
    const prepared = chatFor(chat, deployment);
    this.translated = true;
    this.reasoningIgnored = prepared.reasoningIgnored;
    return prepared.request;
  }

  readonly call: AttemptCall<MessagesAnswer> = async (deployment, context) => {
    const provider = deployment.provider;
    if (speaksNatively(provider, 'messages') && !this.carriesForeignState) {
      this.servedNatively();
      const answer = await provider.forward('messages', this.native(deployment.model), context);
      const message = answer.data as AnthropicMessage;
      if (deployment.model === this.model) return { message, text: answer.text };
      message.model = this.model;
      return { message };
    }
    const completion = await provider.chat(this.prepare(this.chat(), deployment), context);
    return { message: toMessage(completion, this.meta) };
  };

  readonly opener: StreamOpener<MessagesItem> = {
    open: async (deployment, context) => {
      const provider = deployment.provider;
      if (speaksNatively(provider, 'messages') && !this.carriesForeignState) {
        this.servedNatively();
        const events = await provider.forwardStream('messages', this.native(deployment.model), context);
        return nativeItems(events, deployment.model === this.model ? undefined : this.model);
      }
      const chat = this.chat();
      const chunks = await provider.chatStream(
        this.prepare({ ...chat, stream: true, stream_options: { include_usage: true } }, deployment),
        context,
      );
      return translatedItems(chunks, new MessagesStreamTranslator(this.meta, estimateInputTokens(this.request)));
    },
    hasOutput: (item) => OUTPUT_EVENTS.has(item.event),
  };

  usageOf(answer: MessagesAnswer): TokenUsage | undefined {
    return messagesTokenUsage(answer.message.usage);
  }

  complete(answer: MessagesAnswer): boolean {
    return answer.message.stop_reason !== null;
  }

  traceOf(answer: MessagesAnswer): TraceFacts {
    return traceFacts(answer.message);
  }

  serialize(answer: MessagesAnswer): string {
    return answer.text ?? JSON.stringify(answer.message);
  }

  parse(text: string): MessagesAnswer {
    return { message: JSON.parse(text) as AnthropicMessage, text };
  }

  fold(assemble: boolean): StreamFold<MessagesAnswer, MessagesItem> {
    return new MessagesFold(assemble);
  }

  replay(answer: MessagesAnswer): MessagesItem[] {
    return replayMessage(answer.message).map(itemOf);
  }
}

function traceFacts(message: AnthropicMessage): TraceFacts {
  return {
    responseModel: message.model,
    finishReasons: message.stop_reason ? [message.stop_reason] : [],
    output: () => message.content,
  };
}

/**
 * A native stream's events as items, unchanged but for the model name of message_start when the public name differs
 * (`rename`): clients compare it with the model they asked for (Claude Code drops thinking blocks of another model).
 */
async function* nativeItems(
  events: AsyncIterable<NativeEvent>,
  rename: string | undefined,
): AsyncGenerator<MessagesItem> {
  for await (const event of events) {
    if (rename !== undefined && event.event === 'message_start') {
      const parsed = JSON.parse(event.data) as Extract<MessagesStreamEvent, { type: 'message_start' }>;
      parsed.message.model = rename;
      yield itemOf(parsed);
    } else {
      yield { event: event.event, data: event.data };
    }
  }
}

/** A chat stream as Messages events, from message_start to message_stop. */
async function* translatedItems(
  chunks: AsyncIterable<Parameters<MessagesStreamTranslator['push']>[0]>,
  translator: MessagesStreamTranslator,
): AsyncGenerator<MessagesItem> {
  for (const event of translator.start()) yield itemOf(event);
  for await (const chunk of chunks) for (const event of translator.push(chunk)) yield itemOf(event);
  for (const event of translator.finish()) yield itemOf(event);
}

/**
 * Reads usage from message_start and message_delta (their counts are cumulative: a later value replaces an earlier
 * one); the other events are parsed only when the stream may be cached and must be assembled.
 */
class MessagesFold implements StreamFold<MessagesAnswer, MessagesItem> {
  private counts: Partial<MessagesUsage> | undefined;
  private readonly assembler: MessageAssembler | undefined;
  outputChars = 0;

  constructor(assemble: boolean) {
    this.assembler = assemble ? new MessageAssembler() : undefined;
  }

  add(item: MessagesItem): boolean {
    const kind = item.event;
    if (kind === 'content_block_delta') this.outputChars += item.data.length;
    if (kind === 'message_start' || kind === 'message_delta' || this.assembler) {
      const event = item.parsed ?? (JSON.parse(item.data) as MessagesStreamEvent);
      if (event.type === 'message_start') this.counts = { ...event.message.usage };
      else if (event.type === 'message_delta') {
        const usage = event.usage;
        const counts = (this.counts ??= {});
        counts.output_tokens = usage.output_tokens;
        if (usage.input_tokens != null) counts.input_tokens = usage.input_tokens;
        if (usage.cache_read_input_tokens != null) counts.cache_read_input_tokens = usage.cache_read_input_tokens;
        if (usage.cache_creation_input_tokens != null) {
          counts.cache_creation_input_tokens = usage.cache_creation_input_tokens;
        }
        if (usage.output_tokens_details) counts.output_tokens_details = usage.output_tokens_details;
      }
      this.assembler?.add(event);
    }
    return true;
  }

  usage(): TokenUsage | undefined {
    return messagesTokenUsage(this.counts);
  }

  answer(): MessagesAnswer | undefined {
    const message = this.assembler?.result();
    return message ? { message } : undefined;
  }

  trace(): TraceFacts {
    const message = this.assembler?.result();
    return message ? traceFacts(message) : { finishReasons: [], output: () => [] };
  }
}
