/**
 * Versioned SQL migrations, applied at start-up in order, each in its own transaction, under a PostgreSQL advisory
 * lock: replicas that start together wait for the first one, then find nothing left to do. A migration is never
 * edited once released; a change is a new entry at the end. The SQL lives here rather than in .sql files so that
 * `tsc` ships it in dist with the code that expects it.
 */
import type { PoolClient } from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'management plane: teams, keys, request log, daily usage, audit log',
    sql: `
      CREATE TABLE teams (
        id text PRIMARY KEY,
        name text NOT NULL,
        models text[],
        tokens_per_day bigint CHECK (tokens_per_day > 0),
        tokens_per_month bigint CHECK (tokens_per_month > 0),
        usd_per_day numeric(20, 9) CHECK (usd_per_day > 0),
        usd_per_month numeric(20, 9) CHECK (usd_per_month > 0),
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE keys (
        id text PRIMARY KEY,
        key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
        prefix text NOT NULL,
        team_id text REFERENCES teams (id) ON DELETE RESTRICT,
        models text[],
        requests_per_minute integer CHECK (requests_per_minute > 0),
        burst integer CHECK (burst > 0),
        tokens_per_minute integer CHECK (tokens_per_minute > 0),
        tokens_per_day bigint CHECK (tokens_per_day > 0),
        tokens_per_month bigint CHECK (tokens_per_month > 0),
        usd_per_day numeric(20, 9) CHECK (usd_per_day > 0),
        usd_per_month numeric(20, 9) CHECK (usd_per_month > 0),
        expires_at timestamptz,
        revoked_at timestamptz,
        previous_key_hash text UNIQUE CHECK (previous_key_hash ~ '^[0-9a-f]{64}$'),
        previous_expires_at timestamptz,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX keys_team_id ON keys (team_id);
      CREATE TABLE request_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        request_id text NOT NULL,
        trace_id text,
        key_id text,
        team_id text,
        front text NOT NULL,
        operation text NOT NULL,
        model text NOT NULL,
        served_model text,
        deployment text,
        provider text,
        attempts integer NOT NULL,
        fallbacks integer NOT NULL,
        stream boolean NOT NULL,
        status integer NOT NULL,
        error_code text,
        prompt_tokens integer,
        completion_tokens integer,
        cached_tokens integer,
        cache_write_tokens integer,
        reasoning_tokens integer,
        tokens_estimated boolean NOT NULL,
        cost_usd numeric(20, 9),
        latency_ms real NOT NULL,
        overhead_ms real,
        ttft_ms real,
        upstream_ms real NOT NULL,
        cache text
      );
      CREATE INDEX request_log_at ON request_log (at, id);
      CREATE INDEX request_log_key_at ON request_log (key_id, at, id);
      CREATE INDEX request_log_team_at ON request_log (team_id, at, id);
      CREATE TABLE usage_daily (
        day date NOT NULL,
        key_id text NOT NULL,
        team_id text NOT NULL,
        model text NOT NULL,
        requests bigint NOT NULL,
        errors bigint NOT NULL,
        prompt_tokens bigint NOT NULL,
        completion_tokens bigint NOT NULL,
        cached_tokens bigint NOT NULL,
        cache_write_tokens bigint NOT NULL,
        reasoning_tokens bigint NOT NULL,
        cost_usd numeric(20, 9) NOT NULL,
        PRIMARY KEY (day, key_id, team_id, model)
      );
      CREATE INDEX usage_daily_team ON usage_daily (team_id, day);
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        target_type text NOT NULL,
        target_id text NOT NULL,
        before jsonb,
        after jsonb,
        request_id text
      );
      CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id);
    `,
  },
  {
    version: 2,
    name: 'request and response bodies in the request log, opt-in per key',
    sql: `
      ALTER TABLE keys ADD COLUMN log_bodies boolean NOT NULL DEFAULT false;
      ALTER TABLE request_log ADD COLUMN request_body text, ADD COLUMN response_body text;
    `,
  },
];

export interface MigrationResult {
  /** Versions this call applied (empty when another replica had already done it). */
  applied: number[];
  version: number;
}

/** The advisory lock's key: one per schema, so gateways sharing a database on different schemas do not wait. */
function migrationLockKey(schema: string): string {
  return `llmgw:migrate:${schema}`;
}

/**
 * Creates the schema if missing and applies the pending migrations under a session advisory lock held on `client`.
 * A database at a version this gateway does not know (a newer gateway migrated it) stops start-up rather than run
 * against columns it cannot see.
 */
export async function migrate(
  client: PoolClient,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  const lockKey = migrationLockKey(schema);
  await client.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
  try {
    const quoted = `"${schema}"`;
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = await client.query<{ version: number }>(`SELECT version FROM ${quoted}.schema_migrations`);
    const known = new Set(done.rows.map((row) => row.version));
    const latest = migrations.at(-1)?.version ?? 0;
    const ahead = [...known].filter((version) => version > latest);
    if (ahead.length > 0) {
      throw new Error(
        `database schema '${schema}' is at version ${Math.max(...ahead)}, newer than this gateway knows (${latest})`,
      );
    }
    const applied: number[] = [];
    for (const migration of migrations) {
      if (known.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${quoted}`);
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${quoted}.schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      applied.push(migration.version);
    }
    return { applied, version: latest };
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
  }
}
