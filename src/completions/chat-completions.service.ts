/**
 * One chat completion request from admission to accounting: model access, token budget, rate limits,
 * the response cache (with coalescing of identical misses), routing, then usage reconciliation.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { assertModelAllowed } from '../auth/api-key.service.js';
import { BudgetService } from '../auth/budget.service.js';
import type { GatewayKey } from '../auth/gateway-key.js';
import { CACHE_CONFIG, TIERED_CACHE } from '../cache/cache.module.js';
import { cacheNamespace, cacheTtlMs, type CacheConfig } from '../cache/cache.config.js';
import { cacheKeyFor, isCacheable } from '../cache/cache-key.js';
import { SingleFlight } from '../cache/single-flight.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { RateLimitError } from '../common/errors/gateway.error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../common/openai.types.js';
import { rateLimitHeaders } from '../rate-limit/rate-limit-headers.js';
import { RATE_LIMIT_CONFIG, type RateLimitReservation, RateLimiter } from '../rate-limit/rate-limiter.service.js';
import type { RateLimitConfig } from '../rate-limit/rate-limit.config.js';
import { routeHeaders } from '../routing/route-headers.js';
import { type RouteRequestContext, RouterService } from '../routing/router.service.js';
import { completionToChunks, isUsageChunk, StreamAccumulator } from './stream-accumulator.js';

export type CacheResult = 'hit' | 'miss' | 'bypass';

export interface GatewayCall {
  key: GatewayKey;
  context: RouteRequestContext;
  /** The request's Cache-Control header: `no-cache` skips the lookup, `no-store` bypasses the cache. */
  cacheControl?: string;
  /** Request body size, a free estimate of prompt tokens for token-rate limits. */
  bodyBytes?: number;
}

export interface CompletionResult {
  completion: ChatCompletion;
  headers: Record<string, string>;
}

export interface StreamResult {
  chunks: AsyncIterable<ChatCompletionChunk>;
  headers: Record<string, string>;
}

/** Completion tokens reserved for token-rate limits when the request sets no max. */
const DEFAULT_RESERVED_COMPLETION_TOKENS = 1_024;

interface Admission {
  headers: Record<string, string>;
  reservation: RateLimitReservation | undefined;
}

@Injectable()
export class ChatCompletionsService {
  private readonly logger = new Logger(ChatCompletionsService.name);
  private readonly inFlight = new SingleFlight<ChatCompletion>();

  constructor(
    private readonly router: RouterService,
    private readonly budgets: BudgetService,
    private readonly limiter: RateLimiter,
    @Inject(RATE_LIMIT_CONFIG) private readonly rateLimit: RateLimitConfig,
    @Inject(TIERED_CACHE) private readonly cache: TieredCache,
    @Inject(CACHE_CONFIG) private readonly cacheConfig: CacheConfig,
  ) {}

  async complete(request: ChatCompletionRequest, call: GatewayCall): Promise<CompletionResult> {
    const admission = await this.admit(request, call);
    const cacheKey = this.cacheKey(request, call);
    if (cacheKey === undefined) {
      const completion = await this.upstream(request, call, admission.headers);
      this.account(call.key, admission.reservation, completion.usage?.total_tokens);
      if (this.cacheConfig.enabled) admission.headers['x-gateway-cache'] = 'bypass';
      return { completion, headers: admission.headers };
    }
    if (!noCache(call.cacheControl)) {
      const cached = await this.cache.get(cacheKey);
      if (cached !== undefined) {
        this.account(call.key, admission.reservation, 0);
        admission.headers['x-gateway-cache'] = 'hit';
        return { completion: JSON.parse(cached) as ChatCompletion, headers: admission.headers };
      }
    }
    admission.headers['x-gateway-cache'] = 'miss';
    const completion = await this.inFlight.run(cacheKey, async () => {
      const fresh = await this.upstream(request, call, admission.headers);
      if (fresh.choices.every((choice) => choice.finish_reason !== null)) {
        void this.cache.set(cacheKey, JSON.stringify(fresh), cacheTtlMs(this.cacheConfig, request.model));
      }
      return fresh;
    });
    this.account(call.key, admission.reservation, completion.usage?.total_tokens);
    return { completion, headers: admission.headers };
  }

