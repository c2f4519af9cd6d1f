/**
 * What the gateway's two undici `dispatch` handlers (whole-body-request.ts, body-stream.ts) share: undici's legacy
 * handler interface, which `dispatch` calls without wrapping; following the call's Cancellation until the outcome
 * is known; aborting the request; and the response headers in Node's shape.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Cancellation } from '../common/cancellation.js';

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
  return headers;
}

export abstract class CancellableHandler {
  private abortRequest: ((reason?: Error) => void) | undefined;
  private settled = false;
  private readonly stopListening: () => void;

  constructor(private readonly cancellation: Cancellation) {
    this.stopListening = cancellation.onCancel(() => this.abort(cancellation.reason as Error));
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.abortRequest = abort;
    if (this.cancellation.aborted) abort(this.cancellation.reason as Error);
  }

  abstract onError(error: Error): void;

  protected abort(reason: Error): void {
    if (this.abortRequest) this.abortRequest(reason);
    else this.onError(reason);
  }

  /** Stops following the cancellation; true only the first time, so the outcome is reported once. */
  protected settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.stopListening();
    return true;
  }
}

/** Dispatches with the handler `create` builds, unless the call is already cancelled. */
export function dispatchWith<T>(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  cancellation: Cancellation,
  create: (resolve: (value: T) => void, reject: (error: unknown) => void) => CancellableHandler,
): Promise<T> {
  return new Promise((resolve, reject) => {
    if (cancellation.aborted) {
      reject(cancellation.reason);
      return;
    }
    dispatcher.dispatch(options, create(resolve, reject));
  });
}
