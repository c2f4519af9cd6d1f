/**
 * The gateway's Prometheus metrics. Every label value comes from the config (model, provider, deployment names)
 * or from a fixed vocabulary (status codes, failure classes, cache results, rate-limit scopes), never from raw
 * request input: a request for an unknown model is counted under `model="unknown"`.
 *
 * Series are created once at start-up and handed out as objects, so the request path never builds or hashes a
 * label set. Counters are plain numbers on those objects, copied into prom-client when Prometheus scrapes
 * (`collect`); histograms count into typed arrays that prom-client formats at scrape time (SeriesHistogram).
 *
 * Each app has its own registry (tests run several gateways in one process); Node's default metrics describe the
 * process and live in one registry per process, appended to every scrape.
 */
import {
  collectDefaultMetrics,
  Counter,
  exponentialBuckets,
  Gauge,
  type LabelValues,
  type Metric,
  type MetricValueWithName,
  Registry,
} from 'prom-client';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { CountedFailure } from '../routing/failure.js';
import type { BreakerState } from '../routing/circuit-breaker.js';

export const UNKNOWN_MODEL = 'unknown';

/** Request and upstream latency: 0.1 s × 2^n, 10 buckets (0.1 s … 51.2 s). */
export const LATENCY_BUCKETS = exponentialBuckets(0.1, 2, 10);
/** Gateway overhead: 0.1 ms × 2^n, 16 buckets (0.1 ms … 3.3 s). */
export const OVERHEAD_BUCKETS = exponentialBuckets(0.0001, 2, 16);
/** Time to first token: 25 ms … 51.2 s. */
export const TTFT_BUCKETS = exponentialBuckets(0.025, 2, 12);
/** Wait for the next stream chunk: 1 ms … 8.2 s. */
export const INTER_CHUNK_BUCKETS = exponentialBuckets(0.001, 2, 14);

export type CacheResult = 'hit' | 'miss' | 'bypass';
/** The API a request came in on: the three fronts, and embeddings. */
export type MetricFront = 'chat' | 'responses' | 'messages' | 'embeddings';
export type RateLimitedScope = 'key' | 'model' | 'global' | 'budget';
/** `upstream`: the provider answered with an error or its connection failed; `gateway`: we gave up or broke. */
export type ErrorOrigin = 'upstream' | 'gateway';
export type DependencyState = 'up' | 'degraded' | 'disabled';

const FAILURE_CLASSES: readonly CountedFailure[] = [
  'caller_error',
  'gateway_error',
  'auth_error',
  'rate_limited',
  'overloaded',
  'server_error',
  'timeout',
  'connection_error',
];
const BREAKER_STATE_VALUES: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };
const DEPENDENCY_STATE_VALUES: Record<Exclude<DependencyState, 'disabled'>, number> = { up: 0, degraded: 1 };

/** Every metric the gateway exports (besides Node's defaults), with its help text. */
const HELP = {
  llm_requests_total:
    'API requests answered, by requested public model, front (the API: chat, responses, messages, embeddings) and HTTP status code (499: the client left first).',
  llm_request_duration_seconds:
    'Time from request arrival to the end of the response (streams: the end of the stream).',
  llm_model_latency_seconds:
    'Successful upstream calls, until the whole answer (streams: the last chunk), by the model that served.',
  llm_time_to_first_token_seconds:
    'Streams answered from upstream: time from request arrival to the first chunk sent to the client.',
  llm_inter_chunk_latency_seconds:
    'Streams: wait for each next upstream chunk after the first output, by the model that served.',
  llm_gateway_overhead_seconds:
    'Time spent in the gateway: request time (streams: to the first byte sent) minus time waiting on upstream attempts.',
  llm_tokens_total:
    'Tokens by model that served, provider and type: prompt | completion (aborted streams estimated), and of those cached | cache_write (prompt) and reasoning (completion).',
  llm_cost_usd_total: 'Cost in USD from the configured model prices, by model that served and provider.',
  llm_cache_lookups_total: 'Response cache results: hit, miss, or bypass (not cacheable or Cache-Control: no-store).',
  llm_rate_limited_total:
    'Requests refused with 429 by scope: key, model, global (rate limits) or budget (token budget).',
  llm_upstream_errors_total:
    'Failed upstream attempts by provider, failure class and origin (upstream: an error answer or a failed connection; ' +
    'gateway: a gateway deadline or internal failure).',
  llm_upstream_retries_total: 'Transport retries (network errors, 429, 5xx) by provider.',
  llm_fallbacks_total: 'Moves to a fallback model after every deployment of a model failed.',
  llm_requests_in_flight: 'API requests being served.',
  llm_streams_open: 'SSE streams open to clients.',
  llm_circuit_breaker_state: 'Circuit breaker of each deployment: 0 closed, 1 half-open, 2 open.',
  llm_dependency_degraded:
    'Configured dependencies: 1 while degraded (unreachable or failing; the gateway falls back), 0 when up.',
  llm_rate_limit_redis_errors_total:
    'Rate-limit bucket calls Redis could not serve, by scope and the failure mode applied.',
} as const;