  async stream(request: ChatCompletionRequest, call: GatewayCall): Promise<StreamResult> {
    const admission = await this.admit(request, call);
    const includeUsage = request.stream_options?.include_usage === true;
    const cacheKey = this.cacheKey(request, call);
    if (cacheKey !== undefined && !noCache(call.cacheControl)) {
      const cached = await this.cache.get(cacheKey);
      if (cached !== undefined) {
        this.account(call.key, admission.reservation, 0);
        admission.headers['x-gateway-cache'] = 'hit';
        return { chunks: replay(completionToChunks(JSON.parse(cached) as ChatCompletion, includeUsage)), headers: admission.headers };
      }
    }
    if (this.cacheConfig.enabled) admission.headers['x-gateway-cache'] = cacheKey === undefined ? 'bypass' : 'miss';
    // Usage is always asked for upstream (accounting needs it); the usage chunk reaches the client only if it asked.
    const upstreamRequest = includeUsage
      ? request
      : { ...request, stream_options: { ...request.stream_options, include_usage: true } };
    const { chunks, route } = await this.router.stream(upstreamRequest, call.context);
    Object.assign(admission.headers, routeHeaders(route));
    return { chunks: this.observe(chunks, request, call, admission, cacheKey, includeUsage), headers: admission.headers };
  }

  /** Access, budget and rate limits; throws the error the client should see. */
  private async admit(request: ChatCompletionRequest, call: GatewayCall): Promise<Admission> {
    this.router.assertModelExists(request.model);
    assertModelAllowed(call.key, request.model);
    await this.budgets.assertWithinBudget(call.key);
    if (!this.rateLimit.enabled) return { headers: {}, reservation: undefined };
    const maxOutput = request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_RESERVED_COMPLETION_TOKENS;
    const decision = await this.limiter.check({
      keyId: call.key.id,
      model: request.model,
      reservedTokens: Math.ceil((call.bodyBytes ?? 0) / 4) + maxOutput,
      limits: call.key.limits,
    });
    const headers = rateLimitHeaders(decision.allowed ? decision : { ...decision, retryAfterMs: decision.retryAfterMs });
    if (!decision.allowed) {
      throw new RateLimitError(
        `Rate limit reached for ${decision.kind} (${decision.scope} limit).`,
        Number.isFinite(decision.retryAfterMs) ? decision.retryAfterMs : undefined,
        decision.kind === 'tokens' ? 'tokens_rate_limit_exceeded' : 'rate_limit_exceeded',
        headers,
      );
    }
    return { headers, reservation: decision.reservation };
  }

  private cacheKey(request: ChatCompletionRequest, call: GatewayCall): string | undefined {
    if (!this.cacheConfig.enabled || noStore(call.cacheControl) || !isCacheable(request, this.cacheConfig)) return undefined;
    return cacheKeyFor(request, cacheNamespace(this.cacheConfig, call.key.id));
  }

  private async upstream(request: ChatCompletionRequest, call: GatewayCall, headers: Record<string, string>) {
    const { completion, route } = await this.router.complete(request, call.context);
    Object.assign(headers, routeHeaders(route));
    return completion;
  }

  /** Reconciles reserved tokens and records the budget after the response; never delays or fails it. */
  private account(key: GatewayKey, reservation: RateLimitReservation | undefined, totalTokens: number | undefined): void {
    const tokens = totalTokens ?? 0;
    if (reservation && reservation.buckets.length > 0) {
      this.limiter.reconcile(reservation, tokens).catch((error: unknown) => this.logger.warn(`reconcile failed: ${String(error)}`));
    }
    if (key.budget && tokens > 0) void this.budgets.record(key, tokens);
  }

  /** Passes chunks through, folding them for accounting and the cache, and hides the usage chunk if not asked for. */
  private async *observe(
    chunks: AsyncIterable<ChatCompletionChunk>,
    request: ChatCompletionRequest,
    call: GatewayCall,
    admission: Admission,
    cacheKey: string | undefined,
    includeUsage: boolean,
  ): AsyncGenerator<ChatCompletionChunk> {
    const accumulator = new StreamAccumulator();
    let finished = false;
    try {
      for await (const chunk of chunks) {
        accumulator.add(chunk);
        if (!includeUsage && isUsageChunk(chunk)) continue;
        yield chunk;
      }
      finished = true;
    } finally {
      // An aborted stream still used tokens: without reported usage, estimate ~4 characters per token.
      const total = accumulator.usage?.total_tokens ?? Math.ceil(accumulator.outputChars / 4);
      this.account(call.key, admission.reservation, total);
      if (finished && cacheKey !== undefined && accumulator.complete) {
        void this.cache.set(cacheKey, JSON.stringify(accumulator.toCompletion()), cacheTtlMs(this.cacheConfig, request.model));
      }
    }
  }
}

async function* replay(chunks: ChatCompletionChunk[]): AsyncGenerator<ChatCompletionChunk> {
  yield* chunks;
}

function noCache(cacheControl: string | undefined): boolean {
  return cacheControl !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(cacheControl);
}

function noStore(cacheControl: string | undefined): boolean {
  return cacheControl !== undefined && /(^|,)\s*no-store\s*(,|$)/i.test(cacheControl);
}
