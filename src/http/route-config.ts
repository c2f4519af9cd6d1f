/**
 * What each route declares about itself, in Fastify's route `config`: who may call it and how its requests are
 * handled on the way in. Access is decided on the route that matched, never on the URL text (which can be
 * encoded in many ways that route to the same handler), and a route that declares no access level stops
 * start-up (see request-gates.ts).
 */
import { RouteConfig } from '@nestjs/platform-fastify';
import type { ErrorFormat } from '../common/errors/error-reply.js';
import type { MetricFront } from '../metrics/gateway-metrics.js';
import type { GenAiOperation } from '../tracing/gen-ai-attributes.js';

/** `public`: anyone (probes, metrics); `key`: a gateway key; `admin`: a gateway key marked admin. */
export type RouteAccess = 'public' | 'key' | 'admin';
export const ROUTE_ACCESS_LEVELS: readonly RouteAccess[] = ['public', 'key', 'admin'];

export interface GatewayRouteConfig {
  access: RouteAccess;
  /** The request body is JSON: a POST with another content type gets 415 before its body is read. */
  jsonBody?: boolean;
  /** API requests observed one by one (metrics, the request log, spans), as this GenAI operation. */
  operation?: GenAiOperation;
  /** The API of an observed route, for the metrics' `front` label and the request log; `chat` when absent. */
  front?: MetricFront;
  /** Still served while the gateway drains (probes, metrics); other routes answer 503 then. */
  servedWhileDraining?: boolean;
  /** The shape of this route's errors; OpenAI's when absent. */
  errorFormat?: ErrorFormat;
}

/** Declares a Nest route handler's access level (and other route facts) in its Fastify route config. */
export function Access(access: RouteAccess, facts: Omit<GatewayRouteConfig, 'access'> = {}): MethodDecorator {
  return RouteConfig({ access, ...facts } satisfies GatewayRouteConfig);
}

declare module 'fastify' {
  // Every route's config carries these facts (checked when the route registers: see request-gates.ts).
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an interface merge needs no members of its own
  interface FastifyContextConfig extends Partial<GatewayRouteConfig> {}
}
