/**
 * Folds a stream of chunks back into the `chat.completion` it represents (content, refusals, tool calls
 * merged by index, finish reasons, usage), so a finished stream can be cached and replayed.
 */
import type {
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  FinishReason,
  ToolCall,
  Usage,
  ExtraContent,
  ThinkingBlock,
} from '../../common/openai.types.js';

interface ChoiceState {
  content: string;
  refusal: string;
  reasoning: string;
  /** Reasoning blocks as they stream: text fragments join the open block; a signature closes it. */
  thinkingBlocks: ThinkingBlock[];
  thinkingOpen: boolean;
  extraContent: ExtraContent | undefined;
  toolCalls: ToolCall[];
  finishReason: FinishReason | null;
}

/** Adds a streamed reasoning-block delta (see ChunkDelta.thinking_blocks) to the choice's blocks. */
function addThinking(state: ChoiceState, block: ThinkingBlock): void {
  if (block.type === 'redacted_thinking') {
    state.thinkingBlocks.push(block);
    state.thinkingOpen = false;
    return;
  }
  const open = state.thinkingOpen ? state.thinkingBlocks.at(-1) : undefined;
  if (open?.type === 'thinking') open.thinking += block.thinking;
  else state.thinkingBlocks.push({ type: 'thinking', thinking: block.thinking });
  const current = state.thinkingBlocks.at(-1) as { type: 'thinking'; thinking: string; signature?: string };
  if (block.signature !== undefined) {
    current.signature = block.signature;
    state.thinkingOpen = false;
  } else {
    state.thinkingOpen = true;
  }
}

export class StreamAccumulator {
  private id = '';
  private created = 0;
  private model = '';
  private systemFingerprint: string | null | undefined;
  private readonly choices: ChoiceState[] = [];
  usage: Usage | undefined;
  /** Characters of output seen so far, for estimating usage of a stream that never reported it. */
  outputChars = 0;

  add(chunk: ChatCompletionChunk): void {
    if (!this.id) {
      this.id = chunk.id;
      this.created = chunk.created;
      this.model = chunk.model;
      this.systemFingerprint = chunk.system_fingerprint;
    }
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices) {
      const state = (this.choices[choice.index] ??= {
        content: '',
        refusal: '',
        reasoning: '',
        thinkingBlocks: [],
        thinkingOpen: false,
        extraContent: undefined,
        toolCalls: [],
        finishReason: null,
      });
      const delta = choice.delta;
      if (delta?.content) {
        state.content += delta.content;
        this.outputChars += delta.content.length;
      }
      if (delta?.refusal) state.refusal += delta.refusal;
      if (delta?.reasoning_content) {
        state.reasoning += delta.reasoning_content;
        this.outputChars += delta.reasoning_content.length;
      }
      if (delta?.thinking_blocks) for (const block of delta.thinking_blocks) addThinking(state, block);
      if (delta?.extra_content) state.extraContent = delta.extra_content;
      for (const call of delta?.tool_calls ?? []) {
        const target = (state.toolCalls[call.index] ??= {
          id: '',
          type: 'function',
          function: { name: '', arguments: '' },
        });
        if (call.id) target.id = call.id;
        if (call.extra_content) target.extra_content = call.extra_content;
        if (call.function?.name) target.function.name += call.function.name;
        if (call.function?.arguments) {
          target.function.arguments += call.function.arguments;
          this.outputChars += call.function.arguments.length;
        }
      }
      if (choice.finish_reason) state.finishReason = choice.finish_reason;
    }
  }

  /** The model the upstream named in its chunks. */
  get responseModel(): string {
    return this.model;
  }

  finishReasons(): FinishReason[] {
    const reasons: FinishReason[] = [];
    for (const choice of this.choices) if (choice?.finishReason) reasons.push(choice.finishReason);
    return reasons;
  }

  /** Whether every choice finished: only a complete stream may be cached. */
  get complete(): boolean {
    return this.choices.length > 0 && this.choices.every((choice) => choice && choice.finishReason !== null);
  }

  toCompletion(): ChatCompletion {
    const choices: ChatCompletionChoice[] = this.choices.map((state, index) => ({
      index,
      message: {
        role: 'assistant',
        content: state.content === '' && state.toolCalls.length > 0 ? null : state.content,
        refusal: state.refusal === '' ? null : state.refusal,
        ...(state.toolCalls.length > 0 ? { tool_calls: state.toolCalls.filter(Boolean) } : {}),
        ...(state.reasoning !== '' ? { reasoning_content: state.reasoning } : {}),
        ...(state.thinkingBlocks.length > 0 ? { thinking_blocks: state.thinkingBlocks } : {}),
        ...(state.extraContent ? { extra_content: state.extraContent } : {}),
      },
      logprobs: null,
      finish_reason: state.finishReason,
    }));
    const completion: ChatCompletion = {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices,
    };
    if (this.usage) completion.usage = this.usage;
    if (this.systemFingerprint !== undefined) completion.system_fingerprint = this.systemFingerprint;
    return completion;
  }
}

