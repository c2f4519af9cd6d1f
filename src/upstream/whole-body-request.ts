/**
 * One undici request whose answer is read whole, through `dispatch` with a handler that collects the body's
 * buffers: no Readable stream, no async iterator, no stream ticks. For JSON calls (non-streaming completions,
 * embeddings, tokens), the most frequent upstream call; streamed answers use body-stream.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Cancellation } from '../common/cancellation.js';
import { UpstreamError } from '../common/errors/gateway.error.js';
import { CancellableHandler, dispatchWith, parseRawHeaders } from './dispatch-handler.js';

export interface WholeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8. */
  text: string;
}

function tooLarge(limit: number): UpstreamError {
  return new UpstreamError(`Upstream body exceeds ${limit} bytes.`, { code: 'upstream_invalid_response' });
}

class WholeBodyHandler extends CancellableHandler {
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    cancellation: Cancellation,
    private readonly limit: number,
    private readonly resolve: (response: WholeResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    super(cancellation);
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true;
    this.status = status;
    this.headers = parseRawHeaders(rawHeaders);
    if (Number(this.headers['content-length']) > this.limit) this.abort(tooLarge(this.limit));
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.abort(tooLarge(this.limit));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (this.settle()) {
      const chunks = this.chunks;
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      this.resolve({ status: this.status, headers: this.headers, text });
    }
  }

  onError(error: Error): void {
    if (this.settle()) this.reject(error);
  }
}

/** Sends the request and reads the whole answer (any status), failing past `limit` bytes or when cancelled. */
export function requestWholeBody(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  cancellation: Cancellation,
  limit: number,
): Promise<WholeResponse> {
  return dispatchWith(
    dispatcher,
    options,
    cancellation,
    (resolve, reject) => new WholeBodyHandler(cancellation, limit, resolve, reject),
  );
}
