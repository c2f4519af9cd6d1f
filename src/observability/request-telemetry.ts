/**
 * What one API request (`POST /v1/chat/completions`, `POST /v1/embeddings`) did, collected along its way —
 * admission, cache, routing, upstream attempts, streaming, accounting — and reported once, when both the response
 * is over and the handler has settled (so an aborted stream's usage is in): the request metrics, one JSON log line,
 * and the end of its spans when tracing is on.
 *
 * Times are `performance.now()` milliseconds. Gateway overhead is the time to the first byte sent (streams) or to
 * the end of the response (otherwise), minus the time spent waiting on upstream attempts (for a stream, up to its
 * first output chunk; otherwise the whole call).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { GatewayKey } from '../auth/gateway-key.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { tracingEnabled } from '../instrumentation.js';
import { type CacheResult, GatewayMetrics, type MetricFront, type ModelSeries } from '../metrics/gateway-metrics.js';
import type { GateFactory, RequestGate } from '../http/request-gates.js';
import type { AttemptBudget } from '../routing/attempt-budget.js';
import type { RouteInfo } from '../routing/router.service.js';
import type { GenAiOperation } from '../tracing/gen-ai-attributes.js';
import { RequestTrace } from '../tracing/request-trace.js';
import { stdoutLines } from './line-writer.js';
import type { TokenUsage } from '../usage/pricing.js';

/** HTTP status logged and counted for a response the client did not wait for (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

declare module 'fastify' {
  interface FastifyRequest {
    telemetry: RequestTelemetry | null;
  }
}

/** What one finished API request did, for a request log store (the management plane's request_log table). */
export interface RequestRecord {
  /** When it started (epoch ms). */
  at: number;
  requestId: string;
  traceId: string | null;
  key: GatewayKey | null;
  operation: GenAiOperation;
  front: MetricFront;
  /** The public model asked for (`unknown` when not configured). */
  model: string;
  route: RouteInfo | undefined;
  attempts: number;
  fallbacks: number;
  stream: boolean;
  status: number;
  errorCode: string | undefined;
  usage: TokenUsage | undefined;
  costUsd: number | undefined;
  latencyMs: number;
  overheadMs: number | undefined;
  ttftMs: number | undefined;
  upstreamMs: number;
  cache: CacheResult | undefined;
  /** Only for keys that log bodies: the JSON body as sent, and the answer (a stream's assembled answer). */
  requestBody: string | undefined;
  responseBody: string | undefined;
}

/** Takes each finished request synchronously; it must not block (the request log writer only queues it). */
export type RequestSink = (record: RequestRecord) => void;

@Injectable()
export class RequestObserver {
  readonly logRequests: boolean;
  readonly recordContent: boolean;
  readonly logLines = stdoutLines();
  /** Set by the management plane when its request log is on; undefined costs the request nothing. */
  sink: RequestSink | undefined;

  constructor(
    readonly metrics: GatewayMetrics,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.logRequests = config.server.logRequests;
    this.recordContent = config.observability.tracing.recordContent;
  }

  /** The observability module's request gate: API routes (those naming an operation) are observed from the start. */
  readonly gates: GateFactory = ({ url, config }) => {
    const operation = config.operation;
    if (operation === undefined) return undefined;
    const gate: RequestGate = (request, reply) => {
      const telemetry = new RequestTelemetry(this, request, operation, config.front ?? 'chat', url);
      request.telemetry = telemetry;
      const response = reply.raw;
      // 'close' fires once per response: `on` spares the wrapper `once` allocates.
      response.on('close', () =>
        telemetry.responseClosed(response.writableFinished ? response.statusCode : CLIENT_CLOSED_STATUS),
      );
      return true;
    };
    return gate;
  };
}

export class RequestTelemetry {
  readonly startedAt = performance.now();
  /** The public model asked for, when configured; `unknown` otherwise. */
  model: ModelSeries;
  stream = false;
  cache: CacheResult | undefined;
  /** Where it was served: set once routing succeeded. */
  route: RouteInfo | undefined;
  /** Upstream HTTP attempts (routing and transport retries) come from the request's attempt budget. */
  budget: AttemptBudget | undefined;
  /** Time spent waiting on upstream attempts, see the file comment. */
  upstreamMs = 0;
  /** When the first byte of a stream went to the client; 0 before. */
  firstByteAt = 0;
  usage: TokenUsage | undefined;
  costUsd: number | undefined;
  /** The `code` of the error the request ended with. */
  errorCode: string | undefined;
  /** Fallback model groups the router moved to. */
  fallbacks = 0;
  /** The answer as JSON, set by the pipeline only for keys that log bodies. */
  responseBody: string | undefined;
  /** The request's spans; undefined while tracing is off. */
  readonly trace: RequestTrace | undefined;
  private attempted = false;
  /** Finishes at 0: the response's close, plus the handler while it runs. */
  private pending = 1;
  private closedAt = 0;
  private status = 0;

  constructor(
    private readonly observer: RequestObserver,
    private readonly request: FastifyRequest,
    readonly operation: GenAiOperation,
    readonly front: MetricFront,
    routePath: string,
  ) {
    this.model = observer.metrics.unknownModel;
    observer.metrics.inFlight++;
    if (tracingEnabled()) {
      this.trace = new RequestTrace(
        request.headers,
        request.method,
        routePath,
        operation,
        this.startedAt,
        observer.recordContent,
      );
    }
  }

