/**
 * The vocabulary providers use to report upstream failures (spec §4.6): every provider maps its vendor's errors
 * onto these, so clients see one error model whichever provider served them.
 * Messages are prefixed with the provider name and carry only the vendor's message text, never request data.
 */
import { GatewayError, type GatewayErrorOptions } from '../common/errors/gateway.error.js';

const MAX_MESSAGE_LENGTH = 500;

function prefixed(provider: string, message: string | undefined, fallback: string): string {
  const text = (message ?? '').trim() || fallback;
  return `${provider}: ${text.length > MAX_MESSAGE_LENGTH ? `${text.slice(0, MAX_MESSAGE_LENGTH)}…` : text}`;
}

/** An error the provider answered with: counted against it (metrics, breaker) as the upstream's. */
function fromUpstream(status: number, type: string, message: string, options: GatewayErrorOptions): GatewayError {
  return new GatewayError(status, type, message, { ...options, fromUpstream: true });
}

export const upstreamErrors = {
  rateLimited: (provider: string, message?: string, retryAfterMs?: number) =>
    fromUpstream(429, 'rate_limit_exceeded', prefixed(provider, message, 'rate limit reached'), {
      code: 'rate_limit_exceeded',
      retryable: true,
      retryAfterMs: retryAfterMs ?? 1_000,
      upstreamRetryAfterMs: retryAfterMs,
    }),
  insufficientQuota: (provider: string, message?: string) =>
    fromUpstream(429, 'insufficient_quota', prefixed(provider, message, 'quota exhausted'), {
      code: 'insufficient_quota',
      retryable: false,
    }),
  overloaded: (provider: string, message?: string, retryAfterMs?: number) =>
    fromUpstream(503, 'server_error', prefixed(provider, message, 'overloaded'), {
      code: 'overloaded',
      retryable: true,
      retryAfterMs: retryAfterMs ?? 1_000,
      upstreamRetryAfterMs: retryAfterMs,
    }),
  serverError: (provider: string, message?: string, status = 500) =>
    fromUpstream(
      status >= 500 && status <= 599 ? status : 500,
      'server_error',
      prefixed(provider, message, 'server error'),
      {
        code: 'upstream_error',
        retryable: true,
      },
    ),
  timeout: (provider: string, message?: string) =>
    fromUpstream(504, 'server_error', prefixed(provider, message, 'timed out'), {
      code: 'upstream_timeout',
      retryable: true,
    }),
  badRequest: (provider: string, message?: string, param: string | null = null, code = 'invalid_request') =>
    fromUpstream(400, 'invalid_request_error', prefixed(provider, message, 'invalid request'), { code, param }),
  contextLengthExceeded: (provider: string, message?: string) =>
    fromUpstream(400, 'invalid_request_error', prefixed(provider, message, 'input is too long'), {
      code: 'context_length_exceeded',
      param: 'messages',
    }),
  requestTooLarge: (provider: string, message?: string) =>
    fromUpstream(413, 'invalid_request_error', prefixed(provider, message, 'request too large'), {
      code: 'request_too_large',
    }),
  modelNotFound: (provider: string, message?: string) =>
    fromUpstream(404, 'invalid_request_error', prefixed(provider, message, 'model not found'), {
      code: 'model_not_found',
      param: 'model',
    }),
  permissionDenied: (provider: string, message?: string) =>
    fromUpstream(403, 'permission_error', prefixed(provider, message, 'permission denied'), {
      code: 'upstream_permission_denied',
    }),
  /** The gateway's own provider credential was refused: a 502, not the caller's 401. */
  authFailed: (provider: string) =>
    fromUpstream(502, 'server_error', `${provider}: the gateway's credentials for this provider were rejected`, {
      code: 'upstream_auth_error',
      retryable: false,
    }),
  invalidResponse: (provider: string, message?: string) =>
    fromUpstream(502, 'server_error', prefixed(provider, message, 'invalid response'), {
      code: 'upstream_invalid_response',
      retryable: true,
    }),
  /** The stream broke after it started: sent to the client as one error event. */
  streamInterrupted: (provider: string, message?: string) =>
    fromUpstream(502, 'server_error', prefixed(provider, message, 'the stream ended before it was complete'), {
      code: 'upstream_stream_interrupted',
      retryable: true,
    }),
};