/**
 * Replays a completion as the chunks OpenAI would have streamed: a role chunk, content (and tool calls),
 * the finish chunk per choice, and the usage chunk when asked for.
 */
export function completionToChunks(completion: ChatCompletion, includeUsage: boolean): ChatCompletionChunk[] {
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk' as const,
    created: completion.created,
    model: completion.model,
  };
  const usageField = includeUsage ? { usage: null } : {};
  const chunks: ChatCompletionChunk[] = [];
  for (const choice of completion.choices) {
    const message = choice.message;
    chunks.push({
      ...base,
      choices: [
        {
          index: choice.index,
          delta: { role: 'assistant', content: message.content === null ? null : '' },
          logprobs: null,
          finish_reason: null,
        },
      ],
      ...usageField,
    });
    if (message.reasoning_content) {
      chunks.push({
        ...base,
        choices: [
          {
            index: choice.index,
            delta: { reasoning_content: message.reasoning_content },
            logprobs: null,
            finish_reason: null,
          },
        ],
        ...usageField,
      });
    }
    if (message.thinking_blocks?.length) {
      chunks.push({
        ...base,
        choices: [
          {
            index: choice.index,
            delta: { thinking_blocks: message.thinking_blocks },
            logprobs: null,
            finish_reason: null,
          },
        ],
        ...usageField,
      });
    }
    if (message.content) {
      chunks.push({
        ...base,
        choices: [{ index: choice.index, delta: { content: message.content }, logprobs: null, finish_reason: null }],
        ...usageField,
      });
    }
    if (message.refusal) {
      chunks.push({
        ...base,
        choices: [{ index: choice.index, delta: { refusal: message.refusal }, logprobs: null, finish_reason: null }],
        ...usageField,
      });
    }
    message.tool_calls?.forEach((call, index) => {
      chunks.push({
        ...base,
        choices: [
          {
            index: choice.index,
            delta: {
              tool_calls: [
                {
                  index,
                  id: call.id,
                  type: 'function',
                  function: { name: call.function.name, arguments: call.function.arguments },
                  ...(call.extra_content ? { extra_content: call.extra_content } : {}),
                },
              ],
            },
            logprobs: null,
            finish_reason: null,
          },
        ],
        ...usageField,
      });
    });
    chunks.push({
      ...base,
      choices: [
        {
          index: choice.index,
          delta: message.extra_content ? { extra_content: message.extra_content } : {},
          logprobs: null,
          finish_reason: choice.finish_reason,
        },
      ],
      ...usageField,
    });
  }
  if (includeUsage && completion.usage) chunks.push({ ...base, choices: [], usage: completion.usage });
  return chunks;
}

/** The usage-only chunk OpenAI sends last when `include_usage` is set. */
export function isUsageChunk(chunk: ChatCompletionChunk): boolean {
  return chunk.choices.length === 0 && chunk.usage != null;
}
