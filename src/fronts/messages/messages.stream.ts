/**
 * Internal chunk stream → Messages API stream events (https://platform.claude.com/docs/en/build-with-claude/streaming):
 * message_start, then for each content block content_block_start → deltas (text_delta, thinking_delta,
 * signature_delta, input_json_delta) → content_block_stop, with indexes 0, 1, … in order, then message_delta
 * (stop_reason, stop_sequence, the exact usage) and message_stop; an `error` event when the stream fails.
 *
 * Anthropic streams one block at a time, and a block's index is its final position, so a block cannot be closed
 * and reopened. Text and thinking blocks can end whenever something else arrives (more text later opens a new
 * block). A tool_use block cannot: an upstream may interleave the argument fragments of several calls, and a call
 * is known to be complete only when the stream finishes. So the first tool call streams live and stays open until
 * `finish()`; whatever arrives while it is open (other calls, more text or thinking) is kept in arrival order and
 * sent, block by block, when the stream finishes. Each block is contiguous, the first call's input streams as it
 * comes, and the last byte arrives no later than with a pass-through.
 *
 * The live call's input fragments are the upstream's own bytes; a call sent at the end whose arguments are not a
 * JSON object is sent as Anthropic's `{"INVALID_JSON": text}` wrapper, as toMessage does. A call's `extra_content`
 * is read from the deltas before its block starts (the live call: its first delta, where Gemini sends it).
 */
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletionChunk,
  ChunkDelta,
  ExtraContent,
  FinishReason,
  ToolCallDelta,
  Usage,
} from '../../common/openai.types.js';
import { anthropicErrorOf } from './messages.errors.js';
import {
  extraContentBlockOf,
  fallbackToolUseId,
  matchedStopSequence,
  type MessageMeta,
  stopOf,
  toolInputJsonOf,
  toolInputOf,
  toolUseIdOf,
  usageOf,
} from './messages.translator.js';
import type {
  AnthropicMessage,
  MessagesContentBlock,
  MessagesContentDelta,
  MessagesStreamEvent,
} from './messages.types.js';

interface TextState {
  kind: 'text';
  index: number;
  text: string;
}

interface ThinkingState {
  kind: 'thinking';
  index: number;
  thinking: string;
  /** Set when the signature arrived; the block is then complete. */
  signature: string | undefined;
}

interface RedactedState {
  kind: 'redacted';
  index: number;
  data: string;
}

interface ToolState {
  kind: 'tool';
  index: number;
  id: string;
  name: string;
  args: string;
  extra: ExtraContent | undefined;
}

type BlockState = TextState | ThinkingState | RedactedState | ToolState;

/** Index of a block not yet sent. */
const UNSENT = -1;

export class MessagesStreamTranslator {
  /** Blocks sent (or being sent), in index order. */
  private readonly sent: BlockState[] = [];
  /** The block being streamed, if any. */
  private open: BlockState | undefined;
  /** Blocks that arrived while a tool_use block was open, in arrival order. */
  private readonly held: BlockState[] = [];
  /** Tool calls by their upstream `index`. */
  private readonly tools = new Map<number, ToolState>();
  private started = false;
  private finished = false;
  private finishReason: FinishReason | null = null;
  private stopSequence: string | null = null;
  private refused = false;
  private usage: Usage | undefined;
  private extra: ExtraContent | undefined;

  constructor(
    private readonly meta: MessageMeta,
    private readonly estimatedInputTokens: number,
  ) {}

  /** message_start: the input usage is the estimate; the exact figures come in message_delta. */
  start(): MessagesStreamEvent[] {
    if (this.started) return [];
    this.started = true;
    return [{ type: 'message_start', message: this.skeleton() }];
  }

  push(chunk: ChatCompletionChunk): MessagesStreamEvent[] {
    const events = this.start();
    if (this.finished) return events;
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices.find((candidate) => candidate.index === 0);
    if (!choice) return events;
    this.pushDelta(choice.delta, events);
    if (choice.finish_reason) {
      this.finishReason = choice.finish_reason;
      this.stopSequence = matchedStopSequence(choice);
    }
    return events;
  }

