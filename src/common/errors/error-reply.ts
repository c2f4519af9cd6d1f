/** How an error leaves as an HTTP answer, wherever it is produced (a gate, a route, the exception filter). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayError } from './gateway.error.js';

/** The OpenAI SDK ignores a wait longer than 60 s; never advertise more. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Headers that tell the client (and its SDK) whether and when to retry. */
export function retryHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers };
  if (error.retryAfterMs !== undefined) {
    const ms = Math.min(Math.max(0, Math.ceil(error.retryAfterMs)), MAX_RETRY_AFTER_MS);
    headers['retry-after'] = String(Math.ceil(ms / 1000));
    headers['retry-after-ms'] = String(ms);
  }
  // The SDK retries 408/409/429/5xx by status; say so when that cannot help.
  if (!error.retryable && (error.status === 429 || error.status >= 500)) headers['x-should-retry'] = 'false';
  return headers;
}

/** Answers the request with `error` (status, retry hints, body), and records its code on the request's telemetry. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: GatewayError): void {
  if (request.telemetry) request.telemetry.errorCode = error.code ?? undefined;
  void reply.headers(retryHeaders(error)).code(error.status).send(error.toBody());
}