type MetricName = keyof typeof HELP;

/** One counter series: incremented as a number, exported at scrape time. */
export class CounterSeries {
  value = 0;
  exported = 0;
  constructor(readonly labels: LabelValues<string>) {}

  inc(amount = 1): void {
    this.value += amount;
  }
}

/** A prom-client Counter fed from {@link CounterSeries} objects when scraped. */
class SeriesCounter<L extends string> {
  private readonly series: CounterSeries[] = [];
  private readonly counter: Counter<L>;

  constructor(registry: Registry, name: MetricName, labelNames: readonly L[]) {
    const series = this.series;
    this.counter = new Counter<L>({
      name,
      help: HELP[name],
      labelNames,
      registers: [registry],
      collect() {
        for (const s of series) {
          if (s.value === s.exported) continue;
          this.inc(s.labels as LabelValues<L>, s.value - s.exported);
          s.exported = s.value;
        }
      },
    });
  }

  /** A new series, exported at 0 until it is incremented. */
  create(labels: LabelValues<L>): CounterSeries {
    const series = new CounterSeries(labels);
    this.counter.inc(labels, 0);
    this.series.push(series);
    return series;
  }
}

/** The series of one public model (or `unknown`). */
export interface ModelSeries {
  readonly name: string;
  /** A configured model: usage and cost are counted for it. */
  readonly known: boolean;
  readonly duration: HistogramSeries;
  readonly ttft: HistogramSeries;
  readonly latency: HistogramSeries;
  readonly interChunk: HistogramSeries;
  /** `llm_requests_total` by front, then status code; chat's 200 exists from the start, the others on first use. */
  readonly requests: Partial<Record<MetricFront, (CounterSeries | undefined)[]>>;
  /** Token and cost series by provider name (the providers of this model's deployments). */
  readonly usage: ReadonlyMap<string, UsageSeries>;
}

export interface UsageSeries {
  readonly promptTokens: CounterSeries;
  readonly completionTokens: CounterSeries;
  /** Of the prompt tokens: read from, and written to, the provider's prompt cache. */
  readonly cachedTokens: CounterSeries;
  readonly cacheWriteTokens: CounterSeries;
  /** Of the completion tokens: spent reasoning. */
  readonly reasoningTokens: CounterSeries;
  readonly costUsd: CounterSeries;
}

export interface ProviderSeries {
  readonly retries: CounterSeries;
  /** `llm_upstream_errors_total` by failure class, then origin. */
  readonly errors: Record<CountedFailure, Record<ErrorOrigin, CounterSeries>>;
}

export interface BreakerSource {
  readonly id: string;
  readonly breaker: { state(): BreakerState };
}

let processRegistry: Registry | undefined;

