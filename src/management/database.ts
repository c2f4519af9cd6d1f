/**
 * The management plane's connection to PostgreSQL: one `pg` pool per replica with a Kysely query builder over it,
 * every connection set to the configured schema and statement timeout. Start-up connects and runs the migrations
 * (see migrations.ts) and fails when the database cannot be reached: a replica that cannot load the keys would not
 * know which ones are revoked. Later outages only degrade it (see key-cache.ts and request-log.writer.ts).
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { CommandHealth } from '../common/command-health.js';
import { secretRedactor } from '../common/redaction.js';
import { GatewayError, ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { type DependencyState, GatewayMetrics } from '../metrics/gateway-metrics.js';
import { ConflictError } from './admin/admin-input.js';
import type { DatabaseConfig } from './database.config.js';
import type { ManagementDatabase } from './database.types.js';
import { migrate } from './migrations.js';

const INT8_OID = 20;
const NUMERIC_OID = 1700;
const DATE_OID = 1082;
const UNIQUE_VIOLATION = '23505';

/**
 * bigint and numeric columns as JS numbers (token counts stay far below 2^53, and USD amounts carry 9 decimals, which
 * a double holds well enough for sums and comparisons), dates as `YYYY-MM-DD` (pg's default turns a day into a Date
 * at local midnight). Per pool, so other users of `pg` in the process keep the default parsing.
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: (oid: number, format?: 'text' | 'binary'): ((value: string) => unknown) => {
    if (oid === INT8_OID || oid === NUMERIC_OID) return Number;
    if (oid === DATE_OID) return (value) => value;
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

/** The pool options of `config`; LISTEN connections (key-cache.ts) are made from the same settings. */
export function connectionOptions(config: DatabaseConfig): pg.ClientConfig {
  return {
    connectionString: config.url,
    options: `-c search_path="${config.schema}"`,
    statement_timeout: config.statementTimeoutMs,
    // A frozen server never answers, so statement_timeout alone would never fire: the client gives up too.
    query_timeout: config.statementTimeoutMs + 1_000,
    connectionTimeoutMillis: config.connectTimeoutMs,
    keepAlive: true,
    application_name: 'llm-gateway',
    types: TYPES,
  };
}

/** The pg error without anything that could carry the URL (pg never puts the password in a message). */
export function describeDatabaseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' && !message.includes(code) ? `${message} (${code})` : message;
}

@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseService.name);
  readonly config: DatabaseConfig;
  readonly pool: pg.Pool;
  readonly db: Kysely<ManagementDatabase>;
  /** Query outcomes of every user of the pool; with the notification listener's connection they make readiness. */
  readonly outcomes = new CommandHealth();
  /** Whether the database is reachable: true once migrated, then kept by the key cache's LISTEN connection. */
  connected = false;

  constructor(@Inject(GATEWAY_CONFIG) gateway: GatewayConfig, metrics: GatewayMetrics) {
    if (!gateway.database) throw new Error('DatabaseService needs the database section of the config');
    this.config = gateway.database;
    // The URL's password, if it has one, never reaches a log line or an error answer.
    secretRedactor.add(decodeURIComponent(new URL(this.config.url).password));
    this.pool = new pg.Pool({ ...connectionOptions(this.config), max: this.config.poolSize });
    // An idle connection that breaks emits here; without a listener the process would crash.
    this.pool.on('error', (error) =>
      this.logger.warn(`idle database connection failed: ${describeDatabaseError(error)}`),
    );
    this.db = new Kysely<ManagementDatabase>({ dialect: new PostgresDialect({ pool: this.pool }) });
    metrics.watchDependency('database', () => this.health());
  }

  private migration: Promise<void> | undefined;

  onModuleInit(): Promise<void> {
    return this.migrated();
  }

  /** Connects and migrates, once: whoever needs the tables first (this, or the key cache) starts it. */
  migrated(): Promise<void> {
    this.migration ??= this.migrate();
    return this.migration;
  }

  private async migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw new Error(`cannot connect to the database (database.url): ${describeDatabaseError(error)}`, {
        cause: error,
      });
    }
    try {
      const { applied, version } = await migrate(client, this.config.schema);
      if (applied.length > 0) this.logger.log(`database schema '${this.config.schema}' migrated to version ${version}`);
      this.outcomes.succeeded();
      this.connected = true;
    } finally {
      client.release();
    }
  }

  health(): DependencyState {
    return this.outcomes.state(this.connected);
  }

  /** Runs a query and records its outcome for readiness. */
  async run<T>(query: () => Promise<T>): Promise<T> {
    try {
      const result = await query();
      this.outcomes.succeeded();
      return result;
    } catch (error) {
      // A refusal the operation decided (404, 409) is no sign of an unhealthy database.
      if (!(error instanceof GatewayError)) this.outcomes.failed();
      throw error;
    }
  }

  /**
   * An admin API operation: its GatewayErrors pass as they are; a database failure is a 503 (the message of a pg
   * error can quote values, so it is logged here and not sent).
   */
  async admin<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await this.run(operation);
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      const code = (error as { code?: unknown }).code;
      if (code === UNIQUE_VIOLATION) throw new ConflictError('That id is already taken.', 'already_exists', 'id');
      this.logger.warn(`admin operation failed: ${describeDatabaseError(error)}`);
      throw new ServiceUnavailableError('The management database is unavailable.', 1_000, 'database_unavailable');
    }
  }

  private readonly closers: Array<() => Promise<void>> = [];

  /** Runs before the pool closes at shutdown (the request log's last writes need it). */
  beforeClose(closer: () => Promise<void>): void {
    this.closers.push(closer);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.closers.map((close) => close()));
    await this.db.destroy();
  }
}
