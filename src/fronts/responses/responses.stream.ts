/**
 * The Responses stream for a stream of internal chat chunks: a small state machine that turns each chunk into the
 * events OpenAI's Responses API sends (https://platform.openai.com/docs/api-reference/responses-streaming):
 * `response.created`, `response.in_progress`, then per output item `response.output_item.added`, its part and delta
 * events and `response.output_item.done`, and last `response.completed`, `response.incomplete` or `response.failed`.
 * Items never overlap: one is closed before the next opens, in the order their first delta arrived.
 *
 * - Reasoning (`reasoning_content`, or the text of `thinking_blocks` when no `reasoning_content` comes) is a
 *   reasoning item with one summary part (when `reasoning.summary` is set); its thinking blocks go into its
 *   `encrypted_content` when it closes. Reasoning after text or calls (interleaved thinking) is a new reasoning item.
 * - Text and refusals are parts of one message item, in the order they arrive.
 * - Tool calls are function_call (or custom_tool_call) items; the live call streams its argument deltas. While its
 *   arguments are not yet a complete JSON value, whatever else arrives (another call's start, text, reasoning: an
 *   upstream interleaving them) is queued in order and played once they are complete, or at the end, so no item
 *   is closed before its last fragment and none receives deltas after its done event. A queued call's fragments
 *   gather meanwhile and go out as one delta when it opens.
 * - Opaque state that arrives after the reasoning items have closed (Gemini's thought signatures on tool calls and
 *   messages) is carried by one trailing reasoning item with an empty summary, written at the end.
 */
import type {
  ChatCompletionChunk,
  ExtraContent,
  FinishReason,
  ThinkingBlock,
  ToolCallDelta,
  Usage,
} from '../../common/openai.types.js';
import type {
  CustomToolCallItem,
  FunctionCallItem,
  OutputLogProb,
  OutputMessageItem,
  OutputTextPart,
  ReasoningItem,
  RefusalPart,
  ResponseObject,
  ResponsesRequest,
  ResponseStreamEvent,
} from './responses.types.js';
import {
  addedItem,
  carriesReasoningState,
  customInput,
  emptyMessage,
  emptyPart,
  encodeReasoningState,
  EventSequence,
  finishStatus,
  includesLogprobs,
  inProgressSnapshot,
  itemId,
  outputLogprobs,
  type ReasoningState,
  type ResponseMeta,
  responseErrorCode,
  responseShell,
  responseUsage,
  showsSummary,
  terminalEvent,
  thinkingText,
  ToolNames,
  writeItemEvents,
} from './responses.translator.js';

interface OpenReasoning {
  kind: 'reasoning';
  item: ReasoningItem;
  outputIndex: number;
  text: string;
  partOpen: boolean;
  blocks: ThinkingBlock[];
}

interface OpenMessage {
  kind: 'message';
  item: OutputMessageItem;
  outputIndex: number;
  part: OutputTextPart | RefusalPart | undefined;
}

interface CallState {
  id: string;
  name: string;
  arguments: string;
  extra: ExtraContent | undefined;
  item: FunctionCallItem | CustomToolCallItem | undefined;
  outputIndex: number;
  closed: boolean;
}

/** A thinking block fragment folded into the blocks so far (copies: chunks are not ours to change). */
function foldBlock(blocks: ThinkingBlock[], fragment: ThinkingBlock): void {
  if (fragment.type === 'redacted_thinking') {
    blocks.push({ type: 'redacted_thinking', data: fragment.data });
    return;
  }
  const last = blocks.at(-1);
  if (last?.type === 'thinking' && last.signature === undefined) {
    last.thinking += fragment.thinking;
    if (fragment.signature !== undefined) last.signature = fragment.signature;
    return;
  }
  blocks.push(
    fragment.signature === undefined
      ? { type: 'thinking', thinking: fragment.thinking }
      : { type: 'thinking', thinking: fragment.thinking, signature: fragment.signature },
  );
}

