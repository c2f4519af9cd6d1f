/**
 * The HTTP module's request gate: every answer carries `x-request-id`; an HTTP/1.1 request without `Host` is refused
 * (RFC 9112 §3.2) in the gateway's error shape rather than with Node's empty 400; a JSON route refuses another
 * content type with 415 before its body is read.
 */
import { sendError } from '../common/errors/error-reply.js';
import { GatewayError, InvalidRequestError } from '../common/errors/gateway.error.js';
import type { GateFactory, RequestGate } from './request-gates.js';

const JSON_CONTENT_TYPE = /^application\/json\s*(;|$)/i;

export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && JSON_CONTENT_TYPE.test(value);
}

function unsupportedMediaType(): GatewayError {
  return new GatewayError(415, 'invalid_request_error', "Content-Type must be 'application/json'.", {
    code: 'unsupported_media_type',
  });
}

function missingHost(): GatewayError {
  return new InvalidRequestError('An HTTP/1.1 request must carry a Host header.', null, 'missing_host');
}

export const httpGates: GateFactory = ({ config }) => {
  const jsonBody = config.jsonBody === true;
  const gate: RequestGate = (request, reply) => {
    reply.header('x-request-id', request.id);
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      sendError(request, reply, missingHost());
      return false;
    }
    if (jsonBody && request.method === 'POST' && !isJsonContentType(request.headers['content-type'])) {
      sendError(request, reply, unsupportedMediaType());
      return false;
    }
    return true;
  };
  return gate;
};
