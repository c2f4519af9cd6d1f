/** Normalises anything thrown in a request into a GatewayError that is safe to show the client. */
import { HttpException } from '@nestjs/common';
import {
  GatewayError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitError,
} from './gateway.error.js';

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  message?: string;
}

export function toGatewayError(error: unknown, bodyLimitBytes: number): GatewayError {
  if (error instanceof GatewayError) return error;
  // Nest hands Fastify's own errors (a body that is not JSON) over wrapped in an HttpException.
  if (error instanceof HttpException && (error.cause as FastifyLikeError | undefined)?.code?.startsWith('FST_')) {
    return toGatewayError(error.cause, bodyLimitBytes);
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status === 404) return new NotFoundError('Unknown request URL. Check the path and method.', 'unknown_url');
    if (status === 413) return new PayloadTooLargeError(bodyLimitBytes);
    // @nestjs/throttler's guard on the admin API (it set Retry-After on the reply already).
    if (status === 429) return new RateLimitError('Too many requests to the admin API; slow down.');
    if (status < 500)
      return new GatewayError(status, 'invalid_request_error', error.message, { code: 'invalid_request' });
    return internalError();
  }
  const fastify = error as FastifyLikeError;
  switch (fastify.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError(415, 'invalid_request_error', "Content-Type must be 'application/json'.", {
        code: 'unsupported_media_type',
      });
    case 'FST_ERR_BAD_URL':
      return new InvalidRequestError(
        'The request URL is not valid (a malformed percent-encoding?).',
        null,
        'invalid_url',
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidRequestError('The request body is empty; a JSON object is expected.', null, 'invalid_json');
    default:
      break;
  }
  if (error instanceof SyntaxError || fastify.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new InvalidRequestError(
      'We could not parse the JSON body of your request. The body must be valid JSON.',
      null,
      'invalid_json',
    );
  }
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return new GatewayError(fastify.statusCode, 'invalid_request_error', 'The request is invalid.', {
      code: 'invalid_request',
    });
  }
  return internalError();
}

function internalError(): GatewayError {
  return new GatewayError(500, 'server_error', 'The gateway had an internal error while processing the request.', {
    code: 'internal_error',
  });
}
