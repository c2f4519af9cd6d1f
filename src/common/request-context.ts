/**
 * Per-request facts the providers need: the request id and a cancellation that fires when the client leaves; and the
 * request's telemetry, which routing reports its attempts to.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { Cancellation } from './cancellation.js';
import type { RouteRequestContext } from '../routing/router.service.js';
import { requestedTimeoutMs, TIMEOUT_HEADER } from './request-timeout.js';

const CLIENT_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** Fastify `genReqId`: the client's `x-request-id` when it is a sane token, else a fresh UUID. */
export function requestIdFor(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && CLIENT_REQUEST_ID.test(sent) ? sent : randomUUID();
}

/**
 * The request's facts for routing. Its cancellation was made by the lifecycle gate, which cancels it when the client
 * hangs up or the drain deadline passes; a request that bypassed the gates (none should) gets one of its own.
 */
export function callContextFor(request: FastifyRequest, session?: string): RouteRequestContext {
  const timeoutMs = requestedTimeoutMs(request.headers[TIMEOUT_HEADER]);
  return {
    cancellation: request.cancellation ?? new Cancellation(),
    requestId: request.id,
    timeoutMs,
    telemetry: request.telemetry ?? undefined,
    session,
  };
}
