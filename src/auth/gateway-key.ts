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
  /** Database keys (see src/management/key-cache.ts): the team whose models and budgets cap the key. */
  readonly teamId?: string;
  /** Database keys: refused from this time on (epoch ms), an expiry or the end of a rotated secret's grace. */
  readonly expiresAtMs?: number;
  /** Database keys: request and response bodies go to the request log (redacted, capped). */
  readonly logBodies?: boolean;
  /** Database keys: the USD budgets of the key and its team, the team's token budgets (see spend.service.ts). */
  readonly spend?: readonly SpendLimit[];
}

/** One spend counter a request is subject to. */
export interface SpendLimit {
  /** `key:<id>` or `team:<id>`. */
  readonly owner: string;
  /** The Redis hash tag of every counter of the key (its team's id, or its own). */
  readonly tag: string;
  readonly unit: 'usd' | 'tokens';
  readonly period: 'day' | 'month';
  /** USD or tokens. */
  readonly limit: number;
}

/**
 * Where keys that are not in the config file come from (the management plane's in-memory cache). They are never
 * admin keys: admin keys live in the config file only, so the admin API cannot lock itself out or mint admins.
 */
export interface KeySource {
  /** The key with this SHA-256 (hex), from memory: called on every request. */
  byHash(hash: string): GatewayKey | undefined;
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
