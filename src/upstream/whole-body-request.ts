/**
 * One undici request whose answer is read whole, through `dispatch` with a handler that collects the body's
 * buffers: no Readable stream, no async iterator, no stream ticks. For JSON calls (non-streaming completions,
 * embeddings, tokens), the most frequent upstream call; streamed answers use body-stream.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Cancellation } from '../common/cancellation.js';
import { UpstreamError } from '../common/errors/gateway.error.js';

export interface WholeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as UTF-8. */
  text: string;
}

/** Lower-cased header names; repeated headers become arrays (set-cookie) as in Node's IncomingHttpHeaders. */
export function parseRawHeaders(raw: Buffer[] | string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toString().toLowerCase();
    const value = raw[i + 1].toString();
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else headers[name] = [existing, value];
  }
  return headers as IncomingHttpHeaders;
}

function tooLarge(limit: number): UpstreamError {
  return new UpstreamError(`Upstream body exceeds ${limit} bytes.`, { code: 'upstream_invalid_response' });
}

/** undici's legacy handler interface, which `dispatch` calls without wrapping. */
class WholeBodyHandler {
  private abortRequest: ((reason?: Error) => void) | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private settled = false;
  private readonly stopListening: () => void;

  constructor(
    private readonly cancellation: Cancellation,
    private readonly limit: number,
    private readonly resolve: (response: WholeResponse) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.stopListening = cancellation.onCancel(() => this.abort(cancellation.reason as Error));
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortRequest = abort;
    if (this.cancellation.aborted) abort(this.cancellation.reason as Error);
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
    if (this.finish()) {
      const chunks = this.chunks;
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      this.resolve({ status: this.status, headers: this.headers, text });
    }
  }

  onError(error: Error): void {
    if (this.finish()) this.reject(error);
  }

  private abort(reason: Error): void {
    if (this.abortRequest) this.abortRequest(reason);
    else this.onError(reason);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.stopListening();
    return true;
  }
}

/** Sends the request and reads the whole answer (any status), failing past `limit` bytes or when cancelled. */
export function requestWholeBody(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  cancellation: Cancellation,
  limit: number,
): Promise<WholeResponse> {
  return new Promise((resolve, reject) => {
    if (cancellation.aborted) {
      reject(cancellation.reason);
      return;
    }
    dispatcher.dispatch(options, new WholeBodyHandler(cancellation, limit, resolve, reject) as unknown as Dispatcher.DispatchHandler);
  });
}
