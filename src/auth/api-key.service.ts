/**
 * Authenticates `Authorization: Bearer <key>`. Keys are hashed (SHA-256) at start-up and only the hashes are
 * kept; a request costs one hash and one Map lookup. Runs in the Fastify onRequest hook, before the body is
 * read, so an unauthenticated client cannot make the gateway parse a large body.
 */
import { hash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { AuthenticationError, PermissionDeniedError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { ANONYMOUS_KEY, type GatewayKey } from './gateway-key.js';

/** One-shot `crypto.hash` (Node >= 20.12): no Hash object per request. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

@Injectable()
export class ApiKeyService implements OnModuleInit {
  private readonly logger = new Logger(ApiKeyService.name);
  private readonly byHash = new Map<string, GatewayKey>();
  readonly enabled: boolean;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly secrets: SecretsService,
  ) {
    this.enabled = config.auth.enabled;
  }

  async onModuleInit(): Promise<void> {
    if (!this.enabled) {
      this.logger.warn(
        'auth.enabled is false: every caller is accepted without a key. Use this only on a trusted network.',
      );
      return;
    }
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
    if (this.byHash.size === 0) this.logger.warn('auth is enabled but no keys are configured: every call gets 401');
  }

  /** The caller's key, or throws 401. */
  authenticate(authorization: string | undefined): GatewayKey {
    if (!this.enabled) return ANONYMOUS_KEY;
    if (!authorization || !authorization.startsWith('Bearer ')) {
      throw new AuthenticationError('Missing API key: send Authorization: Bearer <key>.', 'missing_api_key');
    }
    const key = this.byHash.get(hashApiKey(authorization.slice(7).trim()));
    if (!key) throw new AuthenticationError('Incorrect API key provided.');
    return key;
  }

  /** Admin endpoints need a key marked `admin: true`. */
  authenticateAdmin(authorization: string | undefined): GatewayKey {
    const key = this.authenticate(authorization);
    if (!key.admin) throw new PermissionDeniedError('This key may not call admin endpoints.', 'admin_required');
    return key;
  }
}

/** Throws 403 when the key may not use the model. */
export function assertModelAllowed(key: GatewayKey, model: string): void {
  if (key.models && !key.models.has(model)) {
    throw new PermissionDeniedError(`This API key may not use the model '${model}'.`, 'model_not_allowed');
  }
}
