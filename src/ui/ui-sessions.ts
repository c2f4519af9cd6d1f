/**
 * Web UI sessions: an admin key is exchanged once (POST /ui/api/session) for a random session id in an HttpOnly,
 * SameSite=Strict cookie. Admin routes then accept that cookie in place of a key (AccessGate asks `adminOf`), and
 * every request that changes something must also carry the session's CSRF token in `x-csrf-token` and, when the
 * browser sends one, an `Origin` of this host. Sessions live in this process's memory: a restart signs everyone
 * out, and replicas behind a load balancer each know only their own (see docs/ui.md).
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AdminSessionCheck } from '../auth/access-gate.js';
import type { GatewayKey } from '../auth/gateway-key.js';
import { PermissionDeniedError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { cookieValue, presentedKeyHeader, SESSION_COOKIE } from './ui-cookies.js';

export interface UiSession {
  readonly key: GatewayKey;
  readonly csrfToken: string;
  readonly expiresAt: number;
}

export interface IssuedSession extends UiSession {
  /** The cookie value; only its hash is kept. */
  readonly id: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function idHash(id: string): string {
  return hash('sha256', id, 'hex');
}

function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

@Injectable()
export class UiSessions implements AdminSessionCheck {
  /** By the hash of the session id, oldest first (a Map keeps insertion order). */
  private readonly sessions = new Map<string, UiSession>();
  readonly ttlMs: number;
  private readonly max: number;

  /** Replaceable in tests. */
  clock: () => number = Date.now;

  constructor(@Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    this.ttlMs = config.ui.sessionTtlMinutes * 60_000;
    this.max = config.ui.maxSessions;
  }

  create(key: GatewayKey): IssuedSession {
    this.sweep();
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const session: UiSession = {
      key,
      csrfToken: randomBytes(24).toString('base64url'),
      expiresAt: this.clock() + this.ttlMs,
    };
    this.sessions.set(idHash(id), session);
    return { id, ...session };
  }

  /** The live session named by the request's cookie, if any. */
  of(request: FastifyRequest): UiSession | undefined {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const hashed = idHash(id);
    const session = this.sessions.get(hashed);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.clock()) {
      this.sessions.delete(hashed);
      return undefined;
    }
    return session;
  }

  end(request: FastifyRequest): boolean {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    return id !== undefined && this.sessions.delete(idHash(id));
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * A request that presents a key is decided by the key alone; one with a live session cookie is its admin, once
   * a changing request has shown the CSRF token and (when sent) a same-host Origin.
   */
  adminOf(request: FastifyRequest): GatewayKey | undefined {
    if (presentedKeyHeader(request.headers)) return undefined;
    const session = this.of(request);
    if (session === undefined) return undefined;
    if (!SAFE_METHODS.has(request.method)) this.assertSameSite(request, session);
    return session.key;
  }

  assertSameSite(request: FastifyRequest, session: UiSession): void {
    const token = request.headers['x-csrf-token'];
    if (typeof token !== 'string' || !sameToken(token, session.csrfToken)) {
      throw new PermissionDeniedError(
        'A change made with the UI session needs its x-csrf-token header.',
        'csrf_token_invalid',
      );
    }
    const origin = request.headers.origin;
    if (origin !== undefined && !sameHost(origin, request.headers.host)) {
      throw new PermissionDeniedError('The request comes from another site.', 'cross_site_request');
    }
  }

  private sweep(): void {
    const now = this.clock();
    for (const [hashed, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(hashed);
  }
}

function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
