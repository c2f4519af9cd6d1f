/**
 * `GET /admin/stats`: the Overview's live figures, from this process's own metrics (the same in-process series
 * `/metrics` exports, read as objects, never as exposition text). A sample of the cumulative totals is taken every
 * few seconds and a short ring of them kept, so each point of the answer is the change over one interval:
 * requests per second, errors by kind, overhead and TTFT quantiles (from histogram bucket deltas), cache hit ratio,
 * spend. Figures are per replica.
 */
import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';

export const STATS_INTERVAL_MS = 5_000;
/** Ten minutes of points. */
export const STATS_SAMPLES = 120;

/** Status classes a request is counted under. */
export type StatusKind = 'ok' | 'client_error' | 'rate_limited' | 'server_error' | 'client_closed';
const STATUS_KINDS: readonly StatusKind[] = ['ok', 'client_error', 'rate_limited', 'server_error', 'client_closed'];

export function statusKind(status: number): StatusKind {
  if (status === 429) return 'rate_limited';
  if (status === 499) return 'client_closed';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'ok';
}

/** Cumulative bucket counts by upper bound (seconds), +Inf last. */
export interface Buckets {
  bounds: number[];
  counts: number[];
}

export interface Totals {
  at: number;
  requests: Record<StatusKind, number>;
  upstreamErrors: Record<string, number>;
  cache: { hit: number; miss: number; bypass: number };
  costUsd: number;
  tokens: Record<string, number>;
  overhead: Buckets;
  ttft: Buckets;
}

export interface StatsPoint {
  /** The end of the interval, epoch ms. */
  t: number;
  requestsPerSecond: number;
  /** Share of answered requests that were errors (4xx but 429, 429, 5xx; clients that left are not errors). */
  errorRate: number;
  errors: Record<Exclude<StatusKind, 'ok'>, number>;
  overheadP50Ms: number | null;
  overheadP95Ms: number | null;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  /** Hits over hits + misses (bypassed requests were never cacheable); null without lookups. */
  cacheHitRatio: number | null;
  costUsd: number;
}

export interface StatsView {
  object: 'stats';
  now: string;
  intervalMs: number;
  startedAt: string;
  inFlight: number;
  openStreams: number;
  /** Since the start of the UTC day, or of this process when it started today. */
  today: { costUsd: number; requests: number; tokens: Record<string, number> };
  upstreamErrors: Record<string, number>;
  series: StatsPoint[];
}

function sum(
  values: readonly MetricValue<string>[],
  filter: (labels: Record<string, unknown>) => boolean = () => true,
) {
  let total = 0;
  for (const v of values) if (filter(v.labels)) total += v.value;
  return total;
}

function buckets(metric: MetricObjectWithValues<MetricValueWithName<string>> | undefined): Buckets {
  const byBound = new Map<number, number>();
  for (const v of metric?.values ?? []) {
    if (v.metricName === undefined || !v.metricName.endsWith('_bucket')) continue;
    const le = v.labels.le;
    const bound = le === '+Inf' ? Infinity : Number(le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + v.value);
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { bounds, counts: bounds.map((b) => byBound.get(b)!) };
}

/** The q-quantile (ms) of the observations between two cumulative bucket readings, linear within a bucket. */
export function quantileMs(before: Buckets, after: Buckets, q: number): number | null {
  const counts = after.counts.map((c, i) => c - (before.counts[i] ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] < rank) continue;
    const lower = i === 0 ? 0 : after.bounds[i - 1];
    const upper = after.bounds[i];
    if (upper === Infinity) return lower * 1000;
    const below = i === 0 ? 0 : counts[i - 1];
    const inBucket = counts[i] - below;
    const fraction = inBucket <= 0 ? 1 : (rank - below) / inBucket;
    return Math.round((lower + (upper - lower) * fraction) * 1000 * 100) / 100;
  }
  return null;
}

function emptyTotals(at: number): Totals {
  return {
    at,
    requests: { ok: 0, client_error: 0, rate_limited: 0, server_error: 0, client_closed: 0 },
    upstreamErrors: {},
    cache: { hit: 0, miss: 0, bypass: 0 },
    costUsd: 0,
    tokens: {},
    overhead: { bounds: [], counts: [] },
    ttft: { bounds: [], counts: [] },
  };
}

