/** The management plane's tables as Kysely sees them (the SQL is in migrations.ts; keep the two in step). */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** jsonb columns: written as a JSON text, read back parsed. */
export type Json = ColumnType<Record<string, unknown>, string, string>;
/** timestamptz columns with a default. */
type CreatedAt = ColumnType<Date, Date | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | undefined, Date>;

/** Budgets and limits shared by keys and teams; null is "no limit". */
export interface BudgetColumns {
  tokens_per_day: number | null;
  tokens_per_month: number | null;
  usd_per_day: number | null;
  usd_per_month: number | null;
}

export interface TeamsTable extends BudgetColumns {
  id: string;
  name: string;
  /** Public models the team's keys may use at most; null is every model. */
  models: string[] | null;
  metadata: Json;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface KeysTable extends BudgetColumns {
  id: string;
  /** Hex SHA-256 of the secret; the secret itself is never stored. */
  key_hash: string;
  /** The first characters of the secret, to recognise it in a list (`sk-gw-3f9a…`). */
  prefix: string;
  team_id: string | null;
  models: string[] | null;
  requests_per_minute: number | null;
  burst: number | null;
  tokens_per_minute: number | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** After a rotation: the old secret's hash, valid until previous_expires_at. */
  previous_key_hash: string | null;
  previous_expires_at: Date | null;
  /** Whether this key's requests and answers are kept in request_log (redacted, capped). */
  log_bodies: ColumnType<boolean, boolean | undefined, boolean>;
  metadata: Json;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface RequestLogTable {
  id: Generated<number>;
  at: Date;
  request_id: string;
  trace_id: string | null;
  key_id: string | null;
  team_id: string | null;
  front: string;
  operation: string;
  model: string;
  served_model: string | null;
  deployment: string | null;
  provider: string | null;
  attempts: number;
  fallbacks: number;
  stream: boolean;
  status: number;
  error_code: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cached_tokens: number | null;
  cache_write_tokens: number | null;
  reasoning_tokens: number | null;
  tokens_estimated: boolean;
  cost_usd: number | null;
  latency_ms: number;
  overhead_ms: number | null;
  ttft_ms: number | null;
  upstream_ms: number;
  cache: string | null;
  request_body: string | null;
  response_body: string | null;
}

export interface UsageDailyTable {
  day: string;
  key_id: string;
  /** '' for keys without a team (part of the primary key, so never null). */
  team_id: string;
  model: string;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: CreatedAt;
  /** The admin key that made the change. */
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  before: ColumnType<Record<string, unknown> | null, string | null, never>;
  after: ColumnType<Record<string, unknown> | null, string | null, never>;
  request_id: string | null;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: CreatedAt;
}

export interface ManagementDatabase {
  teams: TeamsTable;
  keys: KeysTable;
  request_log: RequestLogTable;
  usage_daily: UsageDailyTable;
  audit_log: AuditLogTable;
  schema_migrations: SchemaMigrationsTable;
}

export type TeamRow = Selectable<TeamsTable>;
export type KeyRow = Selectable<KeysTable>;
export type KeyUpdate = Updateable<KeysTable>;
export type NewRequestLogRow = Insertable<RequestLogTable>;
export type AuditRow = Selectable<AuditLogTable>;
