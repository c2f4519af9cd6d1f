/** The failure taxonomy routing decisions are made on. */
import { ClientClosedError, GatewayError, UpstreamTimeoutError } from '../common/errors/gateway.error.js';

export type FailureClass =
  | 'caller_error'
  | 'auth_error'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'timeout'
  | 'connection_error'
  | 'client_closed';

export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof ClientClosedError) return 'client_closed';
  if (!(error instanceof GatewayError)) return 'server_error';
  switch (error.code) {
    case 'upstream_auth_error':
    case 'upstream_permission_denied':
      return 'auth_error';
    case 'upstream_timeout':
    case 'ttft_timeout':
    case 'idle_timeout':
      return 'timeout';
    case 'upstream_connection_error':
      return 'connection_error';
    case 'overloaded':
      return 'overloaded';
    default:
      break;
  }
  if (error.status === 429) return 'rate_limited';
  if (error.status >= 500) return 'server_error';
  return 'caller_error';
}

/** Caller errors (bad request, unknown model, content too long) would fail anywhere: return them at once. */
export function movesToNextDeployment(failure: FailureClass): boolean {
  return failure !== 'caller_error' && failure !== 'client_closed';
}

/** What counts against a deployment's circuit breaker: its own faults, not the caller's. */
export function countsAgainstDeployment(failure: FailureClass): boolean {
  return movesToNextDeployment(failure);
}

/** Not a GatewayError, thrown by an attempt: a gateway bug, not an upstream answer (clients see a 502). */
export class UnexpectedAttemptError extends GatewayError {
  constructor(cause: unknown) {
    super(502, 'server_error', 'The upstream call failed.', { code: 'upstream_error', retryable: true, cause });
  }
}

/**
 * Whose failure a failed attempt was, for metrics: `upstream` when the provider answered with an error (an HTTP
 * error status, an error event in its stream, a body that is not valid) or its connection failed; `gateway` when
 * the gateway gave up by its own rule (first-byte, total, time-to-first-token, idle and request deadlines) or
 * failed itself.
 */
export function errorOrigin(error: GatewayError): 'upstream' | 'gateway' {
  if (error instanceof UpstreamTimeoutError || error instanceof UnexpectedAttemptError) return 'gateway';
  return error.code === 'ttft_timeout' || error.code === 'idle_timeout' ? 'gateway' : 'upstream';
}
