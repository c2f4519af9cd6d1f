/**
 * The one HTTP client every provider uses: keep-alive pools, connect / first-byte / total timeouts, transport
 * retries (axios-retry: network errors, 429, 5xx) with full-jitter backoff honouring Retry-After, and
 * cancellation by the caller's AbortSignal. Providers only build requests and translate answers.
 *
 * Bodies always come back as streams so that headers (first byte) are observable and a JSON body is read once.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig, type InternalAxiosRequestConfig } from 'axios';
import axiosRetry from 'axios-retry';
import type { ProviderConfig } from '../config/gateway-config.js';
import {
  ClientClosedError,
  GatewayError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../common/errors/gateway.error.js';
import { backoffDelayMs, parseRetryAfterMs } from './backoff.js';
import { createAgents } from './keep-alive-agents.js';
import type { AttemptBudget } from '../routing/attempt-budget.js';

/** Turns an upstream's non-2xx answer into a GatewayError; each provider knows its own error format. */
export type UpstreamErrorMapper = (status: number, body: unknown, headers: IncomingHttpHeaders) => GatewayError;

export interface UpstreamRequest {
  /** Path below the provider's base URL, or an absolute URL. */
  path: string;
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborted when the client leaves or the caller gives up. */
  signal: AbortSignal;
  /** Transport retries are taken from the request's budget; without one, `retry.retries` alone bounds them. */
  budget?: AttemptBudget;
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_JSON_BODY_BYTES = 64 * 1024 * 1024;
const FIRST_BYTE_TIMER = Symbol('firstByteTimer');

type TimedConfig = InternalAxiosRequestConfig & {
  [FIRST_BYTE_TIMER]?: NodeJS.Timeout;
  /** The attempt's own signal: aborted with FirstByteTimeout when headers are late. */
  attemptSignal?: AbortSignal;
  callSignal?: AbortSignal;
  budget?: AttemptBudget;
};

class FirstByteTimeout extends Error {}

export interface UpstreamClientOptions {
  /** Credential headers, read per request so a rotated secret is used at once. */
  authHeaders?: () => Record<string, string>;
  random?: () => number;
}

export class UpstreamClient {
  private readonly http: AxiosInstance;
  private readonly authHeaders: (() => Record<string, string>) | undefined;

  constructor(
    private readonly provider: ProviderConfig,
    private readonly mapError: UpstreamErrorMapper,
    options: UpstreamClientOptions = {},
  ) {
    const random = options.random ?? Math.random;
    this.authHeaders = options.authHeaders;
    const { httpAgent, httpsAgent } = createAgents(provider.pool, provider.timeouts.connectMs);
    this.http = axios.create({
      baseURL: provider.baseUrl.replace(/\/+$/, ''),
      httpAgent,
      httpsAgent,
      responseType: 'stream',
      maxRedirects: 0,
      proxy: false,
      decompress: true,
      headers: { 'content-type': 'application/json', ...provider.headers },
      transitional: { clarifyTimeoutError: true },
    });
    const firstByteMs = provider.timeouts.firstByteMs;
    // Per attempt: a first-byte timer joined to the call's signal. Retries run this interceptor again.
    this.http.interceptors.request.use((config: TimedConfig) => {
      const callSignal = config.callSignal ?? (config.signal as AbortSignal);
      config.callSignal = callSignal;
      const attempt = new AbortController();
      config[FIRST_BYTE_TIMER] = setTimeout(() => attempt.abort(new FirstByteTimeout()), firstByteMs);
      config.attemptSignal = attempt.signal;
      config.signal = AbortSignal.any([callSignal, attempt.signal]);
      return config;
    });
    // Registered before axios-retry so that its retry decision sees the error body already read.
    this.http.interceptors.response.use(
      (response) => {
        clearTimeout((response.config as TimedConfig)[FIRST_BYTE_TIMER]);
        return response;
      },
      async (error: unknown) => {
        if (error instanceof AxiosError) {
          clearTimeout((error.config as TimedConfig | undefined)?.[FIRST_BYTE_TIMER]);
          if (error.response && isReadable(error.response.data)) {
            error.response.data = await readErrorBody(error.response.data);
          }
        }
        throw error;
      },
    );
    const retry = provider.retry;
    axiosRetry(this.http, {
      retries: retry.retries,
      shouldResetTimeout: true,
      retryCondition: (error) => {
        const config = error.config as TimedConfig | undefined;
        if (axios.isCancel(error) || config?.callSignal?.aborted) return false;
        const status = error.response?.status;
        if (status === undefined) {
          if (error.code === AxiosError.ERR_CANCELED) return false;
          return config?.budget ? config.budget.take() : true;
        }
        if (status !== 429 && status < 500) return false;
        const retryAfter = parseRetryAfterMs(error.response?.headers as Record<string, unknown>);
        if (retryAfter !== undefined && retryAfter > retry.maxRetryAfterMs) return false;
        if (shouldRetryHeader(error.response?.headers) === false) return false;
        return config?.budget ? config.budget.take() : true;
      },
      retryDelay: (retryCount, error) =>
        backoffDelayMs(
          retryCount,
          retry,
          parseRetryAfterMs(error.response?.headers as Record<string, unknown> | undefined),
          random,
        ) ?? 0,
    });
  }

