import type { RouteInfo } from './router.service.js';

/** Response headers telling the client which deployment served and after how many upstream attempts. */
export function routeHeaders(route: RouteInfo): Record<string, string> {
  return {
    'x-gateway-model': route.model,
    'x-gateway-deployment': route.deployment,
    'x-gateway-attempts': String(route.attempts),
  };
}
