/**
 * Chat Completions streams as OpenAI sends them: `data: <chunk json>\n\n` per chunk, then `data: [DONE]\n\n`; a
 * failure after the first chunk ends the stream with one `data: {"error":…}` event and no [DONE].
 */
import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk } from '../../common/openai.types.js';
import { type EventStreamOptions, writeEventStream } from '../../http/event-stream-writer.js';
import { RAW_JSON, type WithRawJson } from '../../providers/llm-provider.js';

export { sseHeadersFor } from '../../http/event-stream-writer.js';

const DONE_FRAME = 'data: [DONE]\n\n';

export function sseFrame(chunk: WithRawJson<ChatCompletionChunk>): string {
  return `data: ${chunk[RAW_JSON] ?? JSON.stringify(chunk)}\n\n`;
}

function errorFrame(error: GatewayError): string {
  return `data: ${JSON.stringify(error.toBody())}\n\n`;
}

export type SseStreamOptions = Pick<EventStreamOptions<ChatCompletionChunk>, 'headers' | 'toError' | 'telemetry'>;

/** Streams chat chunks to the client (see the file comment). A failure before the first chunk is thrown. */
export function writeSseStream(
  reply: FastifyReply,
  chunks: AsyncIterable<ChatCompletionChunk>,
  options: SseStreamOptions,
): Promise<void> {
  return writeEventStream(reply, chunks, { ...options, frame: sseFrame, end: DONE_FRAME, errorFrame });
}
