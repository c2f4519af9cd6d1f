/**
 * The management plane's PostgreSQL (`database` in the config file). Absent: keys, limits and budgets come from the
 * YAML file only, as before, and there is no admin API for them nor a request log table.
 */
import { IsBoolean, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { Nested } from '../config/config-schema.js';

/** The batched writer of the `request_log` table (see request-log.writer.ts). */
export class RequestLogConfig {
  /** One row per API request; off leaves the table empty (daily usage aggregates are written from the same rows). */
  @IsBoolean() enabled: boolean = true;
  /** A batch is written when this many rows wait… (at most 2000: an INSERT carries 30
   * parameters a row, and PostgreSQL takes 65535 a statement) */
  @IsInt() @Min(1) @Max(2_000) batchRows: number = 500;
  /** …or this long after the first of them arrived. */
  @IsInt() @Min(10) flushIntervalMs: number = 1_000;
  /**
   * Keys created with `logBodies: true` have their request and response bodies kept, redacted of credentials and cut
   * to this many characters each. Other keys' bodies are never kept.
   */
  @IsInt() @Min(0) maxBodyChars: number = 16_384;
  /** Rows kept while the database cannot take them; past this the oldest are dropped and counted. */
  @IsInt() @Min(1) maxQueueRows: number = 50_000;
}

export class DatabaseConfig {
  /**
   * `postgres://user:password@host:5432/db`. It usually carries a password: take it from the environment
   * (`${DATABASE_URL}`); it is never logged.
   */
  @IsString()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'url must be a postgres:// or postgresql:// URL' })
  url!: string;
  /** The schema the gateway's tables live in (created if missing): several gateways may share one database. */
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'schema must be a lowercase SQL identifier (a-z, 0-9, _)' })
  schema: string = 'public';
  /** Connections per replica; the admin API and the request log writer share them. */
  @IsInt() @Min(1) @Max(100) poolSize: number = 10;
  /** Server-side statement_timeout, and the client-side wait for any query (a hung server must not hang us). */
  @IsInt() @Min(100) statementTimeoutMs: number = 5_000;
  @IsInt() @Min(100) connectTimeoutMs: number = 2_000;
  /** How long a rotated key's old secret keeps working (seconds); the rotate call may ask for another value. */
  @IsInt() @Min(0) rotationGraceSeconds: number = 3_600;
  @Nested(() => RequestLogConfig) requestLog: RequestLogConfig = new RequestLogConfig();
}
