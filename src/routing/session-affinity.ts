/**
 * Session affinity. Consecutive turns of an agent session resend a growing prefix; a provider caches that prefix per
 * deployment (and credential), so a session that lands on another deployment pays for its whole prompt again. A
 * session (the first present of `routing.affinity.sources`: a header such as Claude Code's
 * `x-claude-code-session-id`, or a body field such as `prompt_cache_key`) is pinned, per model group, to the deployment
 * that served it; routing tries that deployment first while its breaker admits traffic. When the pinned deployment
 * fails or its breaker is open, the attempt loop goes on as usual and the session moves, once, to the deployment that
 * served it instead (it does not go back when the old one recovers).
 *
 * Pins live in memory (an LRU with the TTL), or with `redis` in Redis so every replica routes a session the same way;
 * the memory copy then caches Redis for a few seconds, so a session costs one Redis read per replica and interval,
 * and writes never wait. Redis being down makes affinity per-replica, never an error.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { closeRedisClient, createRedisClient, ThrottledLogger } from '../cache/redis-client.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig, SessionAffinityConfig } from '../config/gateway-config.js';

/** How long a replica trusts its copy of a pin kept in Redis (another replica may have moved it). */
const SHARED_PIN_CACHE_MS = 10_000;
const LOG_INTERVAL_MS = 30_000;
const RECONNECT_MAX_DELAY_MS = 2_000;
/** Longer session ids are hashed: the pin keys stay small whatever a client sends. */
const MAX_RAW_SESSION_CHARS = 128;

type SessionSource = (headers: IncomingHttpHeaders, body: unknown) => string | undefined;

function sourceOf(spec: string): SessionSource {
  const [kind, name] = [spec.slice(0, spec.indexOf(':')), spec.slice(spec.indexOf(':') + 1)];
  if (kind === 'header') {
    const header = name.toLowerCase();
    return (headers) => {
      const value = headers[header];
      return typeof value === 'string' && value !== '' ? value : undefined;
    };
  }
  const path = name.split('.');
  return (_headers, body) => {
    let value: unknown = body;
    for (const field of path) {
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Record<string, unknown>)[field];
    }
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
}

/** The session id as a pin key part: short ids as they are, long ones hashed. */
function sessionKey(session: string): string {
  return session.length <= MAX_RAW_SESSION_CHARS ? session : createHash('sha256').update(session).digest('base64url');
}

@Injectable()
export class SessionAffinity implements OnApplicationShutdown {
  readonly enabled: boolean;
  private readonly sources: readonly SessionSource[];
  private readonly pins: LRUCache<string, string>;
  private readonly redis: Redis | undefined;
  private readonly keyPrefix: string;
  private readonly ttlSeconds: number;
  private readonly logger = new ThrottledLogger(new Logger(SessionAffinity.name), LOG_INTERVAL_MS);

  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    const affinity: SessionAffinityConfig = config.routing.affinity;
    this.enabled = affinity.enabled;
    this.sources = affinity.sources.map(sourceOf);
    this.ttlSeconds = affinity.ttlSeconds;
    const shared = affinity.enabled ? affinity.redis : undefined;
    this.pins = new LRUCache({
      max: affinity.maxSessions,
      ttl: shared ? Math.min(SHARED_PIN_CACHE_MS, affinity.ttlSeconds * 1_000) : affinity.ttlSeconds * 1_000,
      updateAgeOnGet: !shared,
    });
    this.keyPrefix = shared?.keyPrefix ?? '';
    this.redis =
      shared &&
      createRedisClient(
        shared.url,
        {
          connectTimeoutMs: shared.connectTimeoutMs,
          commandTimeoutMs: shared.commandTimeoutMs,
          reconnectMaxDelayMs: RECONNECT_MAX_DELAY_MS,
          connectionName: 'llmgw-affinity',
        },
        this.logger,
      );
  }

  /** The request's session id, or undefined (no source present, or affinity off). */
  sessionOf(headers: IncomingHttpHeaders, body: unknown): string | undefined {
    if (!this.enabled) return undefined;
    for (const source of this.sources) {
      const session = source(headers, body);
      if (session !== undefined) return sessionKey(session);
    }
    return undefined;
  }

  /**
   * The deployment id the session is pinned to in this group: from memory (synchronously), else from Redis when
   * shared (a failed read is no pin).
   */
  pinned(group: string, session: string): string | undefined | Promise<string | undefined> {
    const key = `${group}\u0000${session}`;
    const local = this.pins.get(key);
    if (local !== undefined || !this.redis) return local;
    return this.redis.get(this.redisKey(group, session)).then(
      (remote) => {
        if (remote !== null) this.pins.set(key, remote);
        return remote ?? undefined;
      },
      (error: unknown) => {
        this.logger.warn(`session affinity: Redis read failed (${(error as Error).message}); routing without the pin`);
        return undefined;
      },
    );
  }

  /** Pins the session to the deployment that served it (a write to Redis in the background when shared). */
  pin(group: string, session: string, deployment: string): void {
    this.pins.set(`${group}\u0000${session}`, deployment);
    this.redis?.set(this.redisKey(group, session), deployment, 'EX', this.ttlSeconds).catch((error: unknown) => {
      this.logger.warn(`session affinity: Redis write failed (${(error as Error).message})`);
    });
  }

  /** Group names are configured names and session keys bounded, so the key is readable as it is. */
  private redisKey(group: string, session: string): string {
    return `${this.keyPrefix}${group}:${session}`;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.redis) await closeRedisClient(this.redis);
  }
}
