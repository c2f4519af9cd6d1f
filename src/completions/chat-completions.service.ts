/**
 * One chat completion request from admission to accounting: model access, token budget, rate limits,
 * the response cache (with coalescing of identical misses), routing, then usage reconciliation, metering (tokens
 * and cost, see UsageService) and the request's telemetry.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { assertModelAllowed } from '../auth/api-key.service.js';
import { BudgetService } from '../auth/budget.service.js';
import type { GatewayKey } from '../auth/gateway-key.js';
import { CACHE_CONFIG, TIERED_CACHE } from '../cache/cache.module.js';
import { cacheNamespace, cacheTtlMs, type CacheConfig } from '../cache/cache.config.js';
import { cacheKeyFor, isCacheable } from '../cache/cache-key.js';
import { SingleFlight } from '../common/single-flight.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { type GatewayError, RateLimitError } from '../common/errors/gateway.error.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../common/openai.types.js';
import { type CacheResult, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { rateLimitHeaders } from '../rate-limit/rate-limit-headers.js';
import { RATE_LIMIT_CONFIG } from '../rate-limit/rate-limit.tokens.js';
import {
  type RateLimitDecision,
  type RateLimitRequest,
  type RateLimitReservation,
  RateLimiter,
} from '../rate-limit/rate-limiter.service.js';
import type { RateLimitConfig } from '../rate-limit/rate-limit.config.js';
import { routeHeaders } from '../routing/route-headers.js';
import { type RouteInfo, type RouteRequestContext, RouterService } from '../routing/router.service.js';
import { formatUsd, type TokenUsage, tokenUsage } from '../usage/pricing.js';
import { RAW_JSON, type WithRawJson } from '../providers/llm-provider.js';
import { UsageService } from '../usage/usage.service.js';
import { completionToChunks, isUsageChunk, StreamAccumulator } from './stream-accumulator.js';

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
    private readonly usage: UsageService,
    private readonly metrics: GatewayMetrics,
  ) {}

  async complete(request: ChatCompletionRequest, call: GatewayCall): Promise<CompletionResult> {
    const admitted = this.admit(request, call, false);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    const cacheKey = this.cacheKey(request, call);
    if (cacheKey === undefined) {
      if (this.cacheConfig.enabled) this.cacheResult(call, admission, 'bypass');
      const { completion, route } = await this.upstream(request, call, admission.headers);
      this.accountCompletion(call, admission, request.model, completion, route, completion.usage?.total_tokens ?? 0);
      return { completion, headers: admission.headers };
    }
    if (!noCache(call.cacheControl)) {
      const cached = await this.lookup(cacheKey, call);
      if (cached !== undefined) {
        const completion = JSON.parse(cached) as WithRawJson<ChatCompletion>;
        completion[RAW_JSON] = cached;
        this.cacheResult(call, admission, 'hit');
        this.accountCompletion(call, admission, request.model, completion, undefined, 0);
        return { completion, headers: admission.headers };
      }
    }
    this.cacheResult(call, admission, 'miss');
    // Only the first of identical concurrent requests calls upstream; the others share its answer.
    let served: RouteInfo | undefined;
    const completion = await this.inFlight.run(cacheKey, async () => {
      const fresh = await this.upstream(request, call, admission.headers);
      served = fresh.route;
      if (fresh.completion.choices.every((choice) => choice.finish_reason !== null)) {
        void this.cache.set(cacheKey, jsonText(fresh.completion), cacheTtlMs(this.cacheConfig, request.model));
      }
      return fresh.completion;
    });
    this.accountCompletion(call, admission, request.model, completion, served, completion.usage?.total_tokens ?? 0);
    return { completion, headers: admission.headers };
  }

  async stream(request: ChatCompletionRequest, call: GatewayCall): Promise<StreamResult> {
    const admitted = this.admit(request, call, true);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    const includeUsage = request.stream_options?.include_usage === true;
    const cacheKey = this.cacheKey(request, call);
    if (cacheKey !== undefined && !noCache(call.cacheControl)) {
      const cached = await this.lookup(cacheKey, call);
      if (cached !== undefined) {
        const completion = JSON.parse(cached) as ChatCompletion;
        this.cacheResult(call, admission, 'hit');
        this.accountCompletion(call, admission, request.model, completion, undefined, 0);
        return { chunks: replay(completionToChunks(completion, includeUsage)), headers: admission.headers };
      }
    }
    if (this.cacheConfig.enabled) this.cacheResult(call, admission, cacheKey === undefined ? 'bypass' : 'miss');
    // Usage is always asked for upstream (accounting needs it); the usage chunk reaches the client only if it asked.
    const upstreamRequest = includeUsage
      ? request
      : { ...request, stream_options: { ...request.stream_options, include_usage: true } };
    const { chunks, route } = await this.router.stream(upstreamRequest, call.context);
    const telemetry = call.context.telemetry;
    if (telemetry) telemetry.route = route;
    Object.assign(admission.headers, routeHeaders(route));
    const observed = this.observe(chunks, request, call, admission, cacheKey, includeUsage, route);
    return { chunks: observed, headers: admission.headers };
  }

  /**
   * Access, budget and rate limits; throws the error the client should see. Synchronous (no promise, no
   * microtask hop on the request path) unless the key has a token budget or the limits live in Redis.
   */
  private admit(request: ChatCompletionRequest, call: GatewayCall, stream: boolean): Admission | Promise<Admission> {
    this.router.assertModelExists(request.model);
    const telemetry = call.context.telemetry;
    if (telemetry) {
      telemetry.requested(request.model, stream);
      telemetry.trace?.recordInput(request.messages);
    }
    assertModelAllowed(call.key, request.model);
    if (this.budgets.applies(call.key)) return this.admitWithBudget(request, call);
    return this.limit(request, call);
  }

  private async admitWithBudget(request: ChatCompletionRequest, call: GatewayCall): Promise<Admission> {
    try {
      await this.budgets.assertWithinBudget(call.key);
    } catch (error) {
      if ((error as GatewayError).code === 'insufficient_quota') this.metrics.rateLimited.budget.inc();
      throw error;
    }
    return this.limit(request, call);
  }

  private limit(request: ChatCompletionRequest, call: GatewayCall): Admission | Promise<Admission> {
    if (!this.rateLimit.enabled) return { headers: {}, reservation: undefined };
    const maxOutput = request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_RESERVED_COMPLETION_TOKENS;
    const check: RateLimitRequest = {
      keyId: call.key.id,
      model: request.model,
      reservedTokens: Math.ceil((call.bodyBytes ?? 0) / 4) + maxOutput,
      limits: call.key.limits,
    };
    const decision = this.limiter.checkNow(check);
    if (decision !== undefined) return this.admission(decision);
    return this.limiter.check(check).then((later) => this.admission(later));
  }

  private admission(decision: RateLimitDecision): Admission {
    const headers = rateLimitHeaders(decision);
    if (!decision.allowed) {
      this.metrics.rateLimited[decision.scope].inc();
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
    if (!this.cacheConfig.enabled || noStore(call.cacheControl) || !isCacheable(request, this.cacheConfig))
      return undefined;
    return cacheKeyFor(request, cacheNamespace(this.cacheConfig, call.key.id));
  }

  private async upstream(request: ChatCompletionRequest, call: GatewayCall, headers: Record<string, string>) {
    const routed = await this.router.complete(request, call.context);
    Object.assign(headers, routeHeaders(routed.route));
    const telemetry = call.context.telemetry;
    if (telemetry) telemetry.route = routed.route;
    return routed;
  }

  /** A cache lookup, in its own span while tracing. */
  private async lookup(cacheKey: string, call: GatewayCall): Promise<string | undefined> {
    const span = call.context.telemetry?.trace?.startCacheLookup();
    if (!span) return this.cache.get(cacheKey);
    try {
      const cached = await this.cache.get(cacheKey);
      span.setAttribute('gateway.cache.result', cached === undefined ? 'miss' : 'hit');
      return cached;
    } finally {
      span.end();
    }
  }

  private cacheResult(call: GatewayCall, admission: Admission, result: CacheResult): void {
    admission.headers['x-gateway-cache'] = result;
    const telemetry = call.context.telemetry;
    if (telemetry) telemetry.cached(result);
    else this.metrics.cacheLookups[result].inc();
  }

  /**
   * Accounts a whole completion. `served` is where it came from upstream (metered and priced); without it, no
   * upstream call was made for this request (a cache hit, or a duplicate that shared another's call): no tokens
   * are metered and it costs 0. The budget is charged `budgetTokens`.
   */
  private accountCompletion(
    call: GatewayCall,
    admission: Admission,
    requestedModel: string,
    completion: ChatCompletion,
    served: RouteInfo | undefined,
    budgetTokens: number,
  ): void {
    const usage = served ? tokenUsage(completion.usage) : undefined;
    const cost = served
      ? this.account(call, admission.reservation, budgetTokens, served.model, served.provider, usage)
      : this.account(call, admission.reservation, budgetTokens, requestedModel, undefined, undefined);
    if (cost !== undefined) admission.headers['x-gateway-cost'] = formatUsd(cost);
    const trace = call.context.telemetry?.trace;
    if (trace) {
      trace.completed({
        inputTokens: usage?.prompt,
        outputTokens: usage?.completion,
        responseModel: completion.model,
        finishReasons: finishReasons(completion),
        output: () => completion.choices.map((choice) => choice.message),
      });
    }
  }

  /**
   * Reconciles reserved tokens and records the budget after the response (never delays or fails it), then meters
   * the request as served by `model` on `provider` (none: no upstream call was made for it) with `usage`. Returns
   * the cost in USD, undefined when the model has no pricing.
   */
  private account(
    call: GatewayCall,
    reservation: RateLimitReservation | undefined,
    budgetTokens: number,
    model: string,
    provider: string | undefined,
    usage: TokenUsage | undefined,
  ): number | undefined {
    const key = call.key;
    if (reservation && reservation.buckets.length > 0) {
      this.limiter
        .reconcile(reservation, budgetTokens)
        .catch((error: unknown) => this.logger.warn(`reconcile failed: ${String(error)}`));
    }
    if (key.budget && budgetTokens > 0) void this.budgets.record(key, budgetTokens);
    const cost = this.usage.record(key.id, model, provider, usage);
    call.context.telemetry?.accounted(usage, cost);
    return cost;
  }

  /** Passes chunks through, folding them for accounting and the cache, and hides the usage chunk if not asked for. */
  private observe(
    chunks: AsyncIterable<ChatCompletionChunk>,
    request: ChatCompletionRequest,
    call: GatewayCall,
    admission: Admission,
    cacheKey: string | undefined,
    includeUsage: boolean,
    route: RouteInfo,
  ): AsyncIterableIterator<ChatCompletionChunk> {
    return new ObservedChunks(chunks[Symbol.asyncIterator](), includeUsage, (accumulator, finished) => {
      // An aborted stream still used tokens: without reported usage, estimate ~4 characters (or body bytes) per token.
      const usage = tokenUsage(accumulator.usage) ?? {
        prompt: Math.ceil((call.bodyBytes ?? 0) / 4),
        completion: Math.ceil(accumulator.outputChars / 4),
        estimated: true,
      };
      this.account(call, admission.reservation, usage.prompt + usage.completion, route.model, route.provider, usage);
      const trace = call.context.telemetry?.trace;
      if (trace) {
        trace.completed({
          inputTokens: usage.prompt,
          outputTokens: usage.completion,
          responseModel: accumulator.responseModel || undefined,
          finishReasons: accumulator.finishReasons(),
          output: () => accumulator.toCompletion().choices.map((choice) => choice.message),
        });
      }
      if (finished && cacheKey !== undefined && accumulator.complete) {
        void this.cache.set(
          cacheKey,
          JSON.stringify(accumulator.toCompletion()),
          cacheTtlMs(this.cacheConfig, request.model),
        );
      }
    });
  }
}

