/** The failure taxonomy routing decisions are made on. */
import { ClientClosedError, GatewayError, UpstreamTimeoutError } from '../common/errors/gateway.error.js';

export type FailureClass =
  | 'caller_error'
  | 'gateway_error'
  | 'auth_error'
  | 'rate_limited'
  | 'overloaded'
  | 'server_error'
  | 'timeout'
  | 'connection_error'
  | 'cancelled';

/** Failures that are somebody's fault, for the upstream error metric (a cancelled attempt is nobody's). */
export type CountedFailure = Exclude<FailureClass, 'cancelled'>;

/**
 * The deadline the client asked for (x-gateway-timeout-ms) passed: the usual 504 `upstream_timeout` for the client,
 * but the client's wait, not the deployment's failure.
 */
export class ClientDeadlineError extends UpstreamTimeoutError {
  constructor(ms: number) {
    super(`The request did not complete within the deadline of ${ms} ms it asked for.`);
  }
}

export function classifyFailure(error: unknown): FailureClass {
  if (error instanceof ClientClosedError || error instanceof ClientDeadlineError) return 'cancelled';
  if (error instanceof UnexpectedAttemptError || !(error instanceof GatewayError)) return 'gateway_error';
  switch (error.code) {
    case 'shutting_down':
      return 'cancelled';
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

/**
 * Only the deployment's own failures move on to the next deployment: a request the upstream refused would fail
 * anywhere, a gateway bug is not cured by another deployment, and a cancelled request has nobody to answer.
 */
export function movesToNextDeployment(failure: FailureClass): boolean {
  return failure !== 'caller_error' && failure !== 'gateway_error' && failure !== 'cancelled';
}

/** What counts against a deployment's circuit breaker: its own faults, never the caller's or the gateway's. */
export function countsAgainstDeployment(failure: FailureClass): boolean {
  return movesToNextDeployment(failure);
}

/** Not a GatewayError, thrown by an attempt: a gateway bug (a mapper that threw), answered 500 and never retried. */
export class UnexpectedAttemptError extends GatewayError {
  constructor(cause: unknown) {
    super(500, 'server_error', 'The gateway had an internal error while processing the request.', {
      code: 'internal_error',
      cause,
    });
  }
}

/**
 * Whose failure a failed attempt was, for metrics: `upstream` when the provider answered with an error (an HTTP
 * error status, an error event in its stream, a body that is not valid) or its connection failed; `gateway` when
 * the gateway refused the request itself before it reached the provider (a parameter the provider cannot take), gave
 * up by its own rule (first-byte, total, time-to-first-token, idle and request deadlines) or failed.
 */
export function errorOrigin(error: GatewayError): 'upstream' | 'gateway' {
  if (!error.fromUpstream || error instanceof UpstreamTimeoutError) return 'gateway';
  return error.code === 'ttft_timeout' || error.code === 'idle_timeout' ? 'gateway' : 'upstream';
}
