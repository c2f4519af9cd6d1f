/**
 * Runs one request through its model group: picks deployments, retries the next one on retryable failures,
 * then the configured fallback groups, all within one deadline and one attempt budget. Streams are held back
 * until their first content chunk so a failure before any output can still fall back invisibly.
 */
import { Inject, Injectable } from '@nestjs/common';
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
import { supportsEmbeddings } from '../providers/llm-provider.js';
import { AttemptBudget } from './attempt-budget.js';
import { classifyFailure, countsAgainstDeployment, movesToNextDeployment } from './failure.js';
import { CLOCK, type Deployment, type ModelGroup, ModelRouter } from './model-router.js';
import { ewma } from './selection.js';

export interface RouteRequestContext {
  /** Aborted when the client leaves. */
  signal: AbortSignal;
  requestId: string;
  /** A shorter deadline the client asked for (x-gateway-timeout-ms); capped by the group's timeout. */
  timeoutMs?: number;
}

export interface RouteInfo {
  /** The public model (group) that served: differs from the requested one after a fallback. */
  model: string;
  deployment: string;
  attempts: number;
}

export interface RoutedCompletion {
  completion: ChatCompletion;
  route: RouteInfo;
}

export interface RoutedStream {
  chunks: AsyncIterable<ChatCompletionChunk>;
  route: RouteInfo;
}

/** Why the gateway itself aborted an attempt. */
class AttemptTimeout extends Error {
  constructor(readonly code: 'ttft_timeout' | 'idle_timeout', readonly ms: number) {
    super(code);
  }
}

const HOLD_EXPIRED = Symbol('holdExpired');

/** A chunk carrying output: content, a refusal or a tool call. */
function hasOutput(chunk: ChatCompletionChunk): boolean {
  const choices = chunk.choices;
  for (let i = 0; i < choices.length; i++) {
    const delta = choices[i].delta;
    if (delta && (delta.content || delta.refusal || delta.tool_calls)) return true;
    if (choices[i].finish_reason) return true;
  }
  return false;
}

interface RequestPlan {
  budget: AttemptBudget;
  clientSignal: AbortSignal;
  deadline: AbortSignal;
  /** Client and deadline together: every attempt's signal derives from it. */
  signal: AbortSignal;
  deadlineMs: number;
  requestId: string;
}

@Injectable()
export class RouterService {
  constructor(
    private readonly router: ModelRouter,
    @Inject(CLOCK) private readonly now: () => number,
  ) {}

  /** Throws 404 model_not_found for a model that is not configured. */
  assertModelExists(model: string): void {
    this.router.group(model);
  }