  /** The requested model; only a configured name gets its own series (anything else stays `unknown`). */
  requested(model: string, stream: boolean): void {
    this.model = this.observer.metrics.model(model);
    this.stream = stream;
    if (this.model.known) this.trace?.requestModel(model);
  }

  cached(result: CacheResult): void {
    this.cache = result;
    this.observer.metrics.cacheLookups[result].inc();
  }

  /** An upstream attempt ended (failed, or delivered its answer: for a stream, its first output). */
  attemptEnded(startedAt: number, endedAt: number): void {
    this.attempted = true;
    this.upstreamMs += endedAt - startedAt;
  }

  accounted(usage: TokenUsage | undefined, costUsd: number | undefined): void {
    this.usage = usage;
    this.costUsd = costUsd;
  }

  /** The SSE response's headers and first chunk are going out now. */
  streamOpened(): void {
    this.firstByteAt = performance.now();
    this.observer.metrics.openStreams++;
  }

  /** The route handler runs: reporting waits for it too (an aborted stream is accounted as it unwinds). */
  enterHandler(): void {
    this.pending++;
  }

  handlerSettled(): void {
    if (--this.pending === 0) this.finish();
  }

  responseClosed(status: number): void {
    this.closedAt = performance.now();
    this.status = status;
    if (--this.pending === 0) this.finish();
  }

  private finish(): void {
    const metrics = this.observer.metrics;
    const model = this.model;
    metrics.inFlight--;
    if (this.firstByteAt) metrics.openStreams--;
    metrics.requestsFor(model, this.front, this.status).inc();
    const latencyMs = this.closedAt - this.startedAt;
    model.duration.observe(latencyMs / 1_000);
    // Only requests that reached an upstream or the cache have an overhead to speak of.
    const served = this.attempted || this.cache === 'hit';
    const overheadMs = served
      ? Math.max(0, (this.firstByteAt || this.closedAt) - this.startedAt - this.upstreamMs)
      : undefined;
    if (overheadMs !== undefined) {
      (this.stream ? metrics.overhead.stream : metrics.overhead.nonStream).observe(overheadMs / 1_000);
    }
    const ttftMs = this.firstByteAt && this.cache !== 'hit' ? this.firstByteAt - this.startedAt : undefined;
    if (ttftMs !== undefined) model.ttft.observe(ttftMs / 1_000);
    if (this.observer.logRequests) this.log(latencyMs, overheadMs, ttftMs);
    if (this.observer.sink) this.observer.sink(this.record(latencyMs, overheadMs, ttftMs));
    this.trace?.end(this.status, this.errorCode, this.spanAttributes(), this.closedAt);
  }

  /** The request's one log line: ids, routing, timing, usage; never headers, keys or message text. */
  private log(latencyMs: number, overheadMs: number | undefined, ttftMs: number | undefined): void {
    const route = this.route;
    const usage = this.usage;
    const line = {
      level: 'log',
      pid: process.pid,
      timestamp: Date.now(),
      message: 'request',
      context: 'Request',
      requestId: this.request.id,
      traceId: this.trace?.traceId ?? null,
      keyId: this.request.gatewayKey?.id ?? null,
      operation: this.operation,
      front: this.front,
      model: this.model.name,
      servedModel: route?.model ?? null,
      deployment: route?.deployment ?? null,
      attempts: this.budget?.attempts ?? 0,
      stream: this.stream,
      status: this.status,
      latencyMs: roundMs(latencyMs),
      overheadMs: overheadMs === undefined ? null : roundMs(overheadMs),
      upstreamMs: roundMs(this.upstreamMs),
      ttftMs: ttftMs === undefined ? null : roundMs(ttftMs),
      promptTokens: usage?.prompt ?? null,
      completionTokens: usage?.completion ?? null,
      tokensEstimated: usage?.estimated ?? false,
      costUsd: this.costUsd ?? null,
      cache: this.cache ?? null,
      error: this.errorCode ?? null,
    };
    this.observer.logLines.writeLine(JSON.stringify(line));
  }

  private record(latencyMs: number, overheadMs: number | undefined, ttftMs: number | undefined): RequestRecord {
    return {
      at: Date.now() - latencyMs,
      requestId: this.request.id,
      traceId: this.trace?.traceId ?? null,
      key: this.request.gatewayKey,
      operation: this.operation,
      front: this.front,
      model: this.model.name,
      route: this.route,
      attempts: this.budget?.attempts ?? 0,
      fallbacks: this.fallbacks,
      stream: this.stream,
      status: this.status,
      errorCode: this.errorCode,
      usage: this.usage,
      costUsd: this.costUsd,
      latencyMs,
      overheadMs,
      ttftMs,
      upstreamMs: this.upstreamMs,
      cache: this.cache,
      requestBody: this.request.gatewayKey?.logBodies ? (this.request.rawBody ?? undefined) : undefined,
      responseBody: this.responseBody,
    };
  }

  private spanAttributes(): Record<string, string | number | boolean> {
    const attributes: Record<string, string | number | boolean> = {
      'gateway.request_id': this.request.id,
      'gateway.attempts': this.budget?.attempts ?? 0,
      'gateway.stream': this.stream,
    };
    const keyId = this.request.gatewayKey?.id;
    if (keyId !== undefined) attributes['gateway.key_id'] = keyId;
    if (this.cache) attributes['gateway.cache'] = this.cache;
    if (this.route) {
      attributes['gateway.served_model'] = this.route.model;
      attributes['gateway.deployment'] = this.route.deployment;
    }
    if (this.costUsd !== undefined) attributes['gateway.cost_usd'] = this.costUsd;
    return attributes;
  }
}

function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
