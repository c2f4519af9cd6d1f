/**
 * Per-request facts the providers need: the request id and a cancellation that fires when the client leaves; and the
 * request's telemetry, which routing reports its attempts to.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Cancellation } from './cancellation.js';
import { ClientClosedError } from './errors/gateway.error.js';
import type { RouteRequestContext } from '../routing/router.service.js';
import { requestedTimeoutMs, TIMEOUT_HEADER } from './request-timeout.js';

const CLIENT_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Fastify `genReqId`: the client's `x-request-id` when it is a sane token, else a fresh UUID. */
export function requestIdFor(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && CLIENT_REQUEST_ID.test(sent) ? sent : randomUUID();
}

/**
 * The response's 'close' before it finished means the client hung up; the cancellation then stops every upstream
 * call made for this request.
 */
export function callContextFor(request: FastifyRequest, reply: FastifyReply): RouteRequestContext {
  const timeoutMs = requestedTimeoutMs(request.headers[TIMEOUT_HEADER]);
  const cancellation = new Cancellation();
  const response = reply.raw;
  response.on('close', () => {
    if (!response.writableFinished) cancellation.cancel(new ClientClosedError());
  });
  return {
    cancellation,
    requestId: request.id,
    timeoutMs,
    telemetry: request.telemetry ?? undefined,
  };
}
