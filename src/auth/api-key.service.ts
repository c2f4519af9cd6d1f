/**
 * Gateway keys: `Authorization: Bearer <key>` (the scheme in any case) or `x-api-key: <key>`. Keys are hashed
 * (SHA-256) at start-up and only the hashes are kept; a request costs one hash and one Map lookup. The check runs
 * in the route's onRequest gate (see AccessGate), before the body is read, so an unauthenticated client cannot
 * make the gateway parse a large body.
 */
import { hash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthenticationError, echo, PermissionDeniedError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { ANONYMOUS_KEY, type GatewayKey, type KeySource } from './gateway-key.js';

/** One-shot `crypto.hash` (Node >= 20.12): no Hash object per request. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

const BEARER = /^bearer[ \t]+/i;

/** The key a request presents, from `Authorization: Bearer` or `x-api-key`; undefined when it presents none. */
export function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const scheme = BEARER.exec(authorization);
    return scheme === null ? undefined : authorization.slice(scheme[0].length).trim();
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/** Loopback peers: the only callers of admin routes when the gateway has no keys at all (the demo). */
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

@Injectable()
export class ApiKeyService implements OnModuleInit {
  private readonly logger = new Logger(ApiKeyService.name);
  private readonly byHash = new Map<string, GatewayKey>();
  /** Keys from the database, when the management plane is on; config keys win over them (checked first). */
  private source: KeySource | undefined;
  readonly enabled: boolean;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly secrets: SecretsService,
  ) {
    this.enabled = config.auth.enabled;
  }

  /** Configured keys are hashed even with auth off: admin routes stay behind an admin key whenever one exists. */
  async onModuleInit(): Promise<void> {
    for (const key of this.config.auth.keys) {
      const hash = key.keyHash ? key.keyHash.slice('sha256:'.length) : hashApiKey(await this.secrets.resolve(key.key!));
      this.byHash.set(hash, {
        id: key.id,
        models: key.models ? new Set(key.models) : undefined,
        limits: key.limits,
        budget: key.budget,
        admin: key.admin,
      });
    }
    if (!this.enabled) {
      this.logger.warn(
        'auth.enabled is false: API routes accept every caller without a key. Use this only on a trusted network.',
      );
    } else if (this.byHash.size === 0 && this.source === undefined) {
      this.logger.warn('auth is enabled but no keys are configured: every API call gets 401');
    }
    if (this.byHash.size === 0) this.logger.warn('no gateway keys are configured: admin routes answer loopback only');
  }

  /** Adds the database's keys (the management plane registers its cache at start-up). */
  useSource(source: KeySource): void {
    this.source = source;
  }

  /** The caller of an API route (a `key` route), or throws 401. With auth off, the anonymous key. */
  authenticate(request: FastifyRequest): GatewayKey {
    if (!this.enabled) return ANONYMOUS_KEY;
    return this.lookup(request);
  }

  /**
   * The caller of an admin route. Whenever any key is configured, an admin key is required, auth on or off; with no
   * keys at all, only loopback callers are let in (as the anonymous key, which is not an admin key).
   */
  authenticateAdmin(request: FastifyRequest): GatewayKey {
    if (this.byHash.size === 0) {
      if (LOOPBACK.has(request.socket.remoteAddress ?? '')) return ANONYMOUS_KEY;
      throw new PermissionDeniedError(
        'Admin endpoints answer only loopback callers while the gateway has no keys.',
        'admin_required',
      );
    }
    const key = this.lookup(request);
    if (!key.admin) throw new PermissionDeniedError('This key may not call admin endpoints.', 'admin_required');
    return key;
  }

  private lookup(request: FastifyRequest): GatewayKey {
    const presented = presentedKey(request.headers);
    if (presented === undefined || presented === '') {
      throw new AuthenticationError(
        'Missing API key: send Authorization: Bearer <key> or x-api-key: <key>.',
        'missing_api_key',
      );
    }
    const hash = hashApiKey(presented);
    const key = this.byHash.get(hash) ?? this.source?.byHash(hash);
    if (!key) throw new AuthenticationError('Incorrect API key provided.');
    if (key.expiresAtMs !== undefined && Date.now() >= key.expiresAtMs) {
      throw new AuthenticationError('This API key has expired.', 'expired_api_key');
    }
    return key;
  }
}

/** Throws 403 when the key may not use the model. */
export function assertModelAllowed(key: GatewayKey, model: string): void {
  if (key.models && !key.models.has(model)) {
    throw new PermissionDeniedError(`This API key may not use the model '${echo(model)}'.`, 'model_not_allowed');
  }
}