/**
 * A stream's chunks on their way to the client, folded into a StreamAccumulator; `onEnd` runs once, when the
 * source ends (`finished`), fails, or the consumer stops early. A plain iterator rather than an async generator:
 * one promise reaction per chunk instead of a generator's await-and-resume on every chunk.
 */
class ObservedChunks implements AsyncIterableIterator<ChatCompletionChunk> {
  private readonly accumulator = new StreamAccumulator();
  private ended = false;

  constructor(
    private readonly source: AsyncIterator<ChatCompletionChunk>,
    private readonly includeUsage: boolean,
    private readonly onEnd: (accumulator: StreamAccumulator, finished: boolean) => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ChatCompletionChunk>> {
    return this.source.next().then(this.received, this.failed);
  }

  async return(): Promise<IteratorResult<ChatCompletionChunk>> {
    try {
      if (!this.ended) await this.source.return?.();
    } finally {
      this.end(false);
    }
    return { value: undefined, done: true };
  }

  private readonly received = (
    result: IteratorResult<ChatCompletionChunk>,
  ): IteratorResult<ChatCompletionChunk> | Promise<IteratorResult<ChatCompletionChunk>> => {
    if (result.done) {
      this.end(true);
      return result;
    }
    this.accumulator.add(result.value);
    // The usage chunk is always asked for upstream (accounting); the client sees it only if it asked.
    if (!this.includeUsage && isUsageChunk(result.value)) return this.next();
    return result;
  };

  private readonly failed = (error: unknown): never => {
    this.end(false);
    throw error;
  };

  private end(finished: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this.accumulator, finished);
  }
}

function jsonText(completion: WithRawJson<ChatCompletion>): string {
  return completion[RAW_JSON] ?? JSON.stringify(completion);
}

function finishReasons(completion: ChatCompletion): string[] {
  const reasons: string[] = [];
  for (const choice of completion.choices) if (choice.finish_reason) reasons.push(choice.finish_reason);
  return reasons;
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