/** Node's default metrics (CPU, memory, event loop lag, GC), registered once per process. */
function defaultMetricsRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly unknownModel: ModelSeries;
  readonly cacheLookups: Record<CacheResult, CounterSeries>;
  readonly rateLimited: Record<RateLimitedScope, CounterSeries>;
  readonly overhead: { stream: HistogramSeries; nonStream: HistogramSeries };
  /** Requests being served and SSE streams open, exported as gauges at scrape time. */
  inFlight = 0;
  openStreams = 0;

  private readonly models = new Map<string, ModelSeries>();
  private readonly providers = new Map<string, ProviderSeries>();
  private readonly fallbackSeries = new Map<string, Map<string, CounterSeries>>();
  private readonly requestsCounter: SeriesCounter<'model' | 'front' | 'status'>;
  private readonly rateLimitRedisErrors: Counter<'scope' | 'mode'>;
  private breakers: () => Iterable<BreakerSource> = () => [];
  private readonly dependencies = new Map<string, () => DependencyState>();

  constructor(config: GatewayConfig) {
    const registry = this.registry;
    this.requestsCounter = new SeriesCounter(registry, 'llm_requests_total', ['model', 'front', 'status']);
    const duration = new SeriesHistogram(registry, 'llm_request_duration_seconds', ['model'], LATENCY_BUCKETS);
    const latency = new SeriesHistogram(registry, 'llm_model_latency_seconds', ['model'], LATENCY_BUCKETS);
    const ttft = new SeriesHistogram(registry, 'llm_time_to_first_token_seconds', ['model'], TTFT_BUCKETS);
    const interChunk = new SeriesHistogram(registry, 'llm_inter_chunk_latency_seconds', ['model'], INTER_CHUNK_BUCKETS);
    const overhead = new SeriesHistogram(registry, 'llm_gateway_overhead_seconds', ['stream'], OVERHEAD_BUCKETS);
    this.overhead = { stream: overhead.labels('true'), nonStream: overhead.labels('false') };
    const tokens = new SeriesCounter(registry, 'llm_tokens_total', ['model', 'provider', 'type']);
    const cost = new SeriesCounter(registry, 'llm_cost_usd_total', ['model', 'provider']);

    const modelSeries = (name: string, providers: readonly string[]): ModelSeries => {
      const chat: (CounterSeries | undefined)[] = [];
      chat[200] = this.requestsCounter.create({ model: name, front: 'chat', status: '200' });
      const requests = { chat };
      const usage = new Map<string, UsageSeries>();
      for (const provider of providers) {
        if (usage.has(provider)) continue;
        usage.set(provider, {
          promptTokens: tokens.create({ model: name, provider, type: 'prompt' }),
          completionTokens: tokens.create({ model: name, provider, type: 'completion' }),
          cachedTokens: tokens.create({ model: name, provider, type: 'cached' }),
          cacheWriteTokens: tokens.create({ model: name, provider, type: 'cache_write' }),
          reasoningTokens: tokens.create({ model: name, provider, type: 'reasoning' }),
          costUsd: cost.create({ model: name, provider }),
        });
      }
      duration.zero(name);
      return {
        name,
        known: providers.length > 0,
        duration: duration.labels(name),
        ttft: ttft.labels(name),
        latency: latency.labels(name),
        interChunk: interChunk.labels(name),
        requests,
        usage,
      };
    };
    for (const model of config.models) {
      this.models.set(
        model.name,
        modelSeries(
          model.name,
          model.deployments.map((d) => d.provider),
        ),
      );
    }
    this.unknownModel = modelSeries(UNKNOWN_MODEL, []);

    const cacheLookups = new SeriesCounter(registry, 'llm_cache_lookups_total', ['result']);
    this.cacheLookups = {
      hit: cacheLookups.create({ result: 'hit' }),
      miss: cacheLookups.create({ result: 'miss' }),
      bypass: cacheLookups.create({ result: 'bypass' }),
    };
    const rateLimited = new SeriesCounter(registry, 'llm_rate_limited_total', ['scope']);
    this.rateLimited = {
      key: rateLimited.create({ scope: 'key' }),
      model: rateLimited.create({ scope: 'model' }),
      global: rateLimited.create({ scope: 'global' }),
      budget: rateLimited.create({ scope: 'budget' }),
    };

    const errors = new SeriesCounter(registry, 'llm_upstream_errors_total', ['provider', 'class', 'origin']);
    const retries = new SeriesCounter(registry, 'llm_upstream_retries_total', ['provider']);
    for (const { name: provider } of config.providers) {
      const byClass = {} as ProviderSeries['errors'];
      for (const failure of FAILURE_CLASSES) {
        byClass[failure] = {
          upstream: errors.create({ provider, class: failure, origin: 'upstream' }),
          gateway: errors.create({ provider, class: failure, origin: 'gateway' }),
        };
      }
      this.providers.set(provider, { retries: retries.create({ provider }), errors: byClass });
    }

    const fallbacks = new SeriesCounter(registry, 'llm_fallbacks_total', ['from', 'to']);
    for (const model of config.models) {
      const targets = new Map<string, CounterSeries>();
      for (const to of model.fallbacks) targets.set(to, fallbacks.create({ from: model.name, to }));
      this.fallbackSeries.set(model.name, targets);
    }

    // prom-client calls `collect` with the gauge as `this`; the figures are read from this object through `read`.
    const read = {
      inFlight: () => this.inFlight,
      openStreams: () => this.openStreams,
      breakers: () => this.breakers(),
      dependencies: () => this.dependencies,
    };
    new Gauge({
      name: 'llm_requests_in_flight',
      help: HELP.llm_requests_in_flight,
      registers: [registry],
      collect() {
        this.set(read.inFlight());
      },
    });
    new Gauge({
      name: 'llm_streams_open',
      help: HELP.llm_streams_open,
      registers: [registry],
      collect() {
        this.set(read.openStreams());
      },
    });
    new Gauge({
      name: 'llm_circuit_breaker_state',
      help: HELP.llm_circuit_breaker_state,
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        for (const { id, breaker } of read.breakers())
          this.set({ deployment: id }, BREAKER_STATE_VALUES[breaker.state()]);
      },
    });
    new Gauge({
      name: 'llm_dependency_degraded',
      help: HELP.llm_dependency_degraded,
      labelNames: ['dependency'],
      registers: [registry],
      collect() {
        for (const [dependency, probe] of read.dependencies()) {
          const state = probe();
          if (state === 'disabled') this.remove({ dependency });
          else this.set({ dependency }, DEPENDENCY_STATE_VALUES[state]);
        }
      },
    });
    this.rateLimitRedisErrors = new Counter({
      name: 'llm_rate_limit_redis_errors_total',
      help: HELP.llm_rate_limit_redis_errors_total,
      labelNames: ['scope', 'mode'],
      registers: [registry],
    });
  }

  /** The series of a configured public model; `unknown` for anything else. */
  model(name: string | undefined): ModelSeries {
    return (name !== undefined && this.models.get(name)) || this.unknownModel;
  }

  requestsFor(model: ModelSeries, front: MetricFront, status: number): CounterSeries {
    const byStatus = (model.requests[front] ??= []);
    return (byStatus[status] ??= this.requestsCounter.create({ model: model.name, front, status: String(status) }));
  }

  provider(name: string): ProviderSeries | undefined {
    return this.providers.get(name);
  }

  fallback(from: string, to: string): CounterSeries | undefined {
    return this.fallbackSeries.get(from)?.get(to);
  }

  /** Called by the rate limiter's Redis store for each bucket call Redis could not serve (scope: key, model, global). */
  rateLimitRedisError(scope: string, mode: string): void {
    this.rateLimitRedisErrors.inc({ scope, mode });
  }

  /** Breaker states are read when Prometheus scrapes (they change with time alone: open turns half-open). */
  watchBreakers(source: () => Iterable<BreakerSource>): void {
    this.breakers = source;
  }

  /** A dependency whose state is read at scrape time; `disabled` (not configured) exports nothing. */
  watchDependency(name: string, probe: () => DependencyState): void {
    this.dependencies.set(name, probe);
  }

  /** A watched dependency's state now (readiness); `disabled` when nothing registered it. */
  dependencyState(name: string): DependencyState {
    return this.dependencies.get(name)?.() ?? 'disabled';
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: the gateway's metrics, then the process's. */
  async render(): Promise<string> {
    const [own, process] = await Promise.all([this.registry.metrics(), defaultMetricsRegistry().metrics()]);
    return own + process;
  }
}

