/**
 * The request log, written without slowing a request: the telemetry of each finished API request is queued in memory
 * (a synchronous push, see RequestObserver.sink), and a batch is written as one multi-row INSERT into request_log —
 * with the day's aggregates upserted into usage_daily in the same transaction — when `batchRows` rows wait or
 * `flushIntervalMs` after the first of them, one batch at a time.
 *
 * While the database is down or hangs (every query is bounded by the statement timeout), rows stay queued and the
 * write is retried with backoff. The queue holds at most `maxQueueRows`: past that the oldest rows are dropped,
 * counted in `llm_request_log_dropped_rows_total`, with one warning a minute. Rows keep being written while requests
 * drain at shutdown; what is left then gets one last second (see close()). Bodies are kept only for keys created with `logBodies`.
 */
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Counter } from 'prom-client';
import { redact } from '../common/redaction.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { type RequestRecord, RequestObserver } from '../observability/request-telemetry.js';
import type { RequestLogConfig } from './database.config.js';
import { DatabaseService, describeDatabaseError } from './database.js';
import type { NewRequestLogRow, UsageDailyTable } from './database.types.js';

const RETRY_MAX_MS = 10_000;
const WARN_EVERY_MS = 60_000;
/** The last write at shutdown; see close(). */
const FINAL_FLUSH_MS = 1_000;
const MS_DECIMALS = 100;

function roundMs(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * MS_DECIMALS) / MS_DECIMALS;
}

/** A body as the log keeps it: redacted of every credential first (so no half secret survives the cut), then cut. */
export function loggedBody(body: string | undefined, maxChars: number): string | null {
  if (body === undefined) return null;
  const redacted = redact(body);
  return redacted.length > maxChars ? `${redacted.slice(0, maxChars)}…[truncated]` : redacted;
}

export function toRequestLogRow(record: RequestRecord, maxBodyChars: number): NewRequestLogRow {
  const usage = record.usage;
  return {
    at: new Date(record.at),
    request_id: record.requestId,
    trace_id: record.traceId,
    key_id: record.key?.id ?? null,
    team_id: record.key?.teamId ?? null,
    front: record.front,
    operation: record.operation,
    model: record.model,
    served_model: record.route?.model ?? null,
    deployment: record.route?.deployment ?? null,
    provider: record.route?.provider ?? null,
    attempts: record.attempts,
    fallbacks: record.fallbacks,
    stream: record.stream,
    status: record.status,
    error_code: record.errorCode ?? null,
    prompt_tokens: usage?.prompt ?? null,
    completion_tokens: usage?.completion ?? null,
    cached_tokens: usage ? (usage.cached ?? 0) : null,
    cache_write_tokens: usage ? (usage.cacheWrite ?? 0) : null,
    reasoning_tokens: usage ? (usage.reasoning ?? 0) : null,
    tokens_estimated: usage?.estimated ?? false,
    cost_usd: record.costUsd ?? null,
    latency_ms: roundMs(record.latencyMs)!,
    overhead_ms: roundMs(record.overheadMs),
    ttft_ms: roundMs(record.ttftMs),
    upstream_ms: roundMs(record.upstreamMs)!,
    cache: record.cache ?? null,
    request_body: loggedBody(record.requestBody, maxBodyChars),
    response_body: loggedBody(record.responseBody, maxBodyChars),
  };
}

