/**
 * The checks every request passes on its way in, installed per route: when a route is registered (Fastify's
 * `onRoute`), each module's gate factory looks at the route's config and contributes a gate or nothing, and the
 * gates are composed into the route's one `onRequest` hook. Deciding per route at start-up means a request pays
 * only for the checks its route needs, access is decided on the route that matched rather than on the URL text,
 * and a route without a declared access level is refused before the gateway starts serving (deny by default).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { type GatewayRouteConfig, ROUTE_ACCESS_LEVELS, type RouteAccess } from './route-config.js';

/** A synchronous check; false when it has answered the request itself (nothing after it runs then). */
export type RequestGate = (request: FastifyRequest, reply: FastifyReply) => boolean;

export interface RouteFacts {
  method: string;
  url: string;
  config: GatewayRouteConfig;
}

/** A module's contribution to a route's gates: a gate, or undefined when the route needs none from it. */
export type GateFactory = (route: RouteFacts) => RequestGate | undefined;

export interface RouteEntry {
  method: string;
  url: string;
  access: RouteAccess;
}

/** Every route the gateway serves, with its access level (GET /admin/routes and the route-list test read it). */
export class RouteTable {
  readonly routes: RouteEntry[] = [];
}

/** Must run before any route is registered. Throws (stopping start-up) for a route with no valid access level. */
export function installRequestGates(
  fastify: FastifyInstance,
  factories: readonly GateFactory[],
  table: RouteTable,
): void {
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config;
    const access = config?.access;
    if (access === undefined || !ROUTE_ACCESS_LEVELS.includes(access)) {
      throw new Error(
        `route ${methods.join(',')} ${route.url} declares no access level: set its route config 'access' to ` +
          `${ROUTE_ACCESS_LEVELS.join(', ')}`,
      );
    }
    const facts: RouteFacts = { method: methods.join(','), url: route.url, config: config as GatewayRouteConfig };
    for (const method of methods) table.routes.push({ method, url: route.url, access });
    const gates: RequestGate[] = [];
    for (const factory of factories) {
      const gate = factory(facts);
      if (gate !== undefined) gates.push(gate);
    }
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [composeGates(gates), ...existing];
  });
}

function composeGates(gates: readonly RequestGate[]): onRequestHookHandler {
  return function requestGates(request, reply, done) {
    for (let i = 0; i < gates.length; i++) if (!gates[i](request, reply)) return;
    done();
  };
}
