/**
 * A ChatCompletionProvider whose calls follow a script, for unit specs that drive routing and the completion
 * pipeline without HTTP: each call answers, throws, hangs until it is cancelled, or streams chunks on cue (a delay
 * or a gate the test opens) and can fail mid-stream. Every call is recorded with the context it was given.
 * Cancellation rejects whatever the call is waiting for with ClientClosedError, as UpstreamClient does when its
 * caller's cancellation fires.
 */
import { ClientClosedError } from '../../src/common/errors/gateway.error.js';
import type { Cancellation } from '../../src/common/cancellation.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChunkDelta,
  FinishReason,
  Usage,
} from '../../src/common/openai.types.js';
import type { ChatCompletionProvider, ProviderCallContext } from '../../src/providers/llm-provider.js';

/** When a scripted step happens: after `afterMs`, once `after` resolves (both when both are given), or never (`hang`). */
export interface Cue {
  afterMs?: number;
  after?: Promise<unknown>;
  hang?: boolean;
}

/**
 * `transportRetries`: the transport retried this many times before the outcome, each retry drawing one attempt from
 * the request's budget as UpstreamClient does (it stops retrying when the budget is used up).
 */
export type ChatScript = Cue & { transportRetries?: number } & ({ answer: ChatCompletion } | { fail: unknown });

/** One step of a scripted stream: a chunk, or a failure thrown from the iterator. */
export type StreamStep = Cue & ({ chunk: ChatCompletionChunk } | { fail: unknown });

/** `steps`: what the stream yields; `fail`: chatStream rejects (the upstream refused before streaming). */
export type StreamScript = Cue & ({ steps: StreamStep[] } | { fail: unknown });

export interface RecordedCall {
  readonly kind: 'chat' | 'stream';
  readonly request: ChatCompletionRequest;
  readonly context: ProviderCallContext;
  /** Chunks the stream handed out. */
  chunksSent: number;
  /** The stream's iterator finished: it ran out, failed, or its consumer returned it. */
  released: boolean;
}

/** A promise the test resolves when it wants a gated step to happen. */
export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for the cue, or rejects with ClientClosedError as soon as `cancellation` fires. While it waits it keeps the
 * event loop alive, as the socket of a pending upstream request does (the gateway's own timers are unref'd).
 */
function waitFor(cue: Cue, cancellation: Cancellation): Promise<void> {
  if (cancellation.aborted) return Promise.reject(new ClientClosedError());
  if (!cue.hang && cue.afterMs === undefined && cue.after === undefined) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const socket = setInterval(() => undefined, 60_000);
    let timer: NodeJS.Timeout | undefined;
    const stop = cancellation.onCancel(() => {
      clearInterval(socket);
      clearTimeout(timer);
      reject(new ClientClosedError());
    });
    if (cue.hang) return;
    const afterMs = cue.afterMs;
    const delayed =
      afterMs === undefined
        ? undefined
        : new Promise<void>((done) => {
            timer = setTimeout(done, afterMs);
          });
    void Promise.all([delayed, cue.after]).then(() => {
      stop();
      clearInterval(socket);
      resolve();
    });
  });
}

let sequence = 0;

export function completionOf(
  text: string,
  options: { usage?: Usage; finishReason?: FinishReason | null; model?: string } = {},
): ChatCompletion {
  sequence++;
  return {
    id: `chatcmpl-${sequence}`,
    object: 'chat.completion',
    created: 1_700_000_000,
    model: options.model ?? 'upstream-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null },
        logprobs: null,
        finish_reason: options.finishReason === undefined ? 'stop' : options.finishReason,
      },
    ],
    usage: options.usage ?? usageOf(10, 5),
  };
}

export function usageOf(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export function chunkOf(delta: ChunkDelta, finishReason: FinishReason | null = null): ChatCompletionChunk {
  return {
    id: 'chatcmpl-stream',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

export function usageChunk(usage: Usage): ChatCompletionChunk {
  return {
    id: 'chatcmpl-stream',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'upstream-model',
    choices: [],
    usage,
  };
}

/** The steps of a whole stream: a role chunk (no output yet), one chunk per text, the finish chunk, optionally usage. */
export function textSteps(texts: readonly string[], usage?: Usage): StreamStep[] {
  const steps: StreamStep[] = [{ chunk: chunkOf({ role: 'assistant', content: '' }) }];
  for (const text of texts) steps.push({ chunk: chunkOf({ content: text }) });
  steps.push({ chunk: chunkOf({}, 'stop') });
  if (usage) steps.push({ chunk: usageChunk(usage) });
  return steps;
}

/** The text a list of chunks carries. */
export function textOf(chunks: readonly ChatCompletionChunk[]): string {
  return chunks.map((chunk) => chunk.choices.map((choice) => choice.delta.content ?? '').join('')).join('');
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export class ScriptedProvider implements ChatCompletionProvider {
  readonly type = 'scripted';
  readonly calls: RecordedCall[] = [];
  private readonly chatScripts: ChatScript[] = [];
  private readonly streamScripts: StreamScript[] = [];
  private chatDefault: ChatScript | undefined;
  private streamDefault: StreamScript | undefined;
  private answered = 0;

  /** `journal`, when given, gets `<name>/<upstream model>` for every call, shared with other providers. */
  constructor(
    readonly name: string,
    private readonly journal: string[] = [],
  ) {}

  /** Scripts the next chat calls, in order. */
  onChat(...scripts: ChatScript[]): this {
    this.chatScripts.push(...scripts);
    return this;
  }

  /** What chat calls do once the scripted ones are used up; without it they answer "<name> answer <n>". */
  onEveryChat(script: ChatScript): this {
    this.chatDefault = script;
    return this;
  }

  /** Scripts the next chatStream calls, in order. */
  onStream(...scripts: StreamScript[]): this {
    this.streamScripts.push(...scripts);
    return this;
  }

  /** What chatStream calls do once the scripted ones are used up; without it they stream "<name> streamed". */
  onEveryStream(script: StreamScript): this {
    this.streamDefault = script;
    return this;
  }

  /** Calls of either kind, in order. */
  get callCount(): number {
    return this.calls.length;
  }

  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    this.calls.push({ kind: 'chat', request, context, chunksSent: 0, released: true });
    this.journal.push(`${this.name}/${request.model}`);
    const script = this.chatScripts.shift() ??
      this.chatDefault ?? { answer: completionOf(`${this.name} answer ${++this.answered}`) };
    for (let retry = 0; retry < (script.transportRetries ?? 0); retry++) {
      if (!context.budget?.take()) break;
    }
    await waitFor(script, context.cancellation);
    if ('fail' in script) throw script.fail;
    return script.answer;
  }

  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const call: RecordedCall = { kind: 'stream', request, context, chunksSent: 0, released: false };
    this.calls.push(call);
    this.journal.push(`${this.name}/${request.model}`);
    const script = this.streamScripts.shift() ??
      this.streamDefault ?? { steps: textSteps([`${this.name} streamed`], usageOf(10, 5)) };
    try {
      await waitFor(script, context.cancellation);
    } catch (error) {
      call.released = true;
      throw error;
    }
    if ('fail' in script) {
      call.released = true;
      throw script.fail;
    }
    return play(script.steps, call);
  }
}

async function* play(steps: readonly StreamStep[], call: RecordedCall): AsyncGenerator<ChatCompletionChunk> {
  try {
    for (const step of steps) {
      await waitFor(step, call.context.cancellation);
      if ('fail' in step) throw step.fail;
      call.chunksSent++;
      yield step.chunk;
    }
  } finally {
    call.released = true;
  }
}
