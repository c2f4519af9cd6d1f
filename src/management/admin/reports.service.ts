/**
 * Reading what the gateway recorded: daily usage, the request log and the audit log. The logs are paged by id, newest
 * logged first: a bigserial cursor is exact, where a timestamp cursor would skip rows logged in the same microsecond.
 */
import { Injectable } from '@nestjs/common';
import type { Selectable } from 'kysely';
import { DatabaseService } from '../database.js';
import type { RequestLogTable } from '../database.types.js';
import { invalidField } from './admin-input.js';
import type { AuditLogQuery, RequestLogQuery, UsageQuery } from './admin.dto.js';
import { type AuditView, auditView, decodeCursor, type ListPage, page } from './views.js';

const DEFAULT_USAGE_DAYS = 30;

export interface DailyUsage {
  day: string;
  /** The key, team ('' for keys without one) or model of the row, per `groupBy`. */
  key?: string;
  team?: string;
  model?: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costUsd: number;
}

export interface RequestLogView {
  object: 'request';
  id: number;
  at: string;
  requestId: string;
  traceId: string | null;
  keyId: string | null;
  teamId: string | null;
  front: string;
  operation: string;
  model: string;
  servedModel: string | null;
  deployment: string | null;
  provider: string | null;
  attempts: number;
  fallbacks: number;
  stream: boolean;
  status: number;
  errorCode: string | null;
  tokens: {
    prompt: number | null;
    completion: number | null;
    cached: number | null;
    cacheWrite: number | null;
    reasoning: number | null;
    estimated: boolean;
  };
  costUsd: number | null;
  latencyMs: number;
  overheadMs: number | null;
  ttftMs: number | null;
  upstreamMs: number;
  cache: string | null;
  requestBody: string | null;
  responseBody: string | null;
}

function requestView(row: Selectable<RequestLogTable>): RequestLogView {
  return {
    object: 'request',
    id: row.id,
    at: row.at.toISOString(),
    requestId: row.request_id,
    traceId: row.trace_id,
    keyId: row.key_id,
    teamId: row.team_id,
    front: row.front,
    operation: row.operation,
    model: row.model,
    servedModel: row.served_model,
    deployment: row.deployment,
    provider: row.provider,
    attempts: row.attempts,
    fallbacks: row.fallbacks,
    stream: row.stream,
    status: row.status,
    errorCode: row.error_code,
    tokens: {
      prompt: row.prompt_tokens,
      completion: row.completion_tokens,
      cached: row.cached_tokens,
      cacheWrite: row.cache_write_tokens,
      reasoning: row.reasoning_tokens,
      estimated: row.tokens_estimated,
    },
    costUsd: row.cost_usd,
    latencyMs: row.latency_ms,
    overheadMs: row.overhead_ms,
    ttftMs: row.ttft_ms,
    upstreamMs: row.upstream_ms,
    cache: row.cache,
    requestBody: row.request_body,
    responseBody: row.response_body,
  };
}

/** A cursor of the id-ordered logs: the last id shown, as digits. */
function idCursor(cursor: string | undefined): number | undefined {
  const id = decodeCursor(cursor);
  if (id === undefined) return undefined;
  if (!/^\d{1,15}$/.test(id)) throw invalidField('cursor: not a cursor this list gave');
  return Number(id);
}

@Injectable()
export class ReportsService {
  constructor(private readonly database: DatabaseService) {}

  usage(query: UsageQuery, now = new Date()): Promise<{ object: 'list'; data: DailyUsage[] }> {
    const to = query.to ?? now.toISOString().slice(0, 10);
    const from =
      query.from ?? new Date(now.getTime() - (DEFAULT_USAGE_DAYS - 1) * 86_400_000).toISOString().slice(0, 10);
    for (const [name, day] of [
      ['from', from],
      ['to', to],
    ]) {
      const parsed = Date.parse(`${day}T00:00:00Z`);
      // Date.parse rolls 2026-02-30 over to March: a real day reads back as itself.
      if (Number.isNaN(parsed) || new Date(parsed).toISOString().slice(0, 10) !== day) {
        throw invalidField(`${name}: not a day of the calendar`);
      }
    }
    if (from > to) throw invalidField('from: must not be after to');
    const column = query.groupBy === 'key' ? 'key_id' : query.groupBy === 'team' ? 'team_id' : 'model';
    return this.database.admin(async () => {
      let select = this.database.db
        .selectFrom('usage_daily')
        .select((eb) => [
          eb.fn<string>('to_char', [eb.ref('day'), eb.val('YYYY-MM-DD')]).as('day'),
          eb.ref(column).as('dimension'),
          eb.fn.sum<number>('requests').as('requests'),
          eb.fn.sum<number>('errors').as('errors'),
          eb.fn.sum<number>('prompt_tokens').as('prompt_tokens'),
          eb.fn.sum<number>('completion_tokens').as('completion_tokens'),
          eb.fn.sum<number>('cached_tokens').as('cached_tokens'),
          eb.fn.sum<number>('cache_write_tokens').as('cache_write_tokens'),
          eb.fn.sum<number>('reasoning_tokens').as('reasoning_tokens'),
          eb.fn.sum<number>('cost_usd').as('cost_usd'),
        ])
        .where('day', '>=', from)
        .where('day', '<=', to)
        .groupBy(['day', column])
        .orderBy('day')
        .orderBy(column);
      if (query.key !== undefined) select = select.where('key_id', '=', query.key);
      if (query.team !== undefined) select = select.where('team_id', '=', query.team);
      if (query.model !== undefined) select = select.where('model', '=', query.model);
      const rows = await select.execute();
      return {
        object: 'list' as const,
        data: rows.map((row) => ({
          day: row.day,
          [query.groupBy]: row.dimension,
          requests: Number(row.requests),
          errors: Number(row.errors),
          promptTokens: Number(row.prompt_tokens),
          completionTokens: Number(row.completion_tokens),
          cachedTokens: Number(row.cached_tokens),
          cacheWriteTokens: Number(row.cache_write_tokens),
          reasoningTokens: Number(row.reasoning_tokens),
          costUsd: Number(row.cost_usd),
        })),
      };
    });
  }

  requests(query: RequestLogQuery): Promise<ListPage<RequestLogView>> {
    const before = idCursor(query.cursor);
    return this.database.admin(async () => {
      let select = this.database.db
        .selectFrom('request_log')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(query.limit + 1);
      if (before !== undefined) select = select.where('id', '<', before);
      if (query.key !== undefined) select = select.where('key_id', '=', query.key);
      if (query.team !== undefined) select = select.where('team_id', '=', query.team);
      if (query.model !== undefined) select = select.where('model', '=', query.model);
      if (query.status !== undefined) select = select.where('status', '=', query.status);
      if (query.from !== undefined) select = select.where('at', '>=', new Date(query.from));
      if (query.to !== undefined) select = select.where('at', '<', new Date(query.to));
      return page(await select.execute(), query.limit, requestView, (row) => String(row.id));
    });
  }

  audit(query: AuditLogQuery): Promise<ListPage<AuditView>> {
    const before = idCursor(query.cursor);
    return this.database.admin(async () => {
      let select = this.database.db
        .selectFrom('audit_log')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(query.limit + 1);
      if (before !== undefined) select = select.where('id', '<', before);
      if (query.targetType !== undefined) select = select.where('target_type', '=', query.targetType);
      if (query.targetId !== undefined) select = select.where('target_id', '=', query.targetId);
      if (query.actor !== undefined) select = select.where('actor', '=', query.actor);
      return page(await select.execute(), query.limit, auditView, (row) => String(row.id));
    });
  }
}
