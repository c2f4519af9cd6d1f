/** The auth module's request gate: `key` routes need a gateway key, `admin` routes an admin key (see ApiKeyService). */
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { sendError } from '../common/errors/error-reply.js';
import type { GatewayError } from '../common/errors/gateway.error.js';
import type { GateFactory, RequestGate } from '../http/request-gates.js';
import { ApiKeyService } from './api-key.service.js';
import type { GatewayKey } from './gateway-key.js';

/**
 * Another way to be an admin caller: the web UI's session cookie (src/ui/ui-sessions.ts). Provided only when the UI
 * is enabled; without it admin routes take admin keys alone.
 */
export const ADMIN_SESSIONS = Symbol('ADMIN_SESSIONS');
export interface AdminSessionCheck {
  /** The signed-in admin of a request that carries no key but a valid session (throws on a mutation without CSRF). */
  adminOf(request: FastifyRequest): GatewayKey | undefined;
}

@Injectable()
export class AccessGate {
  constructor(
    private readonly keys: ApiKeyService,
    @Optional() @Inject(ADMIN_SESSIONS) private readonly sessions?: AdminSessionCheck,
  ) {}

  readonly gates: GateFactory = ({ config }) => {
    if (config.access === 'public') return undefined;
    const check: (request: FastifyRequest) => GatewayKey =
      config.access === 'admin'
        ? (request) => this.sessions?.adminOf(request) ?? this.keys.authenticateAdmin(request)
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
