/**
 * CORS for browsers calling the API routes (`server.cors`, off by default). Allowed origins get
 * `Access-Control-Allow-Origin` on every answer of a `key` route, and their preflight (`OPTIONS` on any `/v1/…` path,
 * a public route: browsers send no credentials with it) is answered 204 with the allowed methods and headers. Other
 * origins get no CORS headers, which the browser treats as a refusal.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CorsConfig } from '../config/gateway-config.js';
import type { GateFactory, RequestGate } from './request-gates.js';
import type { GatewayRouteConfig } from './route-config.js';

export class CorsPolicy {
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly preflightHeaders: Record<string, string>;
  private readonly exposeHeaders: string;

  constructor(private readonly config: CorsConfig) {
    this.anyOrigin = config.origins.includes('*');
    this.origins = new Set(config.origins);
    this.exposeHeaders = config.exposeHeaders.join(', ');
    this.preflightHeaders = {
      'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
      'access-control-allow-headers': config.allowHeaders.join(', '),
      'access-control-max-age': String(config.maxAgeSeconds),
    };
  }

  /** The value of Access-Control-Allow-Origin for this request, or undefined when its origin is not allowed. */
  private allowed(request: FastifyRequest): string | undefined {
    const origin = request.headers.origin;
    if (origin === undefined) return undefined;
    if (this.origins.has(origin)) return origin;
    // With credentials a browser refuses `*`; the origin itself is echoed instead.
    if (this.anyOrigin) return this.config.credentials ? origin : '*';
    return undefined;
  }

  private decorate(request: FastifyRequest, reply: FastifyReply): string | undefined {
    reply.header('vary', 'origin');
    const origin = this.allowed(request);
    if (origin === undefined) return undefined;
    reply.header('access-control-allow-origin', origin);
    if (this.config.credentials) reply.header('access-control-allow-credentials', 'true');
    return origin;
  }

  /** The CORS headers on every answer of an API route. */
  readonly gates: GateFactory = ({ config }) => {
    if (config.access !== 'key') return undefined;
    const gate: RequestGate = (request, reply) => {
      if (this.decorate(request, reply) !== undefined && this.exposeHeaders) {
        reply.header('access-control-expose-headers', this.exposeHeaders);
      }
      return true;
    };
    return gate;
  };

  /** Registers the preflight route for every API path. */
  registerPreflight(fastify: FastifyInstance): void {
    const config: GatewayRouteConfig = { access: 'public' };
    fastify.options('/v1/*', { config }, (request, reply) => {
      if (this.decorate(request, reply) !== undefined) reply.headers(this.preflightHeaders);
      return reply.code(204).send();
    });
  }
}
