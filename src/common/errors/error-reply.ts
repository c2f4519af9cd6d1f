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

/** The shape errors take on a route: OpenAI's (chat, Responses, everything else) or Anthropic's (Messages). */
export type ErrorFormat = 'openai' | 'anthropic';

/** How an error is rendered in one format: its status and body. */
export type ErrorRenderer = (error: GatewayError) => { status: number; body: unknown };

const renderers: Record<ErrorFormat, ErrorRenderer> = {
  openai: (error) => ({ status: error.status, body: error.toBody() }),
  // Replaced by the Messages front's renderer when it is loaded (see fronts/messages).
  anthropic: (error) => ({ status: error.status, body: error.toBody() }),
};

/** Installs a front's renderer for its format (the Messages front installs Anthropic's). */
export function useErrorRenderer(format: ErrorFormat, renderer: ErrorRenderer): void {
  renderers[format] = renderer;
}

export function renderError(error: GatewayError, format: ErrorFormat = 'openai'): { status: number; body: unknown } {
  return renderers[format](error);
}

/**
 * The error format of the URL's API, for errors before any route matched: the Messages API's paths answer in
 * Anthropic's shape. The path is read as the router reads it (query and `;` parameters cut, percent-encoding decoded,
 * repeated slashes collapsed), so `/%76%31/messages` is the Messages API here as it is there.
 */
export function errorFormatOfPath(url: string): ErrorFormat {
  return routerPath(url).startsWith('/v1/messages') ? 'anthropic' : 'openai';
}

function routerPath(url: string): string {
  const path = url.split(/[?#;]/, 1)[0];
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape: the router refuses such a path; the raw text decides the format.
  }
  return decoded.replace(/\/{2,}/g, '/');
}

/** The error format of the route that matched, or of the URL when none did. */
export function errorFormatOf(request: FastifyRequest): ErrorFormat {
  return request.routeOptions.config?.errorFormat ?? errorFormatOfPath(request.url);
}

/**
 * Answers the request with `error` in its route's format (status, retry hints, body), and records its code on the
 * request's telemetry.
 */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: GatewayError): void {
  if (request.telemetry) request.telemetry.errorCode = error.code ?? undefined;
  const { status, body } = renderError(error, errorFormatOf(request));
  void reply.headers(retryHeaders(error)).code(status).send(body);
}
