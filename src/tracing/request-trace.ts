/**
 * The spans of one API request, created only while tracing is on:
 *
 *   POST /v1/chat/completions (server; W3C traceparent from the client is its parent)
 *   ├── cache.lookup
 *   └── route <model>
 *       ├── chat <upstream model> (client; one per upstream attempt, its context goes upstream as traceparent)
 *       └── chat <upstream model> ...
 *
 * GenAI semantic-convention attributes go on the server span (the public model) and on each attempt (the
 * upstream model). Message text is recorded only with `observability.tracing.recordContent`.
 *
 * A successful attempt ends when its answer is complete (streams: when the stream ends); its usage and finish
 * reasons are known a moment later, when the request is accounted, so its end is recorded first and the span
 * ended in `completed` (or `end`, whichever comes first).
 */
import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_GEN_AI_INPUT_MESSAGES,
  ATTR_GEN_AI_OPERATION_NAME,
  ATTR_GEN_AI_OUTPUT_MESSAGES,
  ATTR_GEN_AI_PROVIDER_NAME,
  ATTR_GEN_AI_REQUEST_MODEL,
  ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
  ATTR_GEN_AI_RESPONSE_MODEL,
  ATTR_GEN_AI_USAGE_INPUT_TOKENS,
  ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
  type GenAiOperation,
} from './gen-ai-attributes.js';

const TRACER_NAME = 'llm-gateway';

/** What an attempt span needs to know about the deployment it calls. */
export interface AttemptTarget {
  /** Deployment id, `<provider>/<upstream model>`. */
  id: string;
  /** The upstream model name. */
  model: string;
  provider: { name: string; type: string };
}

export interface CompletionFacts {
  inputTokens?: number;
  outputTokens?: number;
  responseModel?: string;
  finishReasons?: readonly string[];
  /** The output messages as JSON, when content is recorded. */
  output?: () => unknown;
}

export class RequestTrace {
  private readonly tracer = trace.getTracer(TRACER_NAME);
  private readonly server: Span;
  private readonly serverContext: Context;
  private route: Span | undefined;
  private routeContext: Context | undefined;
  private routeEndedAt = 0;
  private attempt: Span | undefined;
  /** The context upstream calls of the current attempt run in (its traceparent is injected upstream). */
  attemptContext: Context | undefined;
  private attemptEndedAt = 0;
  private providerType: string | undefined;

  constructor(
    headers: IncomingHttpHeaders,
    method: string,
    routePath: string,
    private readonly operation: GenAiOperation,
    startedAt: number,
    readonly recordsContent: boolean,
  ) {
    const parent = propagation.extract(ROOT_CONTEXT, headers);
    this.server = this.tracer.startSpan(
      `${method} ${routePath}`,
      {
        kind: SpanKind.SERVER,
        startTime: startedAt,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_HTTP_ROUTE]: routePath,
          [ATTR_URL_PATH]: routePath,
          [ATTR_GEN_AI_OPERATION_NAME]: operation,
        },
      },
      parent,
    );
    this.serverContext = trace.setSpan(parent, this.server);
  }

  get traceId(): string {
    return this.server.spanContext().traceId;
  }

  /** The public model asked for (a configured one: raw client input is not recorded). */
  requestModel(model: string): void {
    this.server.setAttribute(ATTR_GEN_AI_REQUEST_MODEL, model);
  }

  recordInput(messages: unknown): void {
    if (this.recordsContent) this.server.setAttribute(ATTR_GEN_AI_INPUT_MESSAGES, JSON.stringify(messages));
  }

  startCacheLookup(): Span {
    return this.tracer.startSpan('cache.lookup', undefined, this.serverContext);
  }

  startRoute(model: string): void {
    this.route = this.tracer.startSpan(
      `route ${model}`,
      { attributes: { 'gateway.model': model } },
      this.serverContext,
    );
    this.routeContext = trace.setSpan(this.serverContext, this.route);
  }

  startAttempt(target: AttemptTarget, group: string, startedAt: number): Context {
    const span = this.tracer.startSpan(
      `${this.operation} ${target.model}`,
      {
        kind: SpanKind.CLIENT,
        startTime: startedAt,
        attributes: {
          [ATTR_GEN_AI_OPERATION_NAME]: this.operation,
          [ATTR_GEN_AI_PROVIDER_NAME]: target.provider.type,
          [ATTR_GEN_AI_REQUEST_MODEL]: target.model,
          'gateway.provider': target.provider.name,
          'gateway.deployment': target.id,
          'gateway.model': group,
        },
      },
      this.routeContext ?? this.serverContext,
    );
    this.attempt = span;
    this.attemptEndedAt = 0;
    this.providerType = target.provider.type;
    this.attemptContext = trace.setSpan(this.routeContext ?? this.serverContext, span);
    return this.attemptContext;
  }

  attemptFailed(endedAt: number, errorType: string, origin: string): void {
    const span = this.attempt;
    if (!span) return;
    span.setAttributes({ [ATTR_ERROR_TYPE]: errorType, 'gateway.error.origin': origin });
    span.setStatus({ code: SpanStatusCode.ERROR });
    this.routeEndedAt = endedAt;
    this.endAttempt(endedAt);
  }

  /** The attempt delivered (a stream: its first output, then again when it ends); its span ends with the usage. */
  attemptSucceeded(endedAt: number): void {
    this.attemptEndedAt = endedAt;
    this.routeEndedAt = endedAt;
  }

  completed(facts: CompletionFacts): void {
    const attributes: Record<string, string | number | string[]> = {};
    if (facts.inputTokens !== undefined) attributes[ATTR_GEN_AI_USAGE_INPUT_TOKENS] = facts.inputTokens;
    if (facts.outputTokens !== undefined) attributes[ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = facts.outputTokens;
    if (facts.responseModel) attributes[ATTR_GEN_AI_RESPONSE_MODEL] = facts.responseModel;
    if (facts.finishReasons?.length) attributes[ATTR_GEN_AI_RESPONSE_FINISH_REASONS] = [...facts.finishReasons];
    this.attempt?.setAttributes(attributes);
    if (this.providerType) attributes[ATTR_GEN_AI_PROVIDER_NAME] = this.providerType;
    if (this.recordsContent && facts.output) attributes[ATTR_GEN_AI_OUTPUT_MESSAGES] = JSON.stringify(facts.output());
    this.server.setAttributes(attributes);
    this.endAttempt(this.attemptEndedAt || undefined);
    this.endRoute();
  }

  /** Ends every span still open; the server span gets the response status and the request's facts. */
  end(
    status: number,
    errorType: string | undefined,
    attributes: Record<string, string | number | boolean>,
    endedAt: number,
  ): void {
    this.endAttempt(this.attemptEndedAt || endedAt);
    this.endRoute();
    const server = this.server;
    server.setAttributes(attributes);
    server.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (errorType !== undefined) server.setAttribute(ATTR_ERROR_TYPE, errorType);
    if (status >= 500) server.setStatus({ code: SpanStatusCode.ERROR });
    server.end(endedAt);
  }

  private endAttempt(endedAt: number | undefined): void {
    this.attempt?.end(endedAt);
    this.attempt = undefined;
    this.attemptContext = undefined;
  }

  private endRoute(): void {
    this.route?.end(this.routeEndedAt || undefined);
    this.route = undefined;
    this.routeContext = undefined;
  }
}
