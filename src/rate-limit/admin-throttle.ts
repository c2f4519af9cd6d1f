/**
 * `@nestjs/throttler` where one limit per route is the right tool: the admin API (and the UI's sign-in), one bucket
 * per caller on the same token-bucket store as the API limits (Redis-shared when configured). Guard a controller
 * with `@AdminThrottled()`. The API routes do not use it: their limits reserve tokens up front and reconcile them
 * after a stream, which a per-route guard cannot do (see rate-limiter.service.ts).
 */
import { applyDecorators, UseGuards } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { RateLimitModule } from './rate-limit.module.js';
import { BUCKET_STORE } from './rate-limit.tokens.js';
import { TokenBucketThrottlerStorage } from './throttler-storage.js';
import type { BucketStore } from './token-bucket.js';

/** `default`: the guard then sends the standard Retry-After and X-RateLimit-* headers, not name-suffixed ones. */
export const ADMIN_THROTTLER = 'default';

/** The throttler module for the admin API (ThrottlerModule is global once imported). */
export const AdminThrottleModule = ThrottlerModule.forRootAsync({
  imports: [RateLimitModule],
  inject: [GATEWAY_CONFIG, BUCKET_STORE],
  useFactory: (config: GatewayConfig, store: BucketStore) => ({
    throttlers: [{ name: ADMIN_THROTTLER, ttl: 60_000, limit: config.rateLimit.admin.requestsPerMinute }],
    storage: new TokenBucketThrottlerStorage(store),
    // The access gate ran first: admin routes always have a key here (the anonymous one on loopback).
    getTracker: (request: Record<string, unknown>) => {
      const fastifyRequest = request as unknown as FastifyRequest;
      return fastifyRequest.gatewayKey?.id === 'anonymous'
        ? `ip:${fastifyRequest.ip}`
        : `key:${fastifyRequest.gatewayKey?.id ?? fastifyRequest.ip}`;
    },
  }),
});

/** Limits a controller's routes per caller with the admin throttler. */
export function AdminThrottled(): ClassDecorator {
  return applyDecorators(UseGuards(ThrottlerGuard));
}