  async complete(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedCompletion> {
    const primary = this.router.group(request.model);
    const plan = this.plan(primary, context);
    return this.run(primary, plan, async (group, deployment) => {
      const attempt = new AbortController();
      const signal = AbortSignal.any([plan.signal, attempt.signal]);
      const started = this.now();
      deployment.stats.inFlight++;
      let completion: ChatCompletion;
      try {
        completion = await deployment.provider.chat(
          { ...request, model: deployment.model },
          { signal, requestId: plan.requestId, budget: plan.budget },
        );
      } catch (thrown) {
        throw this.normalise(thrown, plan, attempt.signal);
      } finally {
        deployment.stats.inFlight--;
      }
      deployment.stats.latencyEwmaMs = ewma(deployment.stats.latencyEwmaMs, this.now() - started);
      deployment.breaker.onSuccess();
      return { completion, route: this.route(group, deployment, plan) };
    });
  }

  async embed(request: EmbeddingRequest, context: RouteRequestContext): Promise<{ response: EmbeddingResponse; route: RouteInfo }> {
    const primary = this.router.group(request.model);
    const plan = this.plan(primary, context);
    return this.run(primary, plan, async (group, deployment) => {
      const provider = deployment.provider;
      if (!supportsEmbeddings(provider)) {
        throw new InvalidRequestError(`The model '${request.model}' does not support embeddings.`, 'model', 'model_not_supported');
      }
      deployment.stats.inFlight++;
      try {
        const response = await provider.embed(
          { ...request, model: deployment.model },
          { signal: plan.signal, requestId: plan.requestId, budget: plan.budget },
        );
        deployment.breaker.onSuccess();
        return { response, route: this.route(group, deployment, plan) };
      } catch (thrown) {
        throw this.normalise(thrown, plan);
      } finally {
        deployment.stats.inFlight--;
      }
    });
  }

  async stream(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedStream> {
    const primary = this.router.group(request.model);
    const plan = this.plan(primary, context);
    return this.run(primary, plan, (group, deployment) => this.openStream(group, deployment, request, plan));
  }

  private plan(group: ModelGroup, context: RouteRequestContext): RequestPlan {
    const deadlineMs =
      context.timeoutMs === undefined ? group.config.timeoutMs : Math.min(context.timeoutMs, group.config.timeoutMs);
    const deadline = AbortSignal.timeout(deadlineMs);
    return {
      budget: new AttemptBudget(group.config.maxAttempts),
      clientSignal: context.signal,
      deadline,
      signal: AbortSignal.any([context.signal, deadline]),
      deadlineMs,
      requestId: context.requestId,
    };
  }

  /** The attempt loop: deployments of the group, then fallback groups (breadth-first, never revisited). */
  private async run<T>(
    primary: ModelGroup,
    plan: RequestPlan,
    attempt: (group: ModelGroup, deployment: Deployment) => Promise<T>,
  ): Promise<T> {
    const queue: ModelGroup[] = [primary];
    const visited = new Set<string>([primary.name]);
    let lastError: GatewayError | undefined;
    for (let g = 0; g < queue.length; g++) {
      const group = queue[g];
      const tried = new Set<Deployment>();
      for (;;) {
        const deployment = this.router.choose(group, tried);
        if (!deployment) break;
        if (!plan.budget.take()) {
          deployment.breaker.release();
          throw lastError ?? new ServiceUnavailableError('No upstream attempt left for this request.');
        }
        tried.add(deployment);
        deployment.stats.requests++;
        let result: T;
        try {
          result = await attempt(group, deployment);
        } catch (thrown) {
          const error = this.normalise(thrown, plan);
          const failure = classifyFailure(error);
          if (countsAgainstDeployment(failure)) {
            deployment.stats.failures++;
            deployment.breaker.onFailure(failure === 'rate_limited' ? error.retryAfterMs : undefined);
          } else {
            deployment.breaker.release();
          }
          if (!movesToNextDeployment(failure) || plan.signal.aborted) throw error;
          lastError = error;
          continue;
        }
        return result;
      }
      for (const fallback of group.config.fallbacks) {
        if (visited.has(fallback)) continue;
        visited.add(fallback);
        queue.push(this.router.group(fallback));
      }
    }
    throw lastError ?? new ServiceUnavailableError('No deployment is available for this model.');
  }

  /** Turns aborts into what caused them: the client leaving, the deadline, or our own stream timeouts. */
  private normalise(thrown: unknown, plan: RequestPlan, attemptSignal?: AbortSignal): GatewayError {
    if (plan.clientSignal.aborted) return new ClientClosedError();
    if (plan.deadline.aborted) {
      return new UpstreamTimeoutError(`The request did not complete within its deadline of ${plan.deadlineMs} ms.`);
    }
    const reason = attemptSignal?.reason;
    if (reason instanceof AttemptTimeout) {
      const what = reason.code === 'ttft_timeout' ? 'sent no output' : 'went silent';
      return new GatewayError(504, 'server_error', `The upstream ${what} for ${reason.ms} ms.`, {
        code: reason.code,
        retryable: true,
      });
    }
    if (thrown instanceof GatewayError) return thrown;
    return new GatewayError(502, 'server_error', 'The upstream call failed.', { code: 'upstream_error', retryable: true });
  }

  private route(group: ModelGroup, deployment: Deployment, plan: RequestPlan): RouteInfo {
    return { model: group.name, deployment: deployment.id, attempts: plan.budget.attempts };
  }

  /**
   * Opens a stream on one deployment and holds it until its first output chunk (or `holdBackMs`); failures
   * up to then throw (the caller falls back), later ones surface from the returned iterable.
   */
  private async openStream(
    group: ModelGroup,
    deployment: Deployment,
    request: ChatCompletionRequest,
    plan: RequestPlan,
  ): Promise<RoutedStream> {
    const settings = group.config.stream;
    const attempt = new AbortController();
    const stream: StreamAttempt = {
      deployment,
      plan,
      attempt,
      iterator: undefined,
      buffered: [],
      pending: undefined,
      ended: false,
      sawOutput: false,
      started: this.now(),
      idleTimeoutMs: settings.idleTimeoutMs,
      ttftTimer: setTimeout(
        () => attempt.abort(new AttemptTimeout('ttft_timeout', settings.ttftTimeoutMs)),
        settings.ttftTimeoutMs,
      ),
    };
    deployment.stats.inFlight++;
    try {
      const chunks = await deployment.provider.chatStream(
        { ...request, model: deployment.model },
        { signal: AbortSignal.any([plan.signal, attempt.signal]), requestId: plan.requestId, budget: plan.budget },
      );
      const iterator = chunks[Symbol.asyncIterator]();
      stream.iterator = iterator;
      const holdUntil = stream.started + settings.holdBackMs;
      let pending = iterator.next();
      for (;;) {
        const result = await raceWithTimer(pending, holdUntil - this.now());
        if (result === HOLD_EXPIRED) {
          stream.pending = pending;
          break;
        }
        if (result.done) {
          stream.ended = true;
          break;
        }
        stream.buffered.push(result.value);
        if (hasOutput(result.value)) {
          this.firstOutput(stream);
          break;
        }
        pending = iterator.next();
      }
    } catch (thrown) {
      deployment.stats.inFlight--;
      clearTimeout(stream.ttftTimer);
      void stream.iterator?.return?.()?.catch(() => undefined);
      throw this.normalise(thrown, plan, attempt.signal);
    }
    if (stream.ended && !stream.sawOutput) this.firstOutput(stream);
    return { chunks: this.continueStream(stream), route: this.route(group, deployment, plan) };
  }

  /** The first output proves the deployment healthy: record time to first token and close its breaker. */
  private firstOutput(stream: StreamAttempt): void {
    stream.sawOutput = true;
    clearTimeout(stream.ttftTimer);
    const { deployment } = stream;
    deployment.stats.latencyEwmaMs = ewma(deployment.stats.latencyEwmaMs, this.now() - stream.started);
    deployment.breaker.onSuccess();
  }

  /** Yields the held chunks, then the rest, watching time to first token and silence between chunks. */
  private async *continueStream(stream: StreamAttempt): AsyncGenerator<ChatCompletionChunk> {
    const { deployment, attempt, iterator } = stream;
    // Only upstream silence counts as idle, not time spent waiting for a slow client to read.
    let waiting = false;
    const idleTimer = setTimeout(() => {
      if (waiting) attempt.abort(new AttemptTimeout('idle_timeout', stream.idleTimeoutMs));
    }, stream.idleTimeoutMs);
    let finished = stream.ended;
    try {
      for (let i = 0; i < stream.buffered.length; i++) yield stream.buffered[i];
      stream.buffered = [];
      let pending = stream.pending;
      while (!finished && iterator) {
        waiting = true;
        if (stream.sawOutput) idleTimer.refresh();
        const next = await (pending ?? iterator.next());
        pending = undefined;
        waiting = false;
        if (next.done) {
          finished = true;
          break;
        }
        if (!stream.sawOutput && hasOutput(next.value)) this.firstOutput(stream);
        yield next.value;
      }
    } catch (thrown) {
      const error = this.normalise(thrown, stream.plan, attempt.signal);
      if (countsAgainstDeployment(classifyFailure(error))) {
        deployment.stats.failures++;
        deployment.breaker.onFailure();
      }
      throw error;
    } finally {
      clearTimeout(stream.ttftTimer);
      clearTimeout(idleTimer);
      deployment.stats.inFlight--;
      if (!finished) {
        attempt.abort(new ClientClosedError());
        void iterator?.return?.()?.catch(() => undefined);
      }
    }
  }
}

interface StreamAttempt {
  deployment: Deployment;
  plan: RequestPlan;
  attempt: AbortController;
  iterator: AsyncIterator<ChatCompletionChunk> | undefined;
  buffered: ChatCompletionChunk[];
  /** A read that was still running when the hold-back window closed. */
  pending: Promise<IteratorResult<ChatCompletionChunk>> | undefined;
  ended: boolean;
  sawOutput: boolean;
  started: number;
  idleTimeoutMs: number;
  ttftTimer: NodeJS.Timeout;
}

/** Resolves with the promise's result, or HOLD_EXPIRED after `ms` (the promise keeps running). */
function raceWithTimer<T>(promise: Promise<T>, ms: number): Promise<T | typeof HOLD_EXPIRED> {
  if (ms <= 0) return Promise.resolve(HOLD_EXPIRED);
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<typeof HOLD_EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(HOLD_EXPIRED), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