  /** Closes the open block, sends the held ones, then message_delta and message_stop. */
  finish(): MessagesStreamEvent[] {
    const events = this.start();
    if (this.finished) return events;
    this.finished = true;
    this.close(events);
    for (const block of this.held) this.sendWhole(block, events);
    this.held.length = 0;
    if (this.extra) {
      this.sendWhole({ kind: 'redacted', index: UNSENT, data: extraContentBlockOf(this.extra).data }, events);
    }
    const stop = this.stop();
    const usage = usageOf(this.usage, this.estimatedInputTokens);
    events.push(
      {
        type: 'message_delta',
        delta: {
          stop_reason: stop.stopReason,
          stop_sequence: stop.stopSequence,
          stop_details: stop.stopDetails,
          container: null,
        },
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: usage.output_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          output_tokens_details: usage.output_tokens_details,
          server_tool_use: null,
        },
      },
      { type: 'message_stop' },
    );
    return events;
  }

  /** After the start, a failure is one `error` event in Anthropic's shape; nothing follows it. */
  fail(error: GatewayError): MessagesStreamEvent[] {
    if (this.finished) return [];
    this.finished = true;
    return [{ type: 'error', error: anthropicErrorOf(error).body.error }];
  }

  /** The Message as it stands (everything received so far, held blocks included), e.g. for the cache. */
  get message(): AnthropicMessage {
    const message = this.skeleton();
    const blocks = [...this.sent, ...this.held];
    message.content = blocks.map((block) => this.contentOf(block));
    if (!this.finished && this.extra) message.content.push(extraContentBlockOf(this.extra));
    if (this.finished) {
      const stop = this.stop();
      message.stop_reason = stop.stopReason;
      message.stop_sequence = stop.stopSequence;
      message.stop_details = stop.stopDetails;
    }
    message.usage = usageOf(this.usage, this.estimatedInputTokens);
    return message;
  }

  private skeleton(): AnthropicMessage {
    return {
      id: this.meta.id,
      type: 'message',
      role: 'assistant',
      model: this.meta.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: usageOf(undefined, this.estimatedInputTokens),
    };
  }

  private stop(): ReturnType<typeof stopOf> {
    return stopOf({
      finishReason: this.finishReason,
      hasToolUse: this.tools.size > 0,
      stopSequence: this.stopSequence,
      refused: this.refused,
    });
  }

  private pushDelta(delta: ChunkDelta, events: MessagesStreamEvent[]): void {
    // Upstreams that send thinking blocks often repeat their text as reasoning_content: the blocks win.
    if (delta.thinking_blocks && delta.thinking_blocks.length > 0) {
      for (const block of delta.thinking_blocks) {
        if (block.type === 'thinking') this.addThinking(block.thinking, block.signature, events);
        else this.addRedacted(block.data, events);
      }
    } else if (delta.reasoning_content) {
      this.addThinking(delta.reasoning_content, undefined, events);
    }
    if (delta.content) this.addText(delta.content, events);
    if (delta.refusal) {
      this.refused = true;
      this.addText(delta.refusal, events);
    }
    if (delta.tool_calls) for (const call of delta.tool_calls) this.addToolDelta(call, events);
    if (delta.extra_content) this.extra = delta.extra_content;
  }

  /** True when a tool_use block is streaming: everything else then waits for `finish()`. */
  private holding(): boolean {
    return this.open?.kind === 'tool';
  }

  private addText(text: string, events: MessagesStreamEvent[]): void {
    if (this.holding()) {
      const last = this.held.at(-1);
      if (last?.kind === 'text') last.text += text;
      else this.held.push({ kind: 'text', index: UNSENT, text });
      return;
    }
    let block = this.open;
    if (block?.kind !== 'text') {
      block = this.begin({ kind: 'text', index: UNSENT, text: '' }, events);
    }
    block.text += text;
    this.delta(block, { type: 'text_delta', text }, events);
  }

  /** A thinking fragment, and maybe the signature that completes its block. */
  private addThinking(thinking: string, signature: string | undefined, events: MessagesStreamEvent[]): void {
    if (thinking === '' && !signature) return;
    if (this.holding()) {
      const last = this.held.at(-1);
      if (last?.kind === 'thinking' && last.signature === undefined) {
        last.thinking += thinking;
        if (signature) last.signature = signature;
      } else {
        this.held.push({ kind: 'thinking', index: UNSENT, thinking, signature: signature || undefined });
      }
      return;
    }
    let block = this.open;
    if (block?.kind !== 'thinking' || block.signature !== undefined) {
      block = this.begin({ kind: 'thinking', index: UNSENT, thinking: '', signature: undefined }, events);
    }
    if (thinking !== '') {
      block.thinking += thinking;
      this.delta(block, { type: 'thinking_delta', thinking }, events);
    }
    if (signature) {
      block.signature = signature;
      this.delta(block, { type: 'signature_delta', signature }, events);
      this.close(events);
    }
  }

  private addRedacted(data: string, events: MessagesStreamEvent[]): void {
    const block: RedactedState = { kind: 'redacted', index: UNSENT, data };
    if (this.holding()) this.held.push(block);
    else this.sendWhole(block, events);
  }

  private addToolDelta(delta: ToolCallDelta, events: MessagesStreamEvent[]): void {
    let call = this.tools.get(delta.index);
    if (!call) {
      call = {
        kind: 'tool',
        index: UNSENT,
        id: delta.id || fallbackToolUseId(this.meta, this.tools.size),
        name: delta.function?.name ?? '',
        args: '',
        extra: delta.extra_content,
      };
      this.tools.set(delta.index, call);
      if (this.holding()) this.held.push(call);
      else this.begin(call, events);
    } else if (call.index === UNSENT) {
      // Not sent yet: late parts of its identity can still be taken.
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) call.name = delta.function.name;
      if (delta.extra_content) call.extra = delta.extra_content;
    }
    const fragment = delta.function?.arguments;
    if (!fragment) return;
    call.args += fragment;
    if (call === this.open) this.delta(call, { type: 'input_json_delta', partial_json: fragment }, events);
  }

  /** Ends the open block and starts `block` as the next index. */
  private begin<T extends BlockState>(block: T, events: MessagesStreamEvent[]): T {
    this.close(events);
    block.index = this.sent.length;
    this.sent.push(block);
    this.open = block;
    events.push({ type: 'content_block_start', index: block.index, content_block: this.startOf(block) });
    return block;
  }

  private close(events: MessagesStreamEvent[]): void {
    if (!this.open) return;
    events.push({ type: 'content_block_stop', index: this.open.index });
    this.open = undefined;
  }

  private delta(block: BlockState, delta: MessagesContentDelta, events: MessagesStreamEvent[]): void {
    events.push({ type: 'content_block_delta', index: block.index, delta });
  }

  /** A block known in full: start, its content as one delta each, stop. */
  private sendWhole(block: BlockState, events: MessagesStreamEvent[]): void {
    this.begin(block, events);
    switch (block.kind) {
      case 'text':
        this.delta(block, { type: 'text_delta', text: block.text }, events);
        break;
      case 'thinking':
        if (block.thinking !== '') this.delta(block, { type: 'thinking_delta', thinking: block.thinking }, events);
        if (block.signature) this.delta(block, { type: 'signature_delta', signature: block.signature }, events);
        break;
      case 'tool':
        if (block.args.trim() !== '') {
          this.delta(block, { type: 'input_json_delta', partial_json: toolInputJsonOf(block.args) }, events);
        }
        break;
      case 'redacted':
        break;
    }
    this.close(events);
  }

  private startOf(block: BlockState): MessagesContentBlock {
    switch (block.kind) {
      case 'text':
        return { type: 'text', text: '', citations: null };
      case 'thinking':
        return { type: 'thinking', thinking: '', signature: '' };
      case 'redacted':
        return { type: 'redacted_thinking', data: block.data };
      case 'tool':
        return {
          type: 'tool_use',
          id: toolUseIdOf(block.id, block.extra),
          name: block.name,
          input: {},
          caller: { type: 'direct' },
        };
    }
  }

  private contentOf(block: BlockState): MessagesContentBlock {
    switch (block.kind) {
      case 'text':
        return { type: 'text', text: block.text, citations: null };
      case 'thinking':
        return { type: 'thinking', thinking: block.thinking, signature: block.signature ?? '' };
      case 'redacted':
        return { type: 'redacted_thinking', data: block.data };
      case 'tool':
        return {
          type: 'tool_use',
          id: toolUseIdOf(block.id, block.extra),
          name: block.name,
          input: toolInputOf(block.args),
          caller: { type: 'direct' },
        };
    }
  }
}
