/**
 * Writes chat completion chunks to the client as OpenAI's SSE: `data: <json>\n\n` per chunk, then
 * `data: [DONE]\n\n`, honouring backpressure. Headers wait for the first chunk, so an upstream that fails
 * before producing anything still gets a proper HTTP error status.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk } from '../../common/openai.types.js';
import type { RequestTelemetry } from '../../observability/request-telemetry.js';
import { RAW_JSON, type WithRawJson } from '../../providers/llm-provider.js';

const DONE_FRAME = 'data: [DONE]\n\n';
const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

export function sseFrame(chunk: WithRawJson<ChatCompletionChunk>): string {
  return `data: ${chunk[RAW_JSON] ?? JSON.stringify(chunk)}\n\n`;
}

/**
 * The headers every SSE answer starts from: those already set on the reply (request id) and the event-stream
 * ones. Built before routing, so that once the first chunk is there only the request's own headers are added.
 */
export function sseHeadersFor(reply: FastifyReply): OutgoingHttpHeaders {
  return Object.assign(reply.getHeaders() as OutgoingHttpHeaders, SSE_HEADERS);
}

/** Resolves when the socket can take more data, or when it closed (then writing stops). */
function writable(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

export interface SseStreamOptions {
  /** Turns a failure inside the stream into the error event sent to the client. */
  toError: (error: unknown) => GatewayError;
  /** The response headers: `sseHeadersFor(reply)` plus the request's own (rate limits, routing facts). */
  headers: OutgoingHttpHeaders;
  /** Told when the stream opens (time to first token, open streams) and which error ended it. */
  telemetry?: RequestTelemetry;
}

/**
 * Streams `chunks` to the client. A failure before the first chunk is thrown (the caller answers with an
 * HTTP error); after it, the stream ends with one `data: {"error":...}` event and no [DONE].
 */
export async function writeSseStream(
  reply: FastifyReply,
  chunks: AsyncIterable<ChatCompletionChunk>,
  options: SseStreamOptions,
): Promise<void> {
  const iterator = chunks[Symbol.asyncIterator]();
  let next = await iterator.next();
  const response = reply.raw;
  if (response.destroyed) {
    await iterator.return?.();
    return;
  }
  reply.hijack();
  response.writeHead(200, options.headers);
  options.telemetry?.streamOpened();
  try {
    while (!next.done) {
      if (response.destroyed) break;
      if (!response.write(sseFrame(next.value))) await writable(response);
      next = await iterator.next();
    }
    if (!response.destroyed) response.end(DONE_FRAME);
  } catch (thrown) {
    const error = options.toError(thrown);
    if (options.telemetry) options.telemetry.errorCode = error.code ?? undefined;
    if (!response.destroyed) response.end(`data: ${JSON.stringify(error.toBody())}\n\n`);
  } finally {
    if (!next.done) await iterator.return?.().catch(() => undefined);
  }
}
