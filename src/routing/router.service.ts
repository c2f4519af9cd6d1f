/**
 * Runs one request through its model group: picks deployments, retries the next one on retryable failures,
 * then the configured fallback groups, all within one deadline and one attempt budget. Streams are held back
 * until their first content chunk so a failure before any output can still fall back invisibly.
 */
import { Inject, Injectable, Optional } from '@nestjs/common';
import { context as otelContext } from '@opentelemetry/api';
import {
  ClientClosedError,
  GatewayError,
  InvalidRequestError,
  ServiceUnavailableError,
  UpstreamTimeoutError,
} from '../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../common/openai.types.js';
import { GatewayMetrics, type ModelSeries } from '../metrics/gateway-metrics.js';
import type { RequestTelemetry } from '../observability/request-telemetry.js';
import { type ProviderCallContext, supportsEmbeddings } from '../providers/llm-provider.js';
import { Cancellation, DeadlineExceeded, type LinkedCancellation } from '../common/cancellation.js';
import { AttemptBudget } from './attempt-budget.js';
import {
  ClientDeadlineError,
  classifyFailure,
  countsAgainstDeployment,
  errorOrigin,
  type CountedFailure,
  movesToNextDeployment,
  UnexpectedAttemptError,
} from './failure.js';
import { type Deployment, type ModelGroup, ModelRouter } from './model-router.js';
import { CLOCK } from './routing.tokens.js';
import { ewma } from './selection.js';
import { SessionAffinity } from './session-affinity.js';

export interface RouteRequestContext {
  /**
   * Cancelled when the client leaves. It belongs to this request (or LlmClient call) alone: the router also
   * cancels it when the request's deadline passes.
   */
  cancellation: Cancellation;
  requestId: string;
  /** A shorter deadline the client asked for (x-gateway-timeout-ms); capped by the group's timeout. */
  timeoutMs?: number;
  /** The API request's telemetry (absent for calls made through LlmClient). */
  telemetry?: RequestTelemetry;
  /** The request's session, for affinity (see session-affinity.ts). */
  session?: string;
}

export interface RouteInfo {
  /** The public model (group) that served: differs from the requested one after a fallback. */
  model: string;
  deployment: string;
  /** The configured name of the deployment's provider. */
  provider: string;
  attempts: number;
}

export interface RoutedCompletion {
  completion: ChatCompletion;
  route: RouteInfo;
}

export interface RoutedStream<Item = ChatCompletionChunk> {
  chunks: AsyncIterable<Item>;
  route: RouteInfo;
}

export interface Routed<T> {
  result: T;
  route: RouteInfo;
}

/**
 * One attempt's upstream call, for a deployment the router chose: the chat call, or a front's own (a native
 * passthrough, or a translation to chat). `context` carries the attempt's cancellation, budget and deadline.
 */
export type AttemptCall<T> = (deployment: Deployment, context: ProviderCallContext) => Promise<T>;

/** How a stream of one front is opened on a deployment, and which of its items carry output (for the hold-back). */
export interface StreamOpener<Item> {
  open: AttemptCall<AsyncIterable<Item>>;
  hasOutput: (item: Item) => boolean;
}

/** Why the gateway itself aborted an attempt. */
class AttemptTimeout extends Error {
  constructor(
    readonly code: 'ttft_timeout' | 'idle_timeout',
    readonly ms: number,
  ) {
    super(code);
  }
}

const HOLD_EXPIRED = Symbol('holdExpired');

/** A chunk carrying output: content, a refusal, reasoning or a tool call (or the end of a choice). */
export function chunkHasOutput(chunk: ChatCompletionChunk): boolean {
  const choices = chunk.choices;
  for (let i = 0; i < choices.length; i++) {
    const delta = choices[i].delta;
    if (
      delta &&
      (delta.content || delta.refusal || delta.tool_calls || delta.reasoning_content || delta.thinking_blocks)
    ) {
      return true;
    }
    if (choices[i].finish_reason) return true;
  }
  return false;
}

