/** Injection tokens RateLimitModule provides (a file of their own: the services it builds inject them too). */
import type { DependencyState } from '../metrics/gateway-metrics.js';

/** The validated `rateLimit` section. */
export const RATE_LIMIT_CONFIG = Symbol('RATE_LIMIT_CONFIG');
/** The BucketStore the limiter takes from: Redis when configured, memory otherwise. */
export const BUCKET_STORE = Symbol('BUCKET_STORE');
/** The rate limiter's Redis client, or null without Redis. */
export const RATE_LIMIT_REDIS = Symbol('RATE_LIMIT_REDIS');
/** The health of the rate limiter's shared store: `disabled` without Redis, else from its command outcomes. */
export const RATE_LIMIT_HEALTH = Symbol('RATE_LIMIT_HEALTH');
export type RateLimitHealth = () => DependencyState;
