/** The failure taxonomy routing decisions are made on. */
import { ClientClosedError, GatewayError } from '../common/errors/gateway.error.js';

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
