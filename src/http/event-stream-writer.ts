/**
 * Writes a front's stream items to the client as `text/event-stream`, honouring backpressure. Headers wait for the
 * first item, so an upstream that fails before producing anything still gets a proper HTTP error status; a failure
 * after it ends the stream with the front's own error frame, never a silent end.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { GatewayError } from '../common/errors/gateway.error.js';
import type { RequestTelemetry } from '../observability/request-telemetry.js';

const SSE_HEADERS: OutgoingHttpHeaders = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/**
 * The headers every SSE answer starts from: those already set on the reply (request id) and the event-stream
 * ones. Built before routing, so that once the first item is there only the request's own headers are added.
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

export interface EventStreamOptions<Item> {
  /** The response headers: `sseHeadersFor(reply)` plus the request's own (rate limits, routing facts). */
  headers: OutgoingHttpHeaders;
  /** One item as its SSE frame(s). */
  frame: (item: Item) => string;
  /** Written after the last item (chat's `data: [DONE]`); nothing when absent. */
  end?: string;
  /** Turns a failure inside the stream into the error the client is told. */
  toError: (error: unknown) => GatewayError;
  /** The frame that tells the client about it. */
  errorFrame: (error: GatewayError) => string;
  /** Told when the stream opens (time to first token, open streams) and which error ended it. */
  telemetry?: RequestTelemetry;
}

/** Streams `items` to the client (see the file comment). A failure before the first item is thrown. */
export async function writeEventStream<Item>(
  reply: FastifyReply,
  items: AsyncIterable<Item>,
  options: EventStreamOptions<Item>,
): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  let next = await iterator.next();
  const response = reply.raw;
  if (response.destroyed) {
    await iterator.return?.();
    return;
  }
  reply.hijack();
  response.writeHead(200, options.headers);
  options.telemetry?.streamOpened();
  const frame = options.frame;
  try {
    while (!next.done) {
      if (response.destroyed) break;
      if (!response.write(frame(next.value))) await writable(response);
      next = await iterator.next();
    }
    if (!response.destroyed) response.end(options.end);
  } catch (thrown) {
    const error = options.toError(thrown);
    if (options.telemetry) options.telemetry.errorCode = error.code ?? undefined;
    if (!response.destroyed) response.end(options.errorFrame(error));
  } finally {
    if (!next.done) await iterator.return?.().catch(() => undefined);
  }
}
