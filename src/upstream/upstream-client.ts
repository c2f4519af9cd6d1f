/**
 * The one HTTP client every provider uses: keep-alive pools (undici), connect / first-byte / total timeouts,
 * transport retries (network errors before a response, 429, 5xx) with full-jitter exponential backoff that
 * honours Retry-After and `x-should-retry`, drawn from the request's attempt budget, and cancellation by the
 * caller's Cancellation. Providers only build requests and translate answers.
 *
 * Both kinds of answer are read through undici's `dispatch` with small handlers, without Readable streams: JSON
 * answers whole (whole-body-request.ts), streamed answers as soon as their headers arrive, their body through a
 * chunk queue with backpressure (body-stream.ts).
 * undici replaced axios + axios-retry here: see the README's Performance section for the figures.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, propagation, trace } from '@opentelemetry/api';
import { Agent, errors as undiciErrors } from 'undici';
import { type Cancellation, DeadlineExceeded } from '../common/cancellation.js';
import {
  ClientClosedError,
  GatewayError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../common/errors/gateway.error.js';
import type { ProviderConfig } from '../config/gateway-config.js';
import { tracingEnabled } from '../instrumentation.js';
import type { AttemptBudget } from '../routing/attempt-budget.js';
import { backoffDelayMs, parseRetryAfterMs } from './backoff.js';
import { type BodyStream, requestStream } from './body-stream.js';
import { requestWholeBody } from './whole-body-request.js';

/** Turns an upstream's non-2xx answer into a GatewayError; each provider knows its own error format. */
export type UpstreamErrorMapper = (status: number, body: unknown, headers: IncomingHttpHeaders) => GatewayError;

/** `Accept` for streamed answers; one shared object, so the merged request headers are memoised. */
export const SSE_ACCEPT: Readonly<Record<string, string>> = Object.freeze({ accept: 'text/event-stream' });
const NO_EXTRA_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export interface UpstreamRequest {
  /** Path below the provider's base URL, or an absolute URL. */
  path: string;
  method?: 'GET' | 'POST' | 'DELETE';
  /** Serialised as JSON. */
  body?: unknown;
  /** The body exactly as given (a passthrough front's bytes); takes the place of `body`. */
  rawBody?: string;
  headers?: Readonly<Record<string, string>>;
  /** Cancelled when the client leaves or the caller gives up. */
  cancellation: Cancellation;
  /** Transport retries are taken from the request's budget; without one, `retry.retries` alone bounds them. */
  budget?: AttemptBudget;
  /** When `cancellation` fires at the latest (performance.now() ms); see ProviderCallContext. */
  deadlineAt?: number;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: BodyStream;
}

/** One upstream call's cancellation: the caller's, or a child of it with the provider's total timeout. */
interface CallCancellation {
  cancellation: Cancellation;
  dispose: () => void;
}

/** One way of receiving an upstream answer: its status and headers, then its body as the caller needs it. */
interface TransportAnswer<T> {
  status: number;
  headers: IncomingHttpHeaders;
  /** The result for a 2xx answer. */
  success: () => T;
  /** An error answer's body, parsed when it is JSON. */
  errorBody: () => Promise<unknown>;
}

type Transport<T> = (
  options: {
    origin: string;
    path: string;
    method: 'GET' | 'POST' | 'DELETE';
    headers: Record<string, string>;
    body: string | undefined;
  },
  call: CallCancellation,
) => Promise<TransportAnswer<T>>;

export interface UpstreamClientOptions {
  /**
   * Credential headers, read per request so a rotated secret is used at once; the same object while the credential
   * is unchanged (see `credentialHeaders`), which lets the client reuse its merged headers.
   */
  authHeaders?: () => Record<string, string>;
  random?: () => number;
  /** Called when the upstream rejects the credential (401), so a rotated secret is fetched again at once. */
  onCredentialRejected?: () => void;
  /** Called for each transport retry (a metric counts them). */
  onTransportRetry?: () => void;
  /**
   * Headers computed from the final request, on every attempt (retries included): a SigV4 signature over method,
   * URL, headers and body, or an OAuth token fetched (and refreshed) asynchronously. Requests of clients without it
   * are dispatched synchronously.
   */
  signRequest?: (request: SignableRequest) => Promise<Record<string, string>>;
}

/** What `signRequest` sees: the request as it will leave, but for the headers the signer adds. */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Readonly<Record<string, string>>;
  body: string | undefined;
}

const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;