/**
 * One label set of a histogram: bucket counts in a typed array, updated with no label hashing or validation per
 * observation (prom-client's `observe` does both, on every call); exported at scrape time.
 */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** Exported once observed or zeroed, as prom-client does for a label set. */
  visible = false;

  constructor(
    readonly labels: LabelValues<string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
    this.visible = true;
  }
}

/** A histogram whose label sets are created up front and observed directly; prom-client formats it. */
class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly help: string;
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    registry: Registry,
    readonly name: MetricName,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    this.help = HELP[name];
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for these label values (in `labelNames` order), created on first use. */
  labels(...values: string[]): HistogramSeries {
    const id = values.join('\u0000');
    let series = this.series.get(id);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((label, i) => (labels[label] = values[i]));
      series = new HistogramSeries(labels, this.bounds);
      this.series.set(id, series);
    }
    return series;
  }

  /** Exports the series with zero counts before its first observation. */
  zero(...values: string[]): void {
    this.labels(...values).visible = true;
  }

  /** What prom-client's registry formats (its typings declare `type` as an enum; at run time it is this string). */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: MetricValueWithName<string>[];
  }> {
    const values: MetricValueWithName<string>[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.series.values()) {
      if (!series.visible) continue;
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.counts[i];
        values.push({ metricName: bucketName, labels: { ...series.labels, le: bound }, value: cumulative });
      });
      values.push({ metricName: bucketName, labels: { ...series.labels, le: '+Inf' }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: series.labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: series.labels, value: series.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