/** Whether a call's arguments are complete, so nothing can be interleaved with them any more. */
function isCompleteJson(text: string): boolean {
  const end = text.trimEnd().at(-1);
  // An object or array is complete only once it is closed: most fragments need no parse.
  if (end === undefined || ((text.startsWith('{') || text.startsWith('[')) && end !== '}' && end !== ']')) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export class ResponsesStreamTranslator {
  private readonly sequence = new EventSequence();
  private readonly state: ResponseObject;
  private readonly names: ToolNames;
  private readonly summary: boolean;
  private readonly carries: boolean;
  private readonly logprobs: boolean;
  private started = false;
  private ended = false;
  private current: OpenReasoning | OpenMessage | undefined;
  private readonly calls = new Map<number, CallState>();
  private liveCall: CallState | undefined;
  /** Work waiting for the live call's arguments to be complete, in arrival order. */
  private readonly queued: Array<(out: ResponseStreamEvent[]) => void> = [];
  private sawReasoningContent = false;
  private messageExtra: ExtraContent | undefined;
  private finishReason: FinishReason | null = null;
  private usage: Usage | undefined;

  constructor(
    request: ResponsesRequest,
    private readonly meta: ResponseMeta,
  ) {
    this.state = responseShell(request, meta);
    this.names = new ToolNames(request.tools);
    this.summary = showsSummary(request);
    this.carries = carriesReasoningState(request);
    this.logprobs = includesLogprobs(request);
  }

  /** The Response as it stands (final after finish or fail). */
  get response(): ResponseObject {
    return this.state;
  }

  /** `response.created` and `response.in_progress`. */
  start(): ResponseStreamEvent[] {
    const out: ResponseStreamEvent[] = [];
    if (this.started) return out;
    this.started = true;
    const snapshot = inProgressSnapshot(this.state);
    this.sequence.write(out, { type: 'response.created', response: snapshot });
    this.sequence.write(out, { type: 'response.in_progress', response: snapshot });
    return out;
  }

  push(chunk: ChatCompletionChunk): ResponseStreamEvent[] {
    const out = this.start();
    if (this.ended) return out;
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices.find((candidate) => candidate.index === 0);
    if (!choice) return out;
    const delta = choice.delta ?? {};
    const reasoning = delta.reasoning_content;
    const blocks = delta.thinking_blocks;
    if ((typeof reasoning === 'string' && reasoning !== '') || (blocks && blocks.length > 0)) {
      this.play(out, (into) => this.reason(into, reasoning, blocks));
    }
    const content = delta.content;
    if (typeof content === 'string' && content !== '') {
      const logprobs = this.logprobs ? outputLogprobs(choice.logprobs) : [];
      this.play(out, (into) => this.text(into, content, logprobs));
    }
    const refusal = delta.refusal;
    if (typeof refusal === 'string' && refusal !== '') this.play(out, (into) => this.refuse(into, refusal));
    if (delta.extra_content) this.messageExtra = { ...this.messageExtra, ...delta.extra_content };
    for (const call of delta.tool_calls ?? []) this.call(out, call);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    this.drain(out, false);
    return out;
  }

  /** Closes what is open, writes the trailing state, then `response.completed` or `response.incomplete`. */
  finish(): ResponseStreamEvent[] {
    const out = this.start();
    if (this.ended) return out;
    this.ended = true;
    const finish = finishStatus(this.finishReason);
    this.drain(out, true);
    this.closeCurrent(out, finish.status === 'incomplete');
    this.writeTrailingState(out);
    if (this.state.output.length === 0) {
      const item = emptyMessage(this.meta.id);
      this.state.output.push(item);
      writeItemEvents(this.sequence, out, item, 0);
    }
    this.state.status = finish.status;
    this.state.incomplete_details = finish.incomplete_details;
    if (this.usage) this.state.usage = responseUsage(this.usage);
    this.sequence.write(out, terminalEvent(this.state));
    return out;
  }

  /**
   * `response.failed` with the error; items left open are marked incomplete, none is closed as a success, and
   * queued work is not played.
   */
  fail(error: { code: string; message: string }): ResponseStreamEvent[] {
    const out = this.start();
    if (this.ended) return out;
    this.ended = true;
    if (this.current) this.current.item.status = 'incomplete';
    if (this.liveCall?.item?.type === 'function_call') this.liveCall.item.status = 'incomplete';
    this.state.status = 'failed';
    this.state.error = { code: responseErrorCode(error.code), message: error.message };
    if (this.usage) this.state.usage = responseUsage(this.usage);
    this.sequence.write(out, terminalEvent(this.state));
    return out;
  }

  private reason(out: ResponseStreamEvent[], text: string | null | undefined, blocks: ThinkingBlock[] | undefined) {
    let open = this.current;
    if (open?.kind !== 'reasoning') {
      this.closeCurrent(out, false);
      const outputIndex = this.state.output.length;
      const item: ReasoningItem = { id: itemId(this.meta.id, 'rs', outputIndex), type: 'reasoning', summary: [] };
      this.state.output.push(item);
      this.sequence.write(out, {
        type: 'response.output_item.added',
        output_index: outputIndex,
        item: addedItem(item),
      });
      open = { kind: 'reasoning', item, outputIndex, text: '', partOpen: false, blocks: [] };
      this.current = open;
    }
    let piece = '';
    if (typeof text === 'string' && text !== '') {
      piece = text;
      this.sawReasoningContent = true;
    } else if (!this.sawReasoningContent) {
      piece = thinkingText(blocks);
    }
    for (const block of blocks ?? []) foldBlock(open.blocks, block);
    if (piece === '') return;
    open.text += piece;
    if (!this.summary) return;
    const at = { item_id: open.item.id, output_index: open.outputIndex, summary_index: 0 };
    if (!open.partOpen) {
      open.partOpen = true;
      open.item.summary.push({ type: 'summary_text', text: '' });
      const part = { type: 'summary_text' as const, text: '' };
      this.sequence.write(out, { type: 'response.reasoning_summary_part.added', ...at, part });
    }
    open.item.summary[0].text = open.text;
    this.sequence.write(out, { type: 'response.reasoning_summary_text.delta', ...at, delta: piece });
  }

  private openMessage(out: ResponseStreamEvent[]): OpenMessage {
    if (this.current?.kind === 'message') return this.current;
    this.closeCurrent(out, false);
    const outputIndex = this.state.output.length;
    const item: OutputMessageItem = {
      id: itemId(this.meta.id, 'msg', outputIndex),
      type: 'message',
      status: 'in_progress',
      role: 'assistant',
      content: [],
    };
    this.state.output.push(item);
    this.sequence.write(out, { type: 'response.output_item.added', output_index: outputIndex, item: addedItem(item) });
    const open: OpenMessage = { kind: 'message', item, outputIndex, part: undefined };
    this.current = open;
    return open;
  }

  private openPart<T extends OutputTextPart | RefusalPart>(out: ResponseStreamEvent[], open: OpenMessage, part: T): T {
    this.closePart(out, open);
    open.item.content.push(part);
    open.part = part;
    this.sequence.write(out, {
      type: 'response.content_part.added',
      item_id: open.item.id,
      output_index: open.outputIndex,
      content_index: open.item.content.length - 1,
      part: emptyPart(part),
    });
    return part;
  }

  private text(out: ResponseStreamEvent[], delta: string, logprobs: OutputLogProb[]) {
    const open = this.openMessage(out);
    const part =
      open.part?.type === 'output_text'
        ? open.part
        : this.openPart(out, open, { type: 'output_text', text: '', annotations: [], logprobs: [] });
    part.text += delta;
    part.logprobs.push(...logprobs);
    this.sequence.write(out, {
      type: 'response.output_text.delta',
      item_id: open.item.id,
      output_index: open.outputIndex,
      content_index: open.item.content.length - 1,
      delta,
      logprobs,
    });
  }

  private refuse(out: ResponseStreamEvent[], delta: string) {
    const open = this.openMessage(out);
    const part = open.part?.type === 'refusal' ? open.part : this.openPart(out, open, { type: 'refusal', refusal: '' });
    part.refusal += delta;
    this.sequence.write(out, {
      type: 'response.refusal.delta',
      item_id: open.item.id,
      output_index: open.outputIndex,
      content_index: open.item.content.length - 1,
      delta,
    });
  }

  private call(out: ResponseStreamEvent[], delta: ToolCallDelta) {
    let call = this.calls.get(delta.index);
    const fragment = delta.function?.arguments ?? '';
    if (!call) {
      call = {
        id: delta.id ?? '',
        name: delta.function?.name ?? '',
        arguments: fragment,
        extra: delta.extra_content,
        item: undefined,
        outputIndex: -1,
        closed: false,
      };
      this.calls.set(delta.index, call);
      const opening = call;
      this.play(out, (into) => {
        this.closeCurrent(into, false);
        this.openCall(into, opening);
      });
      return;
    }
    if (delta.id && call.id === '') {
      call.id = delta.id;
      if (call.item) call.item.call_id = delta.id;
    }
    if (delta.function?.name) {
      call.name += delta.function.name;
      if (call.item) call.item.name = this.names.fromChat(call.name).name;
    }
    if (delta.extra_content) call.extra = { ...call.extra, ...delta.extra_content };
    // A call closes only once its arguments are complete JSON (or at the end): a later fragment has nothing to add.
    if (fragment === '' || call.closed) return;
    call.arguments += fragment;
    if (call !== this.liveCall || call.item?.type !== 'function_call') return;
    call.item.arguments = call.arguments;
    this.sequence.write(out, {
      type: 'response.function_call_arguments.delta',
      item_id: call.item.id as string,
      output_index: call.outputIndex,
      delta: fragment,
    });
  }

  private openCall(out: ResponseStreamEvent[], call: CallState) {
    const outputIndex = this.state.output.length;
    const known = this.names.fromChat(call.name);
    const namespace = known.namespace === undefined ? {} : { namespace: known.namespace };
    const item: FunctionCallItem | CustomToolCallItem = known.custom
      ? {
          type: 'custom_tool_call',
          id: itemId(this.meta.id, 'ctc', outputIndex),
          call_id: call.id,
          name: known.name,
          ...namespace,
          input: '',
        }
      : {
          type: 'function_call',
          id: itemId(this.meta.id, 'fc', outputIndex),
          call_id: call.id,
          name: known.name,
          ...namespace,
          arguments: '',
          status: 'in_progress',
        };
    call.item = item;
    call.outputIndex = outputIndex;
    this.liveCall = call;
    this.state.output.push(item);
    this.sequence.write(out, { type: 'response.output_item.added', output_index: outputIndex, item: addedItem(item) });
    if (item.type === 'function_call' && call.arguments !== '') {
      item.arguments = call.arguments;
      this.sequence.write(out, {
        type: 'response.function_call_arguments.delta',
        item_id: item.id as string,
        output_index: outputIndex,
        delta: call.arguments,
      });
    }
  }

  private closeCall(out: ResponseStreamEvent[], call: CallState, incomplete: boolean) {
    const item = call.item as FunctionCallItem | CustomToolCallItem;
    const at = { item_id: item.id as string, output_index: call.outputIndex };
    call.closed = true;
    if (item.type === 'function_call') {
      item.arguments = call.arguments;
      item.status = incomplete ? 'incomplete' : 'completed';
      this.sequence.write(out, {
        type: 'response.function_call_arguments.done',
        ...at,
        name: item.name,
        arguments: item.arguments,
      });
    } else {
      item.input = customInput(call.arguments);
      if (item.input !== '') {
        this.sequence.write(out, { type: 'response.custom_tool_call_input.delta', ...at, delta: item.input });
      }
      this.sequence.write(out, { type: 'response.custom_tool_call_input.done', ...at, input: item.input });
    }
    this.sequence.write(out, { type: 'response.output_item.done', output_index: call.outputIndex, item });
  }

  private closePart(out: ResponseStreamEvent[], open: OpenMessage) {
    const part = open.part;
    if (!part) return;
    open.part = undefined;
    const at = { item_id: open.item.id, output_index: open.outputIndex, content_index: open.item.content.length - 1 };
    if (part.type === 'output_text') {
      this.sequence.write(out, { type: 'response.output_text.done', ...at, text: part.text, logprobs: part.logprobs });
    } else {
      this.sequence.write(out, { type: 'response.refusal.done', ...at, refusal: part.refusal });
    }
    this.sequence.write(out, { type: 'response.content_part.done', ...at, part });
  }

  private closeReasoning(out: ResponseStreamEvent[], open: OpenReasoning) {
    const at = { item_id: open.item.id, output_index: open.outputIndex, summary_index: 0 };
    if (open.partOpen) {
      const text = open.text;
      this.sequence.write(out, { type: 'response.reasoning_summary_text.done', ...at, text });
      this.sequence.write(out, { type: 'response.reasoning_summary_part.done', ...at, part: open.item.summary[0] });
    }
    if (this.carries) {
      const state: ReasoningState = {};
      if (open.blocks.length > 0) state.b = open.blocks;
      if (!this.summary && open.text !== '') state.r = open.text;
      open.item.encrypted_content = encodeReasoningState(state);
    }
    this.sequence.write(out, { type: 'response.output_item.done', output_index: open.outputIndex, item: open.item });
  }

  /**
   * Closes the open reasoning or message item, or the live call. `final`: the answer was cut off (length, content
   * filter), so the item closed is incomplete.
   */
  private closeCurrent(out: ResponseStreamEvent[], final: boolean) {
    const open = this.current;
    this.current = undefined;
    if (open?.kind === 'reasoning') this.closeReasoning(out, open);
    else if (open?.kind === 'message') {
      this.closePart(out, open);
      open.item.status = final ? 'incomplete' : 'completed';
      this.sequence.write(out, { type: 'response.output_item.done', output_index: open.outputIndex, item: open.item });
    }
    const live = this.liveCall;
    if (!live) return;
    this.liveCall = undefined;
    this.closeCall(out, live, final);
  }

  /** Runs `work` now, or queues it behind the live call's incomplete arguments (and anything queued before). */
  private play(out: ResponseStreamEvent[], work: (out: ResponseStreamEvent[]) => void) {
    if (this.queued.length > 0 || this.blocked()) this.queued.push(work);
    else work(out);
  }

  private blocked(): boolean {
    return this.liveCall !== undefined && !isCompleteJson(this.liveCall.arguments);
  }

  /** Plays queued work while the live call allows it; `all`: the stream ended, everything is played. */
  private drain(out: ResponseStreamEvent[], all: boolean) {
    while (this.queued.length > 0 && (all || !this.blocked()))
      (this.queued.shift() as (out: ResponseStreamEvent[]) => void)(out);
  }

  /** One reasoning item for the thought signatures that came after the reasoning items closed. */
  private writeTrailingState(out: ResponseStreamEvent[]) {
    if (!this.carries) return;
    const state: ReasoningState = {};
    if (this.messageExtra) state.x = this.messageExtra;
    for (const call of this.calls.values()) if (call.extra) (state.c ??= {})[call.id] = call.extra;
    if (state.x === undefined && state.c === undefined) return;
    const outputIndex = this.state.output.length;
    const item: ReasoningItem = {
      id: itemId(this.meta.id, 'rs', outputIndex),
      type: 'reasoning',
      summary: [],
      encrypted_content: encodeReasoningState(state),
    };
    this.state.output.push(item);
    this.sequence.write(out, { type: 'response.output_item.added', output_index: outputIndex, item: addedItem(item) });
    this.sequence.write(out, { type: 'response.output_item.done', output_index: outputIndex, item });
  }
}
