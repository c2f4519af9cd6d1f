import { AuthenticationError } from '../common/errors/gateway.error.js';
import type { Limits } from '../rate-limit/rate-limit.config.js';
import type { TokenBudgetConfig } from './auth.config.js';

/** An authenticated caller. With auth disabled every request is the `anonymous` key. */
export interface GatewayKey {
  readonly id: string;
  /** undefined: every model. */
  readonly models: ReadonlySet<string> | undefined;
  readonly limits: Limits | undefined;
  readonly budget: TokenBudgetConfig | undefined;
  readonly admin: boolean;
}

/** Calls made by other Nest modules through LlmClient. */
export const INTERNAL_KEY: GatewayKey = {
  id: 'internal',
  models: undefined,
  limits: undefined,
  budget: undefined,
  admin: false,
};

/** Callers of API routes while auth is off, and loopback callers of admin routes while no key exists. */
export const ANONYMOUS_KEY: GatewayKey = {
  id: 'anonymous',
  models: undefined,
  limits: undefined,
  budget: undefined,
  admin: false,
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the route's access gate for `key` and `admin` routes; null on public routes. */
    gatewayKey: GatewayKey | null;
  }
}

/** The caller of a `key` or `admin` route. Its gate always set one; a missing key is refused, never defaulted. */
export function callerOf(request: { gatewayKey: GatewayKey | null }): GatewayKey {
  const key = request.gatewayKey;
  if (key === null) throw new AuthenticationError('Missing API key.', 'missing_api_key');
  return key;
}
