/**
 * Request bodies. JSON goes through Fastify's own parser (prototype-poisoning checks included) after a scan that
 * refuses nesting deeper than `server.maxJsonDepth`: every later walk over the body (validation, the cache key,
 * translation) recurses, and a 4 KB body nested thousands deep must get a 400 here, not a stack overflow there.
 * Any other content type is accepted unread, so an unknown route answers 404 whatever it was sent; JSON routes refuse
 * other types in their gate, before this runs (see http-gates.ts).
 */
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from '../common/errors/gateway.error.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Index of the quote that closes the string whose content starts at `from` (the text's length if none does). */
function endOfString(text: string, from: number): number {
  for (let at = from; ;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    let backslashes = 0;
    for (let j = quote - 1; j >= from && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

/** Whether the JSON text nests objects and arrays more than `limit` deep. Strings are skipped whole. */
export function exceedsJsonDepth(text: string, limit: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = endOfString(text, i + 1);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return false;
}

export function jsonTooDeepError(limit: number): InvalidRequestError {
  return new InvalidRequestError(`The JSON body is nested more than ${limit} levels deep.`, null, 'json_too_deep');
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's text as the client sent it; null for other bodies. */
    rawBody: string | null;
  }
}

export function installBodyParsers(fastify: FastifyInstance, options: { maxDepth: number; bodyLimit: number }): void {
  const { maxDepth, bodyLimit } = options;
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    if (exceedsJsonDepth(body as string, maxDepth)) {
      done(jsonTooDeepError(maxDepth), undefined);
      return;
    }
    // Kept (a reference, not a copy) for native passthrough, which forwards the client's own bytes.
    request.rawBody = body as string;
    void parseJson(request, body as string, done);
  });
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
}
