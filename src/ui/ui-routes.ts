/**
 * The UI's own routes, registered on Fastify like the fronts (so each declares its access level and passes the
 * request gates): the static files at `/ui`, and the session: GET (who am I, the CSRF token), POST (sign in with
 * an admin key, which the route's `admin` access gate checks), DELETE (sign out).
 */
import { Inject, Injectable, Logger, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from '../auth/gateway-key.js';
import { sendError } from '../common/errors/error-reply.js';
import type { GatewayError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { GatewayRouteConfig } from '../http/route-config.js';
import { chooseEncoding, type UiAsset, UiAssets } from './ui-assets.js';
import { clearedCookie, sessionCookie } from './ui-cookies.js';
import { UiSessions } from './ui-sessions.js';

export const UI_ASSETS = Symbol('UI_ASSETS');
export const UI_PATH = '/ui';

/** What the page needs to know before and after sign-in. */
export interface SessionView {
  signedIn: boolean;
  keyId: string | null;
  csrfToken: string | null;
  expiresAt: string | null;
  /** Keys, teams, usage and the request log need the `database` section. */
  database: boolean;
  /** Whether API routes need a key (the Playground then needs one too). */
  auth: boolean;
}

/** The page may only load what it ships and talk to this origin. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

@Injectable()
export class UiRoutes implements OnModuleInit {
  private readonly logger = new Logger(UiRoutes.name);

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly sessions: UiSessions,
    @Inject(UI_ASSETS) private readonly assets: UiAssets,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost?.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) this.register(fastify);
    if (!this.assets.built) this.logger.warn(`the UI is not built (no index.html): ${UI_PATH} answers 503`);
  }

  register(fastify: FastifyInstance): void {
    const open: GatewayRouteConfig = { access: 'public' };
    const admin: GatewayRouteConfig = { access: 'admin' };
    fastify.get(UI_PATH, { config: open }, (request, reply) => this.file(request, reply, 'index.html'));
    fastify.get(`${UI_PATH}/`, { config: open }, (request, reply) => this.file(request, reply, 'index.html'));
    fastify.get(`${UI_PATH}/*`, { config: open }, (request, reply) => {
      const name = (request.params as { '*': string })['*'];
      return this.file(request, reply, name === '' ? 'index.html' : name);
    });
    fastify.get(`${UI_PATH}/api/session`, { config: open }, (request, reply) => this.session(request, reply));
    fastify.post(`${UI_PATH}/api/session`, { config: admin }, (request, reply) => this.signIn(request, reply));
    fastify.delete(`${UI_PATH}/api/session`, { config: open }, (request, reply) => this.signOut(request, reply));
  }

  private file(request: FastifyRequest, reply: FastifyReply, name: string): FastifyReply {
    reply.header('x-content-type-options', 'nosniff');
    if (!this.assets.built) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The admin UI is not built: run `npm run build` (it builds the UI into dist/ui).\n');
    }
    const asset = this.assets.get(name);
    if (asset === undefined) return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
    return this.sendAsset(request, reply, asset);
  }

  private sendAsset(request: FastifyRequest, reply: FastifyReply, asset: UiAsset): FastifyReply {
    reply
      .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', asset.etag)
      .header('vary', 'accept-encoding');
    if (asset.type.startsWith('text/html')) {
      reply
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('referrer-policy', 'no-referrer')
        .header('x-frame-options', 'DENY');
    }
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    const encoding = chooseEncoding(request.headers['accept-encoding']);
    reply.type(asset.type);
    if (encoding === 'br') return reply.header('content-encoding', 'br').send(asset.brotli);
    if (encoding === 'gzip') return reply.header('content-encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.raw);
  }

  private view(request: FastifyRequest): SessionView {
    const session = this.sessions.of(request);
    return {
      signedIn: session !== undefined,
      keyId: session?.key.id ?? null,
      csrfToken: session?.csrfToken ?? null,
      expiresAt: session ? new Date(session.expiresAt).toISOString() : null,
      database: this.config.database !== undefined,
      auth: this.config.auth.enabled,
    };
  }

  private session(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    return reply.header('cache-control', 'no-store').send(this.view(request));
  }

  /** The admin gate has checked the key (or the session, with its CSRF token) already. */
  private signIn(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const issued = this.sessions.create(callerOf(request));
    return reply
      .header('cache-control', 'no-store')
      .header(
        'set-cookie',
        sessionCookie(issued.id, {
          maxAgeSeconds: Math.floor(this.sessions.ttlMs / 1000),
          secure: this.secure(request),
        }),
      )
      .code(201)
      .send({
        signedIn: true,
        keyId: issued.key.id,
        csrfToken: issued.csrfToken,
        expiresAt: new Date(issued.expiresAt).toISOString(),
        database: this.config.database !== undefined,
        auth: this.config.auth.enabled,
      } satisfies SessionView);
  }

  private signOut(request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const session = this.sessions.of(request);
    if (session !== undefined) {
      try {
        this.sessions.assertSameSite(request, session);
      } catch (error) {
        sendError(request, reply, error as GatewayError);
        return reply;
      }
      this.sessions.end(request);
    }
    return reply
      .header('set-cookie', clearedCookie(this.secure(request)))
      .code(204)
      .send();
  }

  private secure(request: FastifyRequest): boolean {
    return this.config.ui.secureCookie === 'always' || request.protocol === 'https';
  }
}
