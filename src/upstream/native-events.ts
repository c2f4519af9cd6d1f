/**
 * A native stream (Anthropic Messages, OpenAI Responses) read as events, each with its name and data exactly as the
 * upstream sent them, for a front that forwards them unchanged. An error event, or an end before a terminal event,
 * is thrown: the front then ends its stream with its own error event, and routing counts the failure.
 */
import { GatewayError } from '../common/errors/gateway.error.js';
import type { NativeEvent } from '../providers/llm-provider.js';
import { upstreamErrors } from '../providers/provider-errors.js';
import { SseParser } from './sse-parser.js';

export interface NativeStreamRules {
  provider: string;
  /** Events after which the stream is complete (`message_stop`; `response.completed`, …). */
  terminal: ReadonlySet<string>;
  /** The error a failure event means, or undefined for an ordinary event. */
  failureOf(event: NativeEvent): GatewayError | undefined;
}

export async function* readNativeEvents(
  body: AsyncIterable<Buffer | string>,
  rules: NativeStreamRules,
): AsyncGenerator<NativeEvent> {
  const parser = new SseParser();
  let complete = false;
  try {
    for await (const bytes of body) {
      const events = parser.push(bytes);
      for (let i = 0; i < events.length; i++) {
        const event: NativeEvent = { event: events[i].event ?? 'message', data: events[i].data };
        const failure = rules.failureOf(event);
        if (failure) throw failure;
        yield event;
        if (rules.terminal.has(event.event)) complete = true;
      }
    }
    for (const parsed of parser.end()) {
      const event: NativeEvent = { event: parsed.event ?? 'message', data: parsed.data };
      const failure = rules.failureOf(event);
      if (failure) throw failure;
      yield event;
      if (rules.terminal.has(event.event)) complete = true;
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw upstreamErrors.streamInterrupted(rules.provider, 'the connection to the provider was lost mid-stream');
  }
  if (!complete) throw upstreamErrors.streamInterrupted(rules.provider);
}