interface RequestPlan {
  budget: AttemptBudget;
  /** The request's cancellation: the client leaving, or the deadline; every attempt derives from it. */
  cancellation: Cancellation;
  /** Set by `armDeadline` once the first attempt is on its way; cleared by `disposePlan`. */
  deadlineTimer: NodeJS.Timeout | undefined;
  deadlineMs: number;
  /** The deadline is shorter than the group's because the client asked (x-gateway-timeout-ms). */
  deadlineFromClient: boolean;
  /** performance.now() ms at which the deadline cancels the request. */
  deadlineAt: number;
  requestId: string;
  telemetry: RequestTelemetry | undefined;
  /** A stream's successful attempt is measured until the stream ends, not when routing returns. */
  stream: boolean;
  /** The request's session, when affinity pins it (see session-affinity.ts). */
  session: string | undefined;
}

/** One embeddings attempt: a deployment whose provider cannot embed is a caller error (the model does not embed). */
export function embeddingCall(request: EmbeddingRequest): AttemptCall<EmbeddingResponse> {
  return (deployment, context) => {
    const provider = deployment.provider;
    if (!supportsEmbeddings(provider)) {
      throw new InvalidRequestError(
        `The model '${request.model}' does not support embeddings.`,
        'model',
        'model_not_supported',
      );
    }
    return provider.embed(forDeployment(request, deployment), context);
  };
}

/** The request as the deployment receives it: under its upstream model name (the same object when unchanged). */
export function forDeployment<R extends { model: string }>(request: R, deployment: Deployment): R {
  return request.model === deployment.model ? request : { ...request, model: deployment.model };
}

/**
 * Starts the request's deadline (its cancellation is cancelled when `deadlineMs` have passed). Called just after
 * the attempt loop started: the first upstream request is dispatched synchronously, so the timer is set while it
 * travels rather than before it leaves. `deadlineAt`, which upstream calls use, is fixed when the plan is made.
 */
function armDeadline(plan: RequestPlan): void {
  const { cancellation, deadlineMs } = plan;
  plan.deadlineTimer = setTimeout(() => cancellation.cancel(new DeadlineExceeded(deadlineMs)), deadlineMs);
  plan.deadlineTimer.unref();
}

/** Clears the deadline timer once the request is over. */
function disposePlan(plan: RequestPlan): void {
  clearTimeout(plan.deadlineTimer);
}

@Injectable()
export class RouterService {
  constructor(
    private readonly router: ModelRouter,
    @Inject(CLOCK) private readonly now: () => number,
    private readonly metrics: GatewayMetrics,
    @Optional() private readonly affinity?: SessionAffinity,
  ) {
    metrics.watchBreakers(() => router.deployments());
  }

  /** Throws 404 model_not_found for a model that is not configured. */
  assertModelExists(model: string): void {
    this.router.group(model);
  }

