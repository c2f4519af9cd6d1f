/**
 * The Messages front's error body: `{"type":"error","error":{"type","message"}}` with the statuses Anthropic
 * documents (https://platform.claude.com/docs/en/api/errors): 400 invalid_request_error (also "other 4XX status
 * codes not listed"), 401 authentication_error, 403 permission_error, 404 not_found_error, 413 request_too_large,
 * 429 rate_limit_error, 500 api_error, 504 timeout_error, 529 overloaded_error. `@anthropic-ai/sdk` turns each of
 * these statuses into its own class (`src/core/error.ts`: BadRequestError … GatewayTimeoutError, OverloadedError;
 * other 5xx are InternalServerError), so clients branch on them as they do against Anthropic.
 * The message is the gateway's, already redacted when the error was made.
 */
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type { MessagesErrorBody } from './messages.types.js';

/** Anthropic's own status for "overloaded": what its clients and SDK expect for every capacity refusal. */
const OVERLOADED_STATUS = 529;

const TYPE_BY_STATUS: ReadonlyMap<number, string> = new Map([
  [400, 'invalid_request_error'],
  [401, 'authentication_error'],
  [403, 'permission_error'],
  [404, 'not_found_error'],
  [413, 'request_too_large'],
  [429, 'rate_limit_error'],
  [500, 'api_error'],
  [504, 'timeout_error'],
  [OVERLOADED_STATUS, 'overloaded_error'],
]);

/**
 * The gateway's `overloaded` code and every 503 (a provider at capacity, the gateway draining or a store it depends
 * on being unavailable) become 529 overloaded_error, which the SDK retries. Other statuses are kept: the listed ones
 * with their type, other 4xx as invalid_request_error, other 5xx (502 for a broken upstream) as api_error.
 */
export function anthropicErrorOf(error: GatewayError): { status: number; body: MessagesErrorBody } {
  const status = error.code === 'overloaded' || error.status === 503 ? OVERLOADED_STATUS : error.status;
  const type = TYPE_BY_STATUS.get(status) ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return { status, body: { type: 'error', error: { type, message: error.message } } };
}