/** Network failures before any response that are safe to retry (the request did not reach the model). */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export class UpstreamClient {
  private readonly dispatcher: Agent;
  private readonly origin: string;
  private readonly basePath: string;
  /** The base URL's own query (`?api-version=…`), kept on every request. */
  private readonly baseQuery: string;
  private readonly defaultHeaders: Record<string, string>;
  private readonly authHeaders: (() => Record<string, string>) | undefined;
  /** The default and credential headers merged, for the credential headers object they were merged with. */
  private readonly merged = new WeakMap<
    Readonly<Record<string, string>>,
    { auth: Record<string, string> | undefined; headers: Record<string, string> }
  >();
  private readonly random: () => number;
  private readonly onCredentialRejected: (() => void) | undefined;
  private readonly onTransportRetry: (() => void) | undefined;
  private readonly signRequest: UpstreamClientOptions['signRequest'];

  constructor(
    private readonly provider: ProviderConfig,
    private readonly mapError: UpstreamErrorMapper,
    options: UpstreamClientOptions = {},
  ) {
    const base = new URL(provider.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.baseQuery = base.search.slice(1);
    this.defaultHeaders = { 'content-type': 'application/json', ...provider.headers };
    this.authHeaders = options.authHeaders;
    this.random = options.random ?? Math.random;
    this.onCredentialRejected = options.onCredentialRejected;
    this.onTransportRetry = options.onTransportRetry;
    this.signRequest = options.signRequest;
    const { pool, timeouts } = provider;
    this.dispatcher = new Agent({
      connections: pool.maxSockets,
      keepAliveTimeout: pool.idleTimeoutMs,
      keepAliveMaxTimeout: pool.idleTimeoutMs,
      // undici's connect timeout covers TCP and, for https, the TLS handshake.
      connect: { timeout: timeouts.connectMs + (base.protocol === 'https:' ? pool.tlsHandshakeTimeoutMs : 0) },
      headersTimeout: timeouts.firstByteMs,
      // Silence between body chunks is the router's idle timeout; the total deadline bounds the rest.
      bodyTimeout: 0,
    });
  }

  /**
   * Sends the request; resolves when a 2xx answer's headers arrive (the body still streaming), rejects with a
   * GatewayError otherwise. The call's total deadline keeps running while the caller reads the body.
   */
  send(request: UpstreamRequest): Promise<UpstreamResponse> {
    return this.exchange(request, async (options, call) => {
      const response = await requestStream(this.dispatcher, options, call.cancellation);
      return {
        status: response.status,
        headers: response.headers,
        success: () => {
          response.body.onEnd(call.dispose);
          return response;
        },
        errorBody: () => readErrorBody(response.body),
      };
    });
  }

  /**
   * Sends the request and parses the whole JSON answer (`text` is the answer as received). The answer is read
   * whole by a dispatch handler, without a body stream: this is the most frequent upstream call.
   */
  async json<T>(
    request: UpstreamRequest,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; data: T; text: string }> {
    const response = await this.exchange(request, async (options, call) => {
      const whole = await requestWholeBody(this.dispatcher, options, call.cancellation, MAX_JSON_BODY_BYTES);
      return {
        status: whole.status,
        headers: whole.headers,
        success: () => {
          call.dispose();
          return whole;
        },
        errorBody: async () => parseErrorBody(whole.text.slice(0, MAX_ERROR_BODY_BYTES)),
      };
    });
    try {
      return {
        status: response.status,
        headers: response.headers,
        data: JSON.parse(response.text) as T,
        text: response.text,
      };
    } catch {
      throw new UpstreamError(`Provider '${this.provider.name}' returned a body that is not valid JSON.`, {
        code: 'upstream_invalid_response',
      });
    }
  }

  /**
   * The transport retry loop around one way of receiving the answer (`transport`): network errors before a
   * response, 429 and 5xx are retried with backoff within the attempt budget; a 2xx answer is the result.
   */
  private async exchange<T>(request: UpstreamRequest, transport: Transport<T>): Promise<T> {
    const call = this.callCancellation(request);
    const { origin, path } = this.target(request.path);
    let headers = this.headersFor(request);
    if (tracingEnabled()) {
      headers = { ...headers };
      propagation.inject(context.active(), headers);
    }
    const body = request.rawBody ?? (request.body === undefined ? undefined : JSON.stringify(request.body));
    const method = request.method ?? 'POST';
    const retry = this.provider.retry;
    for (let retries = 0; ; retries++) {
      let failure: GatewayError | undefined;
      let retryAfterMs: number | undefined;
      let answer: TransportAnswer<T> | undefined;
      try {
        const sent = this.signRequest ? await this.signed(origin, path, method, headers, body) : headers;
        answer = await transport({ origin, path, method, headers: sent, body }, call);
      } catch (error) {
        failure = this.toGatewayError(error, call.cancellation, request.cancellation);
        if (!isRetryableNetworkFailure(failure)) {
          call.dispose();
          throw failure;
        }
      }
      if (answer) {
        const { status, headers: responseHeaders } = answer;
        if (status >= 200 && status < 300) return answer.success();
        const errorBody = await answer.errorBody();
        if (status === 401) this.onCredentialRejected?.();
        failure = this.mapError(status, errorBody, responseHeaders);
        // A vendor that says when to retry in its body (Gemini's RetryInfo) has it on the mapped error instead.
        retryAfterMs = parseRetryAfterMs(responseHeaders) ?? failure.upstreamRetryAfterMs;
        const transient = status === 429 || status >= 500;
        if (
          !transient ||
          responseHeaders['x-should-retry'] === 'false' ||
          (retryAfterMs ?? 0) > retry.maxRetryAfterMs
        ) {
          call.dispose();
          throw failure;
        }
      }
      if (!failure) throw new UpstreamError('The upstream call failed.');
      if (retries >= retry.retries || (request.budget && !request.budget.take())) {
        call.dispose();
        throw failure;
      }
      this.onTransportRetry?.();
      if (tracingEnabled()) {
        trace
          .getActiveSpan()
          ?.addEvent('retry', { 'gateway.retry.count': retries + 1, 'http.response.status_code': failure.status });
      }
      const delay = backoffDelayMs(retries + 1, retry, retryAfterMs, this.random) ?? 0;
      try {
        await sleep(delay, undefined, { signal: call.cancellation.signal });
      } catch (error) {
        call.dispose();
        throw this.toGatewayError(error, call.cancellation, request.cancellation);
      }
      if (this.authHeaders) headers = { ...headers, ...this.authHeaders() };
    }
  }

  close(): void {
    void this.dispatcher.close().catch(() => undefined);
  }

  private async signed(
    origin: string,
    path: string,
    method: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<Record<string, string>> {
    const signature = await this.signRequest!({ method, url: new URL(path, origin), headers, body });
    return { ...headers, ...signature };
  }

  /** Maps transport failures; never includes request headers or URLs (they may hold credentials). */
  toGatewayError(error: unknown, call: Cancellation, caller: Cancellation): GatewayError {
    if (error instanceof GatewayError) return error;
    if (caller.aborted) return new ClientClosedError();
    if (
      call.aborted ||
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError
    ) {
      return new UpstreamTimeoutError(`Provider '${this.provider.name}' did not answer in time.`);
    }
    const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code ?? 'unknown';
    return new UpstreamError(`Could not reach provider '${this.provider.name}' (${code}).`, {
      code: 'upstream_connection_error',
      cause: { code },
    });
  }

  /**
   * Request headers: the caller's never override the credential. Merged once per (caller headers, credential)
   * pair and shared between calls: never mutate. Callers pass constant header objects (SSE_ACCEPT) to hit the memo.
   */
  private headersFor(request: UpstreamRequest): Record<string, string> {
    const auth = this.authHeaders?.();
    const extra = request.headers ?? NO_EXTRA_HEADERS;
    const memo = this.merged.get(extra);
    if (memo !== undefined && memo.auth === auth) return memo.headers;
    const headers = { ...this.defaultHeaders, ...extra, ...auth };
    this.merged.set(extra, { auth, headers });
    return headers;
  }

  /**
   * The call's cancellation: the caller's, plus the provider's total timeout — unless the caller's deadline comes
   * first anyway (the usual case), which spares a listener and a timer per call.
   */
  private callCancellation(request: UpstreamRequest): CallCancellation {
    const totalMs = this.provider.timeouts.totalMs;
    if (request.deadlineAt !== undefined && performance.now() + totalMs >= request.deadlineAt) {
      return { cancellation: request.cancellation, dispose: noop };
    }
    return request.cancellation.child(totalMs, () => new DeadlineExceeded(totalMs));
  }

  private target(path: string): { origin: string; path: string } {
    if (path.startsWith('http://') || path.startsWith('https://')) {
      const url = new URL(path);
      return { origin: url.origin, path: `${url.pathname}${url.search}` };
    }
    if (this.baseQuery === '') return { origin: this.origin, path: `${this.basePath}${path}` };
    const joiner = path.includes('?') ? '&' : '?';
    return { origin: this.origin, path: `${this.basePath}${path}${joiner}${this.baseQuery}` };
  }
}

function noop(): void {}

/** Credential headers built from `read()` (a secret that may rotate), rebuilt only when its value changes. */
export function credentialHeaders(
  read: () => string | undefined,
  build: (credential: string) => Record<string, string>,
): () => Record<string, string> {
  let credential: string | undefined;
  let headers: Record<string, string> = {};
  return () => {
    const current = read();
    if (current !== credential) {
      credential = current;
      headers = current ? build(current) : {};
    }
    return headers;
  };
}

function isRetryableNetworkFailure(error: GatewayError): boolean {
  if (error.code !== 'upstream_connection_error') return false;
  const code = (error.cause as { code?: string } | undefined)?.code;
  return code !== undefined && RETRYABLE_NETWORK_CODES.has(code);
}

/** Reads a whole body as UTF-8, failing past `limit` bytes. */
export async function readBody(body: BodyStream, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError(`Upstream body exceeds ${limit} bytes.`, { code: 'upstream_invalid_response' });
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

/** An error body, parsed as JSON when it is JSON, else its text; truncated, never fails. */
async function readErrorBody(body: BodyStream): Promise<unknown> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += chunk.toString('utf8');
      if (text.length > MAX_ERROR_BODY_BYTES) {
        body.destroy();
        break;
      }
    }
  } catch {
    // A broken error body still leaves us the status code.
  }
  return parseErrorBody(text);
}

function parseErrorBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
