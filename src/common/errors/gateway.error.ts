/**
 * Every failure the gateway reports is a GatewayError: it carries the HTTP status, OpenAI's error `type`
 * and `code`, and whether trying again (here or in the client) can help. Messages are redacted when the error is
 * made (they may quote an upstream, which may quote our credentials), so no later reader can leak a secret.
 */
import { redact } from '../redaction.js';

/** Longest client-supplied value quoted in an error message. */
const MAX_ECHO_CHARS = 64;

/** A client-supplied value as an error message quotes it: clipped, so a 1 MB model name gives a short error. */
export function echo(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.length > MAX_ECHO_CHARS ? `${text.slice(0, MAX_ECHO_CHARS)}…` : text;
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface GatewayErrorOptions {
  param?: string | null;
  code?: string | null;
  retryable?: boolean;
  /** How long the caller should wait before trying again, when known. */
  retryAfterMs?: number;
  /** The wait the upstream itself asked for (a header or its error body), as opposed to a default. */
  upstreamRetryAfterMs?: number;
  /** Extra response headers (e.g. x-ratelimit-*). */
  headers?: Record<string, string>;
  /** The provider answered with this error (or its connection failed), as opposed to the gateway refusing or failing. */
  fromUpstream?: boolean;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly param: string | null;
  readonly code: string | null;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly upstreamRetryAfterMs: number | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly fromUpstream: boolean;

  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    options: GatewayErrorOptions = {},
  ) {
    super(redact(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.upstreamRetryAfterMs = options.upstreamRetryAfterMs;
    this.headers = options.headers;
    this.fromUpstream = options.fromUpstream ?? false;
  }

  toBody(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export class InvalidRequestError extends GatewayError {
  constructor(message: string, param: string | null = null, code: string | null = 'invalid_request') {
    super(400, 'invalid_request_error', message, { param, code });
  }
}

export class AuthenticationError extends GatewayError {
  constructor(message = 'Invalid or missing API key.', code = 'invalid_api_key') {
    super(401, 'authentication_error', message, { code });
  }
}

export class PermissionDeniedError extends GatewayError {
  constructor(message: string, code = 'permission_denied') {
    super(403, 'permission_error', message, { code });
  }
}

export class NotFoundError extends GatewayError {
  constructor(message: string, code = 'not_found', param: string | null = null) {
    super(404, 'invalid_request_error', message, { code, param });
  }
}

export class ModelNotFoundError extends NotFoundError {
  constructor(model: string) {
    super(`The model '${echo(model)}' does not exist or you do not have access to it.`, 'model_not_found', 'model');
  }
}

export class PayloadTooLargeError extends GatewayError {
  constructor(limitBytes: number) {
    super(413, 'invalid_request_error', `Request body is larger than the limit of ${limitBytes} bytes.`, {
      code: 'request_too_large',
    });
  }
}

export class RateLimitError extends GatewayError {
  constructor(message: string, retryAfterMs?: number, code = 'rate_limit_exceeded', headers?: Record<string, string>) {
    super(429, 'rate_limit_error', message, { code, retryable: true, retryAfterMs, headers });
  }
}

/** The upstream answered with an error that is not the caller's fault (5xx, bad payload, 4xx we caused). */
export class UpstreamError extends GatewayError {
  constructor(message: string, options: GatewayErrorOptions & { status?: number } = {}) {
    super(options.status ?? 502, 'server_error', message, {
      code: 'upstream_error',
      retryable: true,
      fromUpstream: true,
      ...options,
    });
  }
}

export class UpstreamTimeoutError extends GatewayError {
  constructor(message = 'The upstream provider did not answer in time.') {
    super(504, 'server_error', message, { code: 'upstream_timeout', retryable: true });
  }
}

export class ServiceUnavailableError extends GatewayError {
  constructor(message: string, retryAfterMs?: number, code = 'service_unavailable') {
    super(503, 'server_error', message, { code, retryable: true, retryAfterMs });
  }
}

/** The client went away; there is nobody to answer, so this is never rendered. */
export class ClientClosedError extends GatewayError {
  constructor() {
    super(499, 'client_closed', 'The client closed the connection.', { code: 'client_closed' });
  }
}