  /**
   * Sends the request; resolves when a 2xx answer's headers arrive (the body still streaming), rejects with a
   * GatewayError otherwise. The call's total deadline keeps running while the caller reads the body.
   */
  async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(this.provider.timeouts.totalMs)]);
    try {
      const response = await this.http.request<Readable>({
        url: request.path,
        method: request.method ?? 'POST',
        data: request.body,
        headers: this.authHeaders ? { ...request.headers, ...this.authHeaders() } : request.headers,
        signal,
        budget: request.budget,
      } as AxiosRequestConfig);
      const body = response.data;
      if (!signal.aborted) {
        const onAbort = () => body.destroy(abortReason(signal, request.signal));
        signal.addEventListener('abort', onAbort, { once: true });
        body.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      return { status: response.status, headers: response.headers as IncomingHttpHeaders, body };
    } catch (error) {
      throw this.toGatewayError(error, signal, request.signal);
    }
  }

  /** Sends the request and parses the whole JSON answer. */
  async json<T>(request: UpstreamRequest): Promise<{ status: number; headers: IncomingHttpHeaders; data: T }> {
    const response = await this.send(request);
    const text = await readBody(response.body, MAX_JSON_BODY_BYTES).catch((error: unknown) => {
      throw this.toGatewayError(error, request.signal, request.signal);
    });
    try {
      return { status: response.status, headers: response.headers, data: JSON.parse(text) as T };
    } catch {
      throw new UpstreamError(`Provider '${this.provider.name}' returned a body that is not valid JSON.`, {
        code: 'upstream_invalid_response',
      });
    }
  }

  close(): void {
    const defaults = this.http.defaults;
    defaults.httpAgent?.destroy();
    defaults.httpsAgent?.destroy();
  }

  /** Maps transport failures; never includes request headers (they hold the provider key). */
  toGatewayError(error: unknown, callSignal: AbortSignal, clientSignal: AbortSignal): GatewayError {
    if (error instanceof GatewayError) return error;
    if (clientSignal.aborted) return new ClientClosedError();
    if (error instanceof AxiosError && error.response) {
      if (error.response.status === 401) this.provider.onCredentialRejected?.();
      return this.mapError(error.response.status, error.response.data, error.response.headers as IncomingHttpHeaders);
    }
    const attemptSignal = (error as { config?: TimedConfig }).config?.attemptSignal;
    if (callSignal.aborted || attemptSignal?.reason instanceof FirstByteTimeout || isTimeout(error)) {
      return new UpstreamTimeoutError(`Provider '${this.provider.name}' did not answer in time.`);
    }
    const code = (error as { code?: string }).code ?? 'unknown';
    return new UpstreamError(`Could not reach provider '${this.provider.name}' (${code}).`, {
      code: 'upstream_connection_error',
    });
  }
}

function abortReason(callSignal: AbortSignal, clientSignal: AbortSignal): GatewayError {
  return clientSignal.aborted ? new ClientClosedError() : new UpstreamTimeoutError();
}

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ECONNTIMEOUT' || code === AxiosError.ETIMEDOUT || code === 'ECONNABORTED';
}

function isReadable(value: unknown): value is Readable {
  return typeof (value as Readable | null)?.pipe === 'function';
}

function shouldRetryHeader(headers: unknown): boolean | undefined {
  const value = (headers as Record<string, unknown> | undefined)?.['x-should-retry'];
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

/** Reads a whole body as UTF-8, failing past `limit` bytes. */
export async function readBody(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamError(`Upstream body exceeds ${limit} bytes.`, { code: 'upstream_invalid_response' });
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
}

/** An error body, parsed as JSON when it is JSON, else its text; truncated, never fails. */
async function readErrorBody(body: Readable): Promise<unknown> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_ERROR_BODY_BYTES) {
        body.destroy();
        break;
      }
    }
  } catch {
    // A broken error body still leaves us the status code.
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
