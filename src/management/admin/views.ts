/** Rows as the admin API shows them: camelCase, ISO times, never a hash or a secret. */
import type { AuditRow, KeyRow, TeamRow } from '../database.types.js';

export interface BudgetView {
  tokensPerDay: number | null;
  tokensPerMonth: number | null;
  usdPerDay: number | null;
  usdPerMonth: number | null;
}

export interface KeyView {
  object: 'key';
  id: string;
  prefix: string;
  teamId: string | null;
  models: string[] | null;
  limits: { requestsPerMinute: number | null; burst: number | null; tokensPerMinute: number | null };
  budget: BudgetView;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Until when the secret replaced by the last rotation still works. */
  previousSecretValidUntil: string | null;
  logBodies: boolean;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface TeamView {
  object: 'team';
  id: string;
  name: string;
  models: string[] | null;
  budget: BudgetView;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface AuditView {
  object: 'audit_entry';
  id: number;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
}

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

function budgetOf(row: KeyRow | TeamRow): BudgetView {
  return {
    tokensPerDay: row.tokens_per_day,
    tokensPerMonth: row.tokens_per_month,
    usdPerDay: row.usd_per_day,
    usdPerMonth: row.usd_per_month,
  };
}

export function keyView(row: KeyRow): KeyView {
  return {
    object: 'key',
    id: row.id,
    prefix: row.prefix,
    teamId: row.team_id,
    models: row.models,
    limits: { requestsPerMinute: row.requests_per_minute, burst: row.burst, tokensPerMinute: row.tokens_per_minute },
    budget: budgetOf(row),
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    previousSecretValidUntil: row.previous_key_hash === null ? null : iso(row.previous_expires_at),
    logBodies: row.log_bodies,
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function teamView(row: TeamRow): TeamView {
  return {
    object: 'team',
    id: row.id,
    name: row.name,
    models: row.models,
    budget: budgetOf(row),
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function auditView(row: AuditRow): AuditView {
  return {
    object: 'audit_entry',
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before,
    after: row.after,
    requestId: row.request_id,
  };
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  hasMore: boolean;
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export function encodeCursor(value: string): string {
  return Buffer.from(value, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  return cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString('utf8');
}

/** A page from `limit + 1` rows: the extra row only says there is more. */
export function page<Row, T>(
  rows: Row[],
  limit: number,
  view: (row: Row) => T,
  cursorOf: (row: Row) => string,
): ListPage<T> {
  const hasMore = rows.length > limit;
  const shown = hasMore ? rows.slice(0, limit) : rows;
  return {
    object: 'list',
    data: shown.map(view),
    hasMore,
    nextCursor: hasMore ? encodeCursor(cursorOf(shown[shown.length - 1])) : null,
  };
}
