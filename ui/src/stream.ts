/**
 * The Playground's streams: an SSE reader over fetch's body, and what each front's events mean (text, usage), so
 * one screen can show the tokens of Chat Completions, Responses and Messages alike.
 */
export type Front = 'chat' | 'responses' | 'messages';

export interface SseEvent {
  event: string | null;
  data: string;
}

/** Splits SSE text into events; returns the events and the unfinished rest. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const normalised = buffer.replace(/\r\n/g, '\n');
  const frames = normalised.split('\n\n');
  const rest = frames.pop() ?? '';
  for (const frame of frames) {
    let event: string | null = null;
    const data: string[] = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return { events, rest };
}

export interface StreamUsage {
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  reasoningTokens?: number;
}

export interface StreamPiece {
  text?: string;
  usage?: StreamUsage;
  error?: string;
  done?: boolean;
}

type Json = Record<string, unknown>;
const obj = (value: unknown): Json => (value !== null && typeof value === 'object' ? (value as Json) : {});
const num = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);
const str = (value: unknown, fallback = ''): string => (typeof value === 'string' ? value : fallback);

/** What one event of a front's stream carries. */
export function readEvent(front: Front, event: SseEvent): StreamPiece {
  if (event.data === '[DONE]') return { done: true };
  let body: Json;
  try {
    body = obj(JSON.parse(event.data));
  } catch {
    return {};
  }
  if (body.error !== undefined) return { error: str(obj(body.error).message, 'stream error') };
  if (front === 'chat') {
    const choice = obj((body.choices as unknown[] | undefined)?.[0]);
    const text = obj(choice.delta).content;
    const usage = body.usage ? obj(body.usage) : undefined;
    return {
      text: typeof text === 'string' ? text : undefined,
      usage: usage && {
        promptTokens: num(usage.prompt_tokens),
        completionTokens: num(usage.completion_tokens),
        cachedTokens: num(obj(usage.prompt_tokens_details).cached_tokens),
        reasoningTokens: num(obj(usage.completion_tokens_details).reasoning_tokens),
      },
    };
  }
  if (front === 'responses') {
    const type = event.event ?? str(body.type);
    if (type === 'response.output_text.delta') return { text: str(body.delta) };
    if (type === 'response.completed') {
      const usage = obj(obj(body.response).usage);
      return {
        done: true,
        usage: {
          promptTokens: num(usage.input_tokens),
          completionTokens: num(usage.output_tokens),
          cachedTokens: num(obj(usage.input_tokens_details).cached_tokens),
          reasoningTokens: num(obj(usage.output_tokens_details).reasoning_tokens),
        },
      };
    }
    if (type === 'response.failed' || type === 'error') {
      return { error: str(obj(obj(body.response).error).message, str(body.message, 'failed')) };
    }
    return {};
  }
  const type = event.event ?? str(body.type);
  if (type === 'content_block_delta') {
    const delta = obj(body.delta);
    return delta.type === 'text_delta' ? { text: str(delta.text) } : {};
  }
  if (type === 'message_start') {
    const usage = obj(obj(body.message).usage);
    return { usage: { promptTokens: num(usage.input_tokens), cachedTokens: num(usage.cache_read_input_tokens) } };
  }
  if (type === 'message_delta') return { usage: { completionTokens: num(obj(body.usage).output_tokens) } };
  if (type === 'message_stop') return { done: true };
  return {};
}

/** The request body and path of a one-message streamed chat on a front. */
export function streamRequest(front: Front, model: string, message: string): { path: string; body: unknown } {
  if (front === 'chat') {
    return {
      path: '/v1/chat/completions',
      body: {
        model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: 'user', content: message }],
      },
    };
  }
  if (front === 'responses') return { path: '/v1/responses', body: { model, stream: true, input: message } };
  return {
    path: '/v1/messages',
    body: { model, stream: true, max_tokens: 512, messages: [{ role: 'user', content: message }] },
  };
}
