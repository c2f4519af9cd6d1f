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

export const ANONYMOUS_KEY: GatewayKey = {
  id: 'anonymous',
  models: undefined,
  limits: undefined,
  budget: undefined,
  admin: true,
};

declare module 'fastify' {
  interface FastifyRequest {
    gatewayKey: GatewayKey | null;
  }
}
