/** How an API route describes its request to the pipeline: the same for every front. */
import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { callerOf } from '../auth/gateway-key.js';
import { callContextFor } from '../common/request-context.js';
import { SessionAffinity } from '../routing/session-affinity.js';
import type { GatewayCall } from './exchange.js';

@Injectable()
export class GatewayCalls {
  constructor(private readonly affinity: SessionAffinity) {}

  /** The caller's key, the routing context (with the request's session, for affinity), Cache-Control, body size. */
  of(request: FastifyRequest): GatewayCall {
    return {
      key: callerOf(request),
      context: callContextFor(request, this.affinity.sessionOf(request.headers, request.body)),
      cacheControl: request.headers['cache-control'],
      bodyBytes: Number(request.headers['content-length'] ?? 0),
    };
  }
}