  async complete(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedCompletion> {
    const { result, route } = await this.completeWith(request.model, context, (deployment, call) =>
      deployment.provider.chat(forDeployment(request, deployment), call),
    );
    return { completion: result, route };
  }

  /** A non-streaming request of any front: `call` makes one attempt's upstream call on the deployment chosen. */
  async completeWith<T>(model: string, context: RouteRequestContext, call: AttemptCall<T>): Promise<Routed<T>> {
    const primary = this.router.group(model);
    const plan = this.plan(primary, context, false);
    const routed = this.run(primary, plan, (group, deployment) => this.completeAttempt(call, plan, group, deployment));
    armDeadline(plan);
    try {
      return await routed;
    } finally {
      disposePlan(plan);
    }
  }

  private async completeAttempt<T>(
    call: AttemptCall<T>,
    plan: RequestPlan,
    group: ModelGroup,
    deployment: Deployment,
  ): Promise<Routed<T>> {
    const started = this.now();
    deployment.stats.inFlight++;
    let result: T;
    try {
      // No cancellation of its own: only streams have per-attempt timeouts.
      result = await call(deployment, {
        cancellation: plan.cancellation,
        requestId: plan.requestId,
        budget: plan.budget,
        deadlineAt: plan.deadlineAt,
      });
    } catch (thrown) {
      throw this.normalise(thrown, plan);
    } finally {
      deployment.stats.inFlight--;
    }
    deployment.stats.latencyEwmaMs = ewma(deployment.stats.latencyEwmaMs, this.now() - started);
    deployment.breaker.onSuccess();
    return { result, route: this.route(group, deployment, plan) };
  }

  async stream(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedStream> {
    return this.streamWith(request.model, context, {
      open: (deployment, call) => deployment.provider.chatStream(forDeployment(request, deployment), call),
      hasOutput: chunkHasOutput,
    });
  }

  /** A stream of any front: `opener` opens one attempt's upstream stream and says which items carry output. */
  async streamWith<Item>(
    model: string,
    context: RouteRequestContext,
    opener: StreamOpener<Item>,
  ): Promise<RoutedStream<Item>> {
    const primary = this.router.group(model);
    const plan = this.plan(primary, context, true);
    const routed = this.run(primary, plan, (group, deployment, startedAt) =>
      this.openStream(group, deployment, opener, plan, startedAt),
    );
    armDeadline(plan);
    try {
      // The plan (deadline timer) is released when the stream ends: see continueStream.
      return await routed;
    } catch (error) {
      disposePlan(plan);
      throw error;
    }
  }

  private plan(group: ModelGroup, context: RouteRequestContext, stream: boolean): RequestPlan {
    const deadlineMs =
      context.timeoutMs === undefined ? group.config.timeoutMs : Math.min(context.timeoutMs, group.config.timeoutMs);
    const budget = new AttemptBudget(group.config.maxAttempts);
    const telemetry = context.telemetry;
    if (telemetry) {
      telemetry.budget = budget;
      telemetry.trace?.startRoute(group.name);
    }
    return {
      budget,
      cancellation: context.cancellation,
      deadlineTimer: undefined,
      deadlineMs,
      deadlineFromClient: deadlineMs < group.config.timeoutMs,
      deadlineAt: performance.now() + deadlineMs,
      requestId: context.requestId,
      telemetry,
      stream,
      session: this.affinity?.enabled ? context.session : undefined,
    };
  }

  /**
   * The attempt loop: deployments of the group, then fallback groups (breadth-first, never revisited). Each
   * attempt is timed from here (`startedAt`, performance.now() ms): upstream wait, model latency, spans.
   */
  private async run<T>(
    primary: ModelGroup,
    plan: RequestPlan,
    attempt: (group: ModelGroup, deployment: Deployment, startedAt: number) => Promise<T>,
  ): Promise<T> {
    const queue: ModelGroup[] = [primary];
    /** The group whose fallback list queued each group, for the fallback metric (only once there is one). */
    let via: Map<ModelGroup, ModelGroup> | undefined;
    const visited = new Set<string>([primary.name]);
    const telemetry = plan.telemetry;
    let lastError: GatewayError | undefined;
    for (let g = 0; g < queue.length; g++) {
      const group = queue[g];
      const from = via?.get(group);
      if (from) {
        this.metrics.fallback(from.name, group.name)?.inc();
        if (telemetry) telemetry.fallbacks++;
      }
      const tried = new Set<Deployment>();
      const session = plan.session;
      let pinned: string | undefined;
      if (session !== undefined) {
        const found = this.affinity!.pinned(group.name, session);
        pinned = found instanceof Promise ? await found : found;
      }
      for (;;) {
        const deployment = this.router.choose(group, tried, pinned);
        if (!deployment) break;
        if (!plan.budget.take()) {
          deployment.breaker.release();
          throw lastError ?? new ServiceUnavailableError('No upstream attempt left for this request.');
        }
        tried.add(deployment);
        deployment.stats.requests++;
        const startedAt = performance.now();
        const traceContext = telemetry?.trace?.startAttempt(deployment, group.name, startedAt);
        let result: T;
        try {
          // With tracing on, the attempt runs in its span's context: the upstream request carries its traceparent.
          result = await (traceContext
            ? otelContext.with(traceContext, attempt, undefined, group, deployment, startedAt)
            : attempt(group, deployment, startedAt));
        } catch (thrown) {
          const endedAt = performance.now();
          const error = this.normalise(thrown, plan);
          const failure = classifyFailure(error);
          telemetry?.attemptEnded(startedAt, endedAt);
          if (failure !== 'cancelled') this.countFailure(deployment, failure, error, telemetry, endedAt);
          if (countsAgainstDeployment(failure)) {
            deployment.stats.failures++;
            deployment.breaker.onFailure(failure === 'rate_limited' ? error.retryAfterMs : undefined);
          } else {
            deployment.breaker.release();
          }
          if (!movesToNextDeployment(failure) || plan.cancellation.aborted) throw error;
          lastError = error;
          continue;
        }
        const endedAt = performance.now();
        if (telemetry) {
          telemetry.attemptEnded(startedAt, endedAt);
          telemetry.trace?.attemptSucceeded(endedAt);
        }
        if (!plan.stream) this.metrics.model(group.name).latency.observe((endedAt - startedAt) / 1_000);
        // A new session is pinned where it was served; a pinned one that had to move stays where it went.
        if (session !== undefined && deployment.id !== pinned) this.affinity!.pin(group.name, session, deployment.id);
        return result;
      }
      for (const fallback of group.config.fallbacks) {
        if (visited.has(fallback)) continue;
        visited.add(fallback);
        const next = this.router.group(fallback);
        (via ??= new Map()).set(next, group);
        queue.push(next);
      }
    }
    throw lastError ?? new ServiceUnavailableError('No deployment is available for this model.');
  }

  private countFailure(
    deployment: Deployment,
    failure: CountedFailure,
    error: GatewayError,
    telemetry: RequestTelemetry | undefined,
    endedAt: number,
  ): void {
    const origin = errorOrigin(error);
    this.metrics.provider(deployment.provider.name)?.errors[failure][origin].inc();
    telemetry?.trace?.attemptFailed(endedAt, error.code ?? failure, origin);
  }

  /** Turns aborts into what caused them: the client leaving, the deadline, or our own stream timeouts. */
  private normalise(thrown: unknown, plan: RequestPlan, attempt?: Cancellation): GatewayError {
    const cancellation = plan.cancellation;
    if (cancellation.reason instanceof DeadlineExceeded) {
      // The client's own shorter deadline is the client giving up, not the deployment failing (see failure.ts).
      if (plan.deadlineFromClient) return new ClientDeadlineError(plan.deadlineMs);
      return new UpstreamTimeoutError(`The request did not complete within its deadline of ${plan.deadlineMs} ms.`);
    }
    // The client leaving, or the drain deadline (a ShuttingDownError): the reason is what the client sees.
    if (cancellation.aborted)
      return cancellation.reason instanceof GatewayError ? cancellation.reason : new ClientClosedError();
    const reason = attempt?.reason;
    if (reason instanceof AttemptTimeout) {
      const what = reason.code === 'ttft_timeout' ? 'sent no output' : 'went silent';
      return new GatewayError(504, 'server_error', `The upstream ${what} for ${reason.ms} ms.`, {
        code: reason.code,
        retryable: true,
      });
    }
    if (thrown instanceof GatewayError) return thrown;
    return new UnexpectedAttemptError(thrown);
  }

  private route(group: ModelGroup, deployment: Deployment, plan: RequestPlan): RouteInfo {
    return {
      model: group.name,
      deployment: deployment.id,
      provider: deployment.provider.name,
      attempts: plan.budget.attempts,
    };
  }

  /**
   * Opens a stream on one deployment and holds it until its first output chunk (or `holdBackMs`); failures
   * up to then throw (the caller falls back), later ones surface from the returned iterable.
   */
  private async openStream<Item>(
    group: ModelGroup,
    deployment: Deployment,
    opener: StreamOpener<Item>,
    plan: RequestPlan,
    startedAt: number,
  ): Promise<RoutedStream<Item>> {
    const settings = group.config.stream;
    const attempt = plan.cancellation.child();
    const stream: StreamAttempt<Item> = {
      deployment,
      plan,
      model: this.metrics.model(group.name),
      startedAt,
      attempt,
      iterator: undefined,
      buffered: [],
      pending: undefined,
      ended: false,
      sawOutput: false,
      started: this.now(),
      idleTimeoutMs: settings.idleTimeoutMs,
      ttftTimer: undefined,
      hasOutput: opener.hasOutput,
    };
    deployment.stats.inFlight++;
    try {
      const opening = opener.open(deployment, {
        cancellation: attempt.cancellation,
        requestId: plan.requestId,
        budget: plan.budget,
        deadlineAt: plan.deadlineAt,
      });
      // Set after the call: an OpenAI-compatible provider has then already dispatched the request (synchronously).
      stream.ttftTimer = setTimeout(
        () => attempt.cancellation.cancel(new AttemptTimeout('ttft_timeout', settings.ttftTimeoutMs)),
        settings.ttftTimeoutMs,
      );
      const chunks = await opening;
      const iterator = chunks[Symbol.asyncIterator]();
      stream.iterator = iterator;
      const hold = holdWindow(stream.started + settings.holdBackMs - this.now());
      try {
        let pending = iterator.next();
        for (;;) {
          const result = await Promise.race([pending, hold.expired]);
          if (result === HOLD_EXPIRED) {
            stream.pending = pending;
            break;
          }
          if (result.done) {
            stream.ended = true;
            break;
          }
          stream.buffered.push(result.value);
          if (stream.hasOutput(result.value)) {
            this.firstOutput(stream);
            break;
          }
          pending = iterator.next();
        }
      } finally {
        hold.close();
      }
    } catch (thrown) {
      deployment.stats.inFlight--;
      attempt.dispose();
      clearTimeout(stream.ttftTimer);
      void stream.iterator?.return?.()?.catch(() => undefined);
      throw this.normalise(thrown, plan, attempt.cancellation);
    }
    if (stream.ended && !stream.sawOutput) this.firstOutput(stream);
    const held = new HeldStream(this.continueStream(stream), () => this.settleStream(stream, false, false));
    return { chunks: held, route: this.route(group, deployment, plan) };
  }

  /** The first output proves the deployment healthy: record time to first token and close its breaker. */
  private firstOutput<Item>(stream: StreamAttempt<Item>): void {
    stream.sawOutput = true;
    clearTimeout(stream.ttftTimer);
    const { deployment } = stream;
    deployment.stats.latencyEwmaMs = ewma(deployment.stats.latencyEwmaMs, this.now() - stream.started);
    deployment.breaker.onSuccess();
  }

  /**
   * Yields the held chunks, then the rest, watching time to first token and silence between chunks. Once output
   * flows, each wait for the next chunk is measured (upstream silence only: not the time a slow client takes).
   */
  private async *continueStream<Item>(stream: StreamAttempt<Item>): AsyncGenerator<Item> {
    const { deployment, attempt, iterator } = stream;
    const telemetry = stream.plan.telemetry;
    // Only upstream silence counts as idle, not time spent waiting for a slow client to read.
    let waiting = false;
    let idleTimer: NodeJS.Timeout | undefined;
    let finished = stream.ended;
    let failed = false;
    try {
      for (let i = 0; i < stream.buffered.length; i++) yield stream.buffered[i];
      stream.buffered = [];
      // Set after the held chunks went out: the first token is not kept waiting for a timer that only watches later silence.
      // Before the first output only the time-to-first-token limit applies (a reasoning model may think for long).
      idleTimer = setTimeout(() => {
        if (waiting && stream.sawOutput) {
          attempt.cancellation.cancel(new AttemptTimeout('idle_timeout', stream.idleTimeoutMs));
        }
      }, stream.idleTimeoutMs);
      let pending = stream.pending;
      while (!finished && iterator) {
        waiting = true;
        let waitedFrom = 0;
        if (stream.sawOutput) {
          idleTimer.refresh();
          waitedFrom = performance.now();
        }
        const next = await (pending ?? iterator.next());
        pending = undefined;
        waiting = false;
        if (next.done) {
          finished = true;
          break;
        }
        if (waitedFrom) stream.model.interChunk.observe((performance.now() - waitedFrom) / 1_000);
        else if (stream.hasOutput(next.value)) this.firstOutput(stream);
        yield next.value;
      }
    } catch (thrown) {
      failed = true;
      const error = this.normalise(thrown, stream.plan, attempt.cancellation);
      const failure = classifyFailure(error);
      if (failure !== 'cancelled') this.countFailure(deployment, failure, error, telemetry, performance.now());
      if (countsAgainstDeployment(failure)) {
        deployment.stats.failures++;
        deployment.breaker.onFailure();
      }
      throw error;
    } finally {
      clearTimeout(idleTimer);
      this.settleStream(stream, finished, failed);
    }
  }

  /**
   * Releases what a stream attempt holds, however it ended: its timers, the in-flight count, a half-open probe slot
   * it took without producing output (a probe that proved nothing), the upstream when it did not finish, the plan.
   */
  private settleStream<Item>(stream: StreamAttempt<Item>, finished: boolean, failed: boolean): void {
    const { deployment, attempt, iterator } = stream;
    clearTimeout(stream.ttftTimer);
    deployment.stats.inFlight--;
    if (!failed) {
      const endedAt = performance.now();
      if (finished) stream.model.latency.observe((endedAt - stream.startedAt) / 1_000);
      stream.plan.telemetry?.trace?.attemptSucceeded(endedAt);
      if (!stream.sawOutput) deployment.breaker.release();
    }
    if (!finished) {
      attempt.cancellation.cancel(new ClientClosedError());
      void iterator?.return?.()?.catch(() => undefined);
    }
    attempt.dispose();
    disposePlan(stream.plan);
  }
}

/**
 * A held stream handed to the caller: the generator that continues it, and, for a caller that stops before reading
 * at all (an async generator that never started runs no `finally`), the release of what the attempt holds.
 */
class HeldStream<Item> implements AsyncIterableIterator<Item> {
  private started = false;

  constructor(
    private readonly generator: AsyncGenerator<Item>,
    private readonly release: () => void,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Item>> {
    this.started = true;
    return this.generator.next();
  }

  async return(): Promise<IteratorResult<Item>> {
    if (!this.started) {
      this.started = true;
      this.release();
    }
    return this.generator.return(undefined);
  }

  throw(error: unknown): Promise<IteratorResult<Item>> {
    this.started = true;
    return this.generator.throw(error);
  }
}

interface StreamAttempt<Item> {
  deployment: Deployment;
  plan: RequestPlan;
  /** Series of the group being served, for model latency and inter-chunk waits. */
  model: ModelSeries;
  /** performance.now() when the attempt started (`started` is the routing clock's). */
  startedAt: number;
  attempt: LinkedCancellation;
  iterator: AsyncIterator<Item> | undefined;
  buffered: Item[];
  /** A read that was still running when the hold-back window closed. */
  pending: Promise<IteratorResult<Item>> | undefined;
  ended: boolean;
  sawOutput: boolean;
  started: number;
  idleTimeoutMs: number;
  ttftTimer: NodeJS.Timeout | undefined;
  hasOutput: (item: Item) => boolean;
}

/**
 * The hold-back window of a stream attempt: one timer for the whole window, raced against each read until the
 * first output (a timer per read would be set and cleared for every chunk before it).
 */
function holdWindow(ms: number): { expired: Promise<typeof HOLD_EXPIRED>; close(): void } {
  if (ms <= 0) return { expired: Promise.resolve(HOLD_EXPIRED), close: () => undefined };
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof HOLD_EXPIRED>((resolve) => {
    timer = setTimeout(resolve, ms, HOLD_EXPIRED);
  });
  return { expired, close: () => clearTimeout(timer) };
}