export function point(before: Totals, after: Totals): StatsPoint {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001);
  const delta = (kind: StatusKind) => after.requests[kind] - before.requests[kind];
  const answered = STATUS_KINDS.reduce((n, kind) => n + delta(kind), 0);
  const errors = {
    client_error: delta('client_error'),
    rate_limited: delta('rate_limited'),
    server_error: delta('server_error'),
    client_closed: delta('client_closed'),
  };
  const failed = errors.client_error + errors.rate_limited + errors.server_error;
  const counted = answered - errors.client_closed;
  const hits = after.cache.hit - before.cache.hit;
  const misses = after.cache.miss - before.cache.miss;
  return {
    t: after.at,
    requestsPerSecond: Math.round((answered / seconds) * 1000) / 1000,
    errorRate: counted > 0 ? failed / counted : 0,
    errors,
    overheadP50Ms: quantileMs(before.overhead, after.overhead, 0.5),
    overheadP95Ms: quantileMs(before.overhead, after.overhead, 0.95),
    ttftP50Ms: quantileMs(before.ttft, after.ttft, 0.5),
    ttftP95Ms: quantileMs(before.ttft, after.ttft, 0.95),
    cacheHitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
    costUsd: after.costUsd - before.costUsd,
  };
}

@Injectable()
export class UiStatsService implements OnModuleInit, OnModuleDestroy {
  private readonly samples: Totals[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  /** The totals at the start of the current UTC day (zero when the process started today). */
  private dayStart: { day: string; totals: Totals } = { day: '', totals: emptyTotals(0) };
  /** Replaceable in tests. */
  clock: () => number = Date.now;

  constructor(private readonly metrics: GatewayMetrics) {}

  onModuleInit(): void {
    this.dayStart = { day: new Date(this.clock()).toISOString().slice(0, 10), totals: emptyTotals(this.clock()) };
    void this.sample();
    this.timer = setInterval(() => void this.sample(), STATS_INTERVAL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async totals(): Promise<Totals> {
    const metrics = await this.metrics.registry.getMetricsAsJSON();
    const byName = new Map(metrics.map((m) => [m.name, m as MetricObjectWithValues<MetricValueWithName<string>>]));
    const values = (name: string) => byName.get(name)?.values ?? [];
    const totals = emptyTotals(this.clock());
    for (const v of values('llm_requests_total')) totals.requests[statusKind(Number(v.labels.status))] += v.value;
    for (const v of values('llm_upstream_errors_total')) {
      const kind = String(v.labels.class);
      totals.upstreamErrors[kind] = (totals.upstreamErrors[kind] ?? 0) + v.value;
    }
    const cache = values('llm_cache_lookups_total');
    totals.cache = {
      hit: sum(cache, (l) => l.result === 'hit'),
      miss: sum(cache, (l) => l.result === 'miss'),
      bypass: sum(cache, (l) => l.result === 'bypass'),
    };
    totals.costUsd = sum(values('llm_cost_usd_total'));
    for (const v of values('llm_tokens_total')) {
      const type = String(v.labels.type);
      totals.tokens[type] = (totals.tokens[type] ?? 0) + v.value;
    }
    totals.overhead = buckets(byName.get('llm_gateway_overhead_seconds'));
    totals.ttft = buckets(byName.get('llm_time_to_first_token_seconds'));
    return totals;
  }

  private async sample(): Promise<void> {
    const totals = await this.totals();
    const day = new Date(totals.at).toISOString().slice(0, 10);
    if (day !== this.dayStart.day) this.dayStart = { day, totals };
    this.samples.push(totals);
    if (this.samples.length > STATS_SAMPLES + 1) this.samples.shift();
  }

  async view(): Promise<StatsView> {
    const now = await this.totals();
    const points: StatsPoint[] = [];
    const readings = [...this.samples, now];
    for (let i = 1; i < readings.length; i++) {
      // The reading taken now may fall just after the last sample: too short an interval to be a point.
      if (readings[i].at - readings[i - 1].at < 500) continue;
      points.push(point(readings[i - 1], readings[i]));
    }
    const start = this.dayStart.totals;
    const tokens: Record<string, number> = {};
    for (const [type, n] of Object.entries(now.tokens)) tokens[type] = n - (start.tokens[type] ?? 0);
    const answered = (t: Totals) => STATUS_KINDS.reduce((n, kind) => n + t.requests[kind], 0);
    return {
      object: 'stats',
      now: new Date(now.at).toISOString(),
      intervalMs: STATS_INTERVAL_MS,
      startedAt: new Date(this.startedAt).toISOString(),
      inFlight: this.metrics.inFlight,
      openStreams: this.metrics.openStreams,
      today: { costUsd: now.costUsd - start.costUsd, requests: answered(now) - answered(start), tokens },
      upstreamErrors: now.upstreamErrors,
      series: points,
    };
  }
}