/** The batch's sums per (day, key, team, model): one upsert row each. Requests without a key (401s) are not usage. */
export function dailyAggregates(rows: readonly NewRequestLogRow[]): UsageDailyTable[] {
  const sums = new Map<string, UsageDailyTable>();
  for (const row of rows) {
    if (row.key_id === null || row.key_id === undefined) continue;
    const day = row.at.toISOString().slice(0, 10);
    const team = row.team_id ?? '';
    const id = `${day}\u0000${row.key_id}\u0000${team}\u0000${row.model}`;
    let sum = sums.get(id);
    if (!sum) {
      sum = {
        day,
        key_id: row.key_id,
        team_id: team,
        model: row.model,
        requests: 0,
        errors: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        cached_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        cost_usd: 0,
      };
      sums.set(id, sum);
    }
    sum.requests++;
    if (row.status >= 400) sum.errors++;
    sum.prompt_tokens += row.prompt_tokens ?? 0;
    sum.completion_tokens += row.completion_tokens ?? 0;
    sum.cached_tokens += row.cached_tokens ?? 0;
    sum.cache_write_tokens += row.cache_write_tokens ?? 0;
    sum.reasoning_tokens += row.reasoning_tokens ?? 0;
    sum.cost_usd += row.cost_usd ?? 0;
  }
  return [...sums.values()];
}

@Injectable()
export class RequestLogWriter implements OnModuleInit {
  private readonly logger = new Logger(RequestLogWriter.name);
  private readonly config: RequestLogConfig;
  private readonly drainTimeoutMs: number;
  /** Rows not yet written, oldest first, from `head` on (a deque without shifting). */
  private queue: NewRequestLogRow[] = [];
  private head = 0;
  /** The batch being written: still counted against the bound, put back in front if the write fails. */
  private writing: NewRequestLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<boolean> | undefined;
  private retryMs: number;
  private failing = false;
  private stopped = false;
  /** Past the shutdown deadline: no more tries (the pool is about to close). */
  private closed = false;
  private readonly dropped: Counter;
  private droppedSinceWarning = 0;
  private lastWarningAt = -Infinity;
  /** Batches written (tests check that rows go in batches). */
  batches = 0;

  constructor(
    private readonly database: DatabaseService,
    private readonly observer: RequestObserver,
    metrics: GatewayMetrics,
    @Inject(GATEWAY_CONFIG) gateway: GatewayConfig,
  ) {
    this.config = database.config.requestLog;
    this.drainTimeoutMs = gateway.server.drainTimeoutMs;
    this.retryMs = this.config.flushIntervalMs;
    this.dropped = new Counter({
      name: 'llm_request_log_dropped_rows_total',
      help: 'Request log rows dropped because the database could not take them before the queue was full.',
      registers: [metrics.registry],
    });
    database.beforeClose(() => this.close());
  }

  onModuleInit(): void {
    const maxBodyChars = this.config.maxBodyChars;
    if (this.config.enabled) this.observer.sink = (record) => this.push(toRequestLogRow(record, maxBodyChars));
  }

  /** Rows waiting, the batch being written included. */
  get queued(): number {
    return this.queue.length - this.head + this.writing.length;
  }

  push(row: NewRequestLogRow): void {
    this.queue.push(row);
    if (this.queued > this.config.maxQueueRows) this.dropOldest(this.queued - this.config.maxQueueRows);
    if (this.failing || this.flushing) return;
    if (this.queue.length - this.head >= this.config.batchRows) this.flushSoon(0);
    else this.flushSoon(this.config.flushIntervalMs);
  }

