/** The auth module's request gate: `key` routes need a gateway key, `admin` routes an admin key (see ApiKeyService). */
import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { sendError } from '../common/errors/error-reply.js';
import type { GatewayError } from '../common/errors/gateway.error.js';
import type { GateFactory, RequestGate } from '../http/request-gates.js';
import { ApiKeyService } from './api-key.service.js';
import type { GatewayKey } from './gateway-key.js';

@Injectable()
export class AccessGate {
  constructor(private readonly keys: ApiKeyService) {}

  readonly gates: GateFactory = ({ config }) => {
    if (config.access === 'public') return undefined;
    const check: (request: FastifyRequest) => GatewayKey =
      config.access === 'admin'
        ? (request) => this.keys.authenticateAdmin(request)
        : (request) => this.keys.authenticate(request);
    const gate: RequestGate = (request, reply) => {
      try {
        request.gatewayKey = check(request);
        return true;
      } catch (error) {
        sendError(request, reply, error as GatewayError);
        return false;
      }
    };
    return gate;
  };
}
