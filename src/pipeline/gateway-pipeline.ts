/**
 * The one pipeline every front's request goes through, from admission to accounting: model access, token budget,
 * rate limits (tokens reserved up front), the response cache (per front, with coalescing of identical non-streaming
 * misses), routing (deployments, fallbacks, breakers, deadline, hold-back), then token reconciliation, budgets,
 * metering (tokens and cost, see UsageService) and the request's telemetry. A front describes its request as a
 * FrontExchange (exchange.ts); nothing here knows a protocol.
 */
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { assertModelAllowed } from '../auth/api-key.service.js';
import { BudgetService } from '../auth/budget.service.js';
import { type SpendReservation, SpendService } from '../auth/spend.service.js';
import { cacheKeyFor } from '../cache/cache-key.js';
import { CACHE_CONFIG, TIERED_CACHE } from '../cache/cache.module.js';
import { cacheNamespace, cacheTtlMs, type CacheConfig } from '../cache/cache.config.js';
import type { TieredCache } from '../cache/tiered-cache.js';
import { Cancellation } from '../common/cancellation.js';
import { ClientClosedError, type GatewayError, RateLimitError } from '../common/errors/gateway.error.js';
import { SingleFlight } from '../common/single-flight.js';
import { type CacheResult, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { rateLimitHeaders } from '../rate-limit/rate-limit-headers.js';
import type { RateLimitConfig } from '../rate-limit/rate-limit.config.js';
import { RATE_LIMIT_CONFIG } from '../rate-limit/rate-limit.tokens.js';
import {
  type RateLimitDecision,
  type RateLimitRequest,
  type RateLimitReservation,
  RateLimiter,
} from '../rate-limit/rate-limiter.service.js';
import { routeHeaders } from '../routing/route-headers.js';
import { type RouteInfo, RouterService } from '../routing/router.service.js';
import { formatUsd, type TokenUsage } from '../usage/pricing.js';
import { UsageService } from '../usage/usage.service.js';
import type {
  FrontExchange,
  GatewayCall,
  PipelineAnswer,
  PipelineStream,
  StreamFold,
  StreamingExchange,
  TraceFacts,
} from './exchange.js';

/** Completion tokens reserved for token-rate limits when the request sets no max. */
const DEFAULT_RESERVED_COMPLETION_TOKENS = 1_024;

interface Admission {
  headers: Record<string, string>;
  reservation: RateLimitReservation | undefined;
  /** The spend budgets' reservation (database keys with USD or team budgets), settled when the request is accounted. */
  spend?: SpendReservation;
}

@Injectable()
export class GatewayPipeline {
  private readonly logger = new Logger(GatewayPipeline.name);
  /** Identical concurrent non-streaming misses, per cache key (which names the front). */
  private readonly inFlight = new SingleFlight<unknown>();
  private readonly sharedCalls = new SharedCancellations();

  constructor(
    readonly router: RouterService,
    private readonly budgets: BudgetService,
    private readonly limiter: RateLimiter,
    @Inject(RATE_LIMIT_CONFIG) private readonly rateLimit: RateLimitConfig,
    @Inject(TIERED_CACHE) private readonly cache: TieredCache,
    @Inject(CACHE_CONFIG) private readonly cacheConfig: CacheConfig,
    private readonly usage: UsageService,
    private readonly metrics: GatewayMetrics,
    // Last and optional so the pipeline can still be built by hand without spend budgets (unit specs); Nest always
    // injects it (AuthModule).
    @Optional() private readonly spend?: SpendService,
  ) {}

  async complete<Answer>(exchange: FrontExchange<Answer>, call: GatewayCall): Promise<PipelineAnswer<Answer>> {
    const admitted = this.admit(exchange, call, false);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    const cacheKey = this.cacheKey(exchange, call);
    if (cacheKey === undefined) {
      if (this.cacheConfig.enabled) this.cacheResult(call, admission, 'bypass');
      const { result, route } = await this.failed(this.upstream(exchange, call, call, admission.headers), admission);
      this.accountAnswer(exchange, call, admission, result, route);
      return { answer: result, headers: admission.headers };
    }
    if (!noCache(call.cacheControl)) {
      const cached = await this.lookup(cacheKey, call);
      if (cached !== undefined) {
        const answer = exchange.parse(cached);
        this.cacheResult(call, admission, 'hit');
        this.accountAnswer(exchange, call, admission, answer, undefined);
        return { answer, headers: admission.headers };
      }
    }
    this.cacheResult(call, admission, 'miss');
    // Only the first of identical concurrent requests calls upstream; the others share its answer. The shared call is
    // cancelled only when every one of its callers has left.
    let served: RouteInfo | undefined;
    const shared = this.sharedCalls.join(cacheKey, call.context.cancellation);
    const answer = (await this.failed(
      untilCancelled(
        call.context.cancellation,
        this.inFlight.run(cacheKey, async () => {
          try {
            const sharedCall = { ...call, context: { ...call.context, cancellation: shared } };
            const fresh = await this.upstream(exchange, sharedCall, call, admission.headers);
            served = fresh.route;
            if (exchange.complete(fresh.result)) {
              void this.cache.set(
                cacheKey,
                exchange.serialize(fresh.result),
                cacheTtlMs(this.cacheConfig, exchange.model),
              );
            }
            return fresh.result;
          } finally {
            this.sharedCalls.done(cacheKey);
          }
        }),
      ),
      admission,
    )) as Answer;
    this.accountAnswer(exchange, call, admission, answer, served);
    return { answer, headers: admission.headers };
  }

  async stream<Answer, Item>(
    exchange: StreamingExchange<Answer, Item>,
    call: GatewayCall,
  ): Promise<PipelineStream<Item>> {
    const admitted = this.admit(exchange, call, true);
    const admission = admitted instanceof Promise ? await admitted : admitted;
    const cacheKey = this.cacheKey(exchange, call);
    if (cacheKey !== undefined && !noCache(call.cacheControl)) {
      const cached = await this.lookup(cacheKey, call);
      if (cached !== undefined) {
        const answer = exchange.parse(cached);
        this.cacheResult(call, admission, 'hit');
        this.accountAnswer(exchange, call, admission, answer, undefined);
        return { items: replay(exchange.replay(answer)), headers: admission.headers };
      }
    }
    if (this.cacheConfig.enabled) this.cacheResult(call, admission, cacheKey === undefined ? 'bypass' : 'miss');
    const { chunks, route } = await this.failed(
      this.router.streamWith(exchange.model, call.context, exchange.opener),
      admission,
    );
    const telemetry = call.context.telemetry;
    if (telemetry) telemetry.route = route;
    Object.assign(admission.headers, routeHeaders(route));
    exchange.addHeaders?.(admission.headers);
    // A key that logs bodies needs the whole answer too.
    const fold = exchange.fold(cacheKey !== undefined || call.key.logBodies === true);
    const items = new FoldedStream(chunks[Symbol.asyncIterator](), fold, (finished) => {
      // An aborted stream still used tokens: without reported usage, estimate ~4 characters (or body bytes) per token.
      const usage = fold.usage() ?? {
        prompt: Math.ceil((call.bodyBytes ?? 0) / 4),
        completion: Math.ceil(fold.outputChars / 4),
        estimated: true,
      };
      this.account(call, admission, route.model, route.provider, usage, usage.prompt + usage.completion);
      this.traceCompleted(call, usage, fold.trace());
      const answer = finished ? fold.answer() : undefined;
      if (answer === undefined) return;
      if (call.key.logBodies && telemetry) telemetry.responseBody = exchange.serialize(answer);
      if (cacheKey !== undefined) {
        void this.cache.set(cacheKey, exchange.serialize(answer), cacheTtlMs(this.cacheConfig, exchange.model));
      }
      exchange.finished?.(answer);
    });
    return { items, headers: admission.headers };
  }

  /** The model exists and the caller's key may use it (a call that is not metered, such as count_tokens). */
  authorize(model: string, call: GatewayCall): void {
    this.router.assertModelExists(model);
    assertModelAllowed(call.key, model);
  }

  /**
   * Access, budget and rate limits; throws the error the client should see. Synchronous (no promise, no
   * microtask hop on the request path) unless the key has a token budget or the limits live in Redis.
   */
  private admit<Answer>(
    exchange: FrontExchange<Answer>,
    call: GatewayCall,
    stream: boolean,
  ): Admission | Promise<Admission> {
    this.router.assertModelExists(exchange.model);
    const telemetry = call.context.telemetry;
    if (telemetry) {
      telemetry.requested(exchange.model, stream);
      telemetry.trace?.recordInput(exchange.traceInput);
    }
    assertModelAllowed(call.key, exchange.model);
    if (this.budgets.applies(call.key) || call.key.spend !== undefined) return this.admitWithBudget(exchange, call);
    return this.limit(exchange, call);
  }

  private async admitWithBudget<Answer>(exchange: FrontExchange<Answer>, call: GatewayCall): Promise<Admission> {
    let spend: SpendReservation | undefined;
    try {
      await this.budgets.assertWithinBudget(call.key);
      spend = await this.spend?.reserve(call.key, exchange.model, call.bodyBytes ?? 0, exchange.maxOutputTokens);
    } catch (error) {
      if ((error as GatewayError).code === 'insufficient_quota') this.metrics.rateLimited.budget.inc();
      throw error;
    }
    try {
      const limited = this.limit(exchange, call);
      const admission = limited instanceof Promise ? await limited : limited;
      admission.spend = spend;
      return admission;
    } catch (error) {
      // Refused by a rate limit after all: the reservation goes back.
      this.spend?.settle(spend, 0, 0);
      throw error;
    }
  }

  private limit<Answer>(exchange: FrontExchange<Answer>, call: GatewayCall): Admission | Promise<Admission> {
    if (!this.rateLimit.enabled) return { headers: {}, reservation: undefined };
    const check: RateLimitRequest = {
      keyId: call.key.id,
      model: exchange.model,
      reservedTokens:
        Math.ceil((call.bodyBytes ?? 0) / 4) + (exchange.maxOutputTokens ?? DEFAULT_RESERVED_COMPLETION_TOKENS),
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

  /** The cache key, or undefined when this request is not cached. Entries of one front are never another's. */
  private cacheKey<Answer>(exchange: FrontExchange<Answer>, call: GatewayCall): string | undefined {
    const config = this.cacheConfig;
    const cache = exchange.cache;
    if (!config.enabled || cache === undefined || noStore(call.cacheControl)) return undefined;
    if (config.mode === 'off' || (config.mode === 'deterministic' && !cache.deterministic)) return undefined;
    const namespace = cacheNamespace(config, call.key.id);
    // Chat entries keep the namespace they always had; the other fronts' are prefixed with the front.
    return cacheKeyFor(cache.material, exchange.front === 'chat' ? namespace : `${exchange.front}/${namespace}`);
  }

  /** Routes on `routing`'s context (a shared call's own cancellation); `call` is the request's own. */
  private async upstream<Answer>(
    exchange: FrontExchange<Answer>,
    routing: GatewayCall,
    call: GatewayCall,
    headers: Record<string, string>,
  ) {
    const routed = await this.router.completeWith(exchange.model, routing.context, exchange.call);
    Object.assign(headers, routeHeaders(routed.route));
    exchange.addHeaders?.(headers);
    const telemetry = call.context.telemetry;
    if (telemetry) telemetry.route = routed.route;
    return routed;
  }

  /** A request that got no answer gives its reserved tokens and spend back (it used none). */
  private async failed<T>(pending: Promise<T>, admission: Admission): Promise<T> {
    try {
      return await pending;
    } catch (error) {
      const reservation = admission.reservation;
      if (reservation && reservation.buckets.length > 0) {
        this.limiter
          .reconcile(reservation, 0)
          .catch((failure: unknown) => this.logger.warn(`reconcile failed: ${String(failure)}`));
      }
      this.spend?.settle(admission.spend, 0, 0);
      throw error;
    }
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
   * Accounts a whole answer. `served` is where it came from upstream (metered and priced); without it, no upstream
   * call was made for this request (a cache hit, or a duplicate that shared another's call): no tokens are metered,
   * it costs 0, and the budget is not charged.
   */
  private accountAnswer<Answer>(
    exchange: FrontExchange<Answer>,
    call: GatewayCall,
    admission: Admission,
    answer: Answer,
    served: RouteInfo | undefined,
  ): void {
    const usage = served ? exchange.usageOf(answer) : undefined;
    const budgetTokens = usage ? usage.prompt + usage.completion : 0;
    if (served) this.account(call, admission, served.model, served.provider, usage, budgetTokens);
    else this.account(call, admission, exchange.model, undefined, undefined, 0);
    this.traceCompleted(call, usage, exchange.traceOf(answer));
    const telemetry = call.context.telemetry;
    if (call.key.logBodies && telemetry) telemetry.responseBody = exchange.serialize(answer);
    exchange.finished?.(answer);
  }

  /**
   * Reconciles reserved tokens and records the budget after the response (never delays or fails it), then meters
   * the request as served by `model` on `provider` (none: no upstream call was made for it) with `usage`.
   */
  private account(
    call: GatewayCall,
    admission: Admission,
    model: string,
    provider: string | undefined,
    usage: TokenUsage | undefined,
    budgetTokens: number,
  ): void {
    const key = call.key;
    const reservation = admission.reservation;
    if (reservation && reservation.buckets.length > 0) {
      this.limiter
        .reconcile(reservation, budgetTokens)
        .catch((error: unknown) => this.logger.warn(`reconcile failed: ${String(error)}`));
    }
    if (key.budget && budgetTokens > 0) void this.budgets.record(key, budgetTokens);
    const cost = this.usage.record(key.id, model, provider, usage);
    this.spend?.settle(admission.spend, cost ?? 0, budgetTokens);
    call.context.telemetry?.accounted(usage, cost);
    if (cost !== undefined) admission.headers['x-gateway-cost'] = formatUsd(cost);
  }

  private traceCompleted(call: GatewayCall, usage: TokenUsage | undefined, facts: TraceFacts): void {
    const trace = call.context.telemetry?.trace;
    if (!trace) return;
    trace.completed({
      inputTokens: usage?.prompt,
      outputTokens: usage?.completion,
      responseModel: facts.responseModel,
      finishReasons: facts.finishReasons,
      output: facts.output,
    });
  }
}

/**
 * The cancellation of a call several callers share (coalesced identical requests): it fires when the last of them
 * has left, never because one of them did.
 */
class SharedCancellations {
  private readonly calls = new Map<string, { cancellation: Cancellation; callers: number }>();

  join(key: string, caller: Cancellation): Cancellation {
    let shared = this.calls.get(key);
    if (!shared) {
      shared = { cancellation: new Cancellation(), callers: 0 };
      this.calls.set(key, shared);
    }
    const joined = shared;
    joined.callers++;
    caller.onCancel(() => {
      if (--joined.callers === 0) joined.cancellation.cancel(new ClientClosedError());
    });
    return joined.cancellation;
  }

  /** The shared call settled: later identical requests start a call of their own. */
  done(key: string): void {
    this.calls.delete(key);
  }
}

/**
 * A stream's items on their way to the client, folded as they pass; `onEnd` runs once, when the source ends
 * (`finished`), fails, or the consumer stops early. A plain iterator rather than an async generator: one promise
 * reaction per item instead of a generator's await-and-resume on every item.
 */
class FoldedStream<Answer, Item> implements AsyncIterableIterator<Item> {
  private ended = false;

  constructor(
    private readonly source: AsyncIterator<Item>,
    private readonly fold: StreamFold<Answer, Item>,
    private readonly onEnd: (finished: boolean) => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Item>> {
    return this.source.next().then(this.received, this.failed);
  }

  async return(): Promise<IteratorResult<Item>> {
    try {
      if (!this.ended) await this.source.return?.();
    } finally {
      this.end(false);
    }
    return { value: undefined, done: true };
  }

  private readonly received = (result: IteratorResult<Item>): IteratorResult<Item> | Promise<IteratorResult<Item>> => {
    if (result.done) {
      this.end(true);
      return result;
    }
    if (!this.fold.add(result.value)) return this.next();
    return result;
  };

  private readonly failed = (error: unknown): never => {
    this.end(false);
    throw error;
  };

  private end(finished: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(finished);
  }
}

/** `pending`, or ClientClosedError as soon as this caller's own client left (a shared call goes on for the others). */
function untilCancelled<T>(cancellation: Cancellation, pending: Promise<T>): Promise<T> {
  if (cancellation.aborted) return Promise.reject(new ClientClosedError());
  return new Promise<T>((resolve, reject) => {
    const stop = cancellation.onCancel(() => reject(new ClientClosedError()));
    pending.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error);
      },
    );
  });
}

async function* replay<Item>(items: Item[]): AsyncGenerator<Item> {
  yield* items;
}

function noCache(cacheControl: string | undefined): boolean {
  return cacheControl !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(cacheControl);
}

function noStore(cacheControl: string | undefined): boolean {
  return cacheControl !== undefined && /(^|,)\s*no-store\s*(,|$)/i.test(cacheControl);
}