  /** Writes everything queued now (tests, shutdown); resolves when the queue is empty or a write failed. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length - this.head > 0) {
      this.flushing ??= this.writeBatch().finally(() => (this.flushing = undefined));
      if (!(await this.flushing)) return;
    }
  }

  private flushSoon(delayMs: number): void {
    if (this.timer !== undefined && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().then(() => this.afterFlush());
    }, delayMs);
    this.timer.unref();
  }

  /** After a failed write: retry with backoff; after rows arrived meanwhile: the next batch. */
  private afterFlush(): void {
    if (this.stopped || this.queue.length - this.head === 0) return;
    if (this.failing) {
      this.flushSoon(this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    } else {
      this.flushSoon(this.config.flushIntervalMs);
    }
  }

  /** One batch: true when written. */
  private async writeBatch(): Promise<boolean> {
    const end = Math.min(this.queue.length, this.head + this.config.batchRows);
    this.writing = this.queue.slice(this.head, end);
    this.head = end;
    this.compact();
    const batch = this.writing;
    try {
      await this.database.run(() =>
        this.database.db.transaction().execute(async (trx) => {
          await trx.insertInto('request_log').values(batch).execute();
          const aggregates = dailyAggregates(batch);
          if (aggregates.length === 0) return;
          await trx
            .insertInto('usage_daily')
            .values(aggregates)
            .onConflict((conflict) =>
              conflict.columns(['day', 'key_id', 'team_id', 'model']).doUpdateSet((eb) => ({
                requests: eb('usage_daily.requests', '+', eb.ref('excluded.requests')),
                errors: eb('usage_daily.errors', '+', eb.ref('excluded.errors')),
                prompt_tokens: eb('usage_daily.prompt_tokens', '+', eb.ref('excluded.prompt_tokens')),
                completion_tokens: eb('usage_daily.completion_tokens', '+', eb.ref('excluded.completion_tokens')),
                cached_tokens: eb('usage_daily.cached_tokens', '+', eb.ref('excluded.cached_tokens')),
                cache_write_tokens: eb('usage_daily.cache_write_tokens', '+', eb.ref('excluded.cache_write_tokens')),
                reasoning_tokens: eb('usage_daily.reasoning_tokens', '+', eb.ref('excluded.reasoning_tokens')),
                cost_usd: eb('usage_daily.cost_usd', '+', eb.ref('excluded.cost_usd')),
              })),
            )
            .execute();
        }),
      );
      this.writing = [];
      this.batches++;
      if (this.failing) this.logger.log(`request log writes resumed; ${this.queued} row(s) still queued`);
      this.failing = false;
      this.retryMs = this.config.flushIntervalMs;
      return true;
    } catch (error) {
      // Back in front, oldest first; the bound still holds (rows may have arrived during the write).
      this.queue = [...batch, ...this.queue.slice(this.head)];
      this.head = 0;
      this.writing = [];
      if (this.queued > this.config.maxQueueRows) this.dropOldest(this.queued - this.config.maxQueueRows);
      if (!this.failing) {
        this.logger.warn(
          `could not write the request log (${describeDatabaseError(error)}): ${this.queued} row(s) queued, retrying`,
        );
      }
      this.failing = true;
      return false;
    }
  }

  private dropOldest(count: number): void {
    this.head += count;
    this.compact();
    this.dropped.inc(count);
    this.droppedSinceWarning += count;
    const now = Date.now();
    if (now - this.lastWarningAt >= WARN_EVERY_MS) {
      this.lastWarningAt = now;
      this.logger.warn(
        `request log queue full (${this.config.maxQueueRows} rows, database unavailable): dropped the oldest ` +
          `${this.droppedSinceWarning} row(s) since the last warning`,
      );
      this.droppedSinceWarning = 0;
    }
  }

  /** Drops the consumed front of the array once it is the larger part (amortised O(1) per row). */
  private compact(): void {
    if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /**
   * At shutdown, after the drain: the writer kept writing while requests drained, so what is left is at most the last
   * interval's rows. They get FINAL_FLUSH_MS (less if the drain time is shorter), inside the shutdown tail the Helm
   * chart's grace period allows for (SHUTDOWN_TAIL_MS), whatever the database does.
   */
  private async close(): Promise<void> {
    this.stopped = true;
    this.observer.sink = undefined;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.min(this.drainTimeoutMs, FINAL_FLUSH_MS));
    });
    await Promise.race([this.flushing?.then(() => this.flushAll()) ?? this.flushAll(), deadline]);
    clearTimeout(timer);
    this.closed = true;
    if (this.queued > 0) this.logger.warn(`shutting down with ${this.queued} request log row(s) unwritten`);
  }

  /** flush() until empty, retrying failed writes (at shutdown the deadline ends it). */
  private async flushAll(): Promise<void> {
    while (this.queue.length - this.head > 0 && !this.closed) {
      await this.flush();
      if (this.failing) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
