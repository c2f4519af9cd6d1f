/**
 * The database's keys in memory, so a request never waits on PostgreSQL: loaded whole at start-up, then kept current
 * by LISTEN/NOTIFY on a connection of its own (every admin write notifies in its transaction, see changes.ts), which
 * makes a change visible on every replica within milliseconds of its commit.
 *
 * When the database goes away the cache keeps what it has: keys keep working, and a key revoked before the outage
 * stays revoked (the cache only ever changes from the database). The connection is retried with backoff; once back,
 * the cache is reloaded whole, since notifications sent while it was away are lost. A heartbeat query on the same
 * connection notices a server that hangs without closing it (readiness then says `database: degraded`).
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import pg from 'pg';
import { ApiKeyService } from '../auth/api-key.service.js';
import type { GatewayKey, KeySource, SpendLimit } from '../auth/gateway-key.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { changeChannel, type ChangeNotice, parseChangeNotice } from './changes.js';
import { connectionOptions, DatabaseService, describeDatabaseError } from './database.js';
import type { KeyRow, TeamRow } from './database.types.js';

const HEARTBEAT_MS = 2_000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

/** The GatewayKey of a row (and its team): the team's model list narrows the key's. */
export function toGatewayKey(row: KeyRow, team: TeamRow | undefined, expiresAtMs: number | undefined): GatewayKey {
  let models: Set<string> | undefined;
  if (row.models && team?.models) models = new Set(row.models.filter((model) => team.models!.includes(model)));
  else if (row.models ?? team?.models) models = new Set(row.models ?? team?.models ?? []);
  const limits =
    row.requests_per_minute === null && row.tokens_per_minute === null
      ? undefined
      : {
          requestsPerMinute: row.requests_per_minute ?? undefined,
          burst: row.burst ?? undefined,
          tokensPerMinute: row.tokens_per_minute ?? undefined,
        };
  const budget =
    row.tokens_per_day === null && row.tokens_per_month === null
      ? undefined
      : { tokensPerDay: row.tokens_per_day ?? undefined, tokensPerMonth: row.tokens_per_month ?? undefined };
  return {
    id: row.id,
    models,
    limits,
    budget,
    admin: false,
    teamId: row.team_id ?? undefined,
    expiresAtMs,
    spend: spendLimits(row, team),
    logBodies: row.log_bodies || undefined,
  };
}

/** The key's USD budgets and its team's USD and token budgets (the key's own token budget is `budget`). */
function spendLimits(row: KeyRow, team: TeamRow | undefined): SpendLimit[] | undefined {
  const tag = team ? `team:${team.id}` : `key:${row.id}`;
  const limits: SpendLimit[] = [];
  const add = (owner: string, unit: SpendLimit['unit'], period: SpendLimit['period'], limit: number | null) => {
    if (limit !== null) limits.push({ owner, tag, unit, period, limit });
  };
  add(`key:${row.id}`, 'usd', 'day', row.usd_per_day);
  add(`key:${row.id}`, 'usd', 'month', row.usd_per_month);
  if (team) {
    add(`team:${team.id}`, 'usd', 'day', team.usd_per_day);
    add(`team:${team.id}`, 'usd', 'month', team.usd_per_month);
    add(`team:${team.id}`, 'tokens', 'day', team.tokens_per_day);
    add(`team:${team.id}`, 'tokens', 'month', team.tokens_per_month);
  }
  return limits.length > 0 ? limits : undefined;
}

@Injectable()
export class KeyCache implements KeySource, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(KeyCache.name);
  /** Secret hash → key, the current secret and a rotated one in its grace period alike. */
  private hashes = new Map<string, GatewayKey>();
  private rows = new Map<string, KeyRow>();
  private teams = new Map<string, TeamRow>();
  private readonly yamlKeyIds: Set<string>;
  private readonly channel: string;
  private listener: pg.Client | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private stopped = false;
  /** Notices are applied one at a time, in order, after any reload in progress. */
  private applying: Promise<void> = Promise.resolve();
  /** Full reloads done (start-up included): tests wait on it after an outage. */
  reloads = 0;

  constructor(
    private readonly database: DatabaseService,
    keys: ApiKeyService,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.yamlKeyIds = new Set(config.auth.keys.map((key) => key.id));
    this.channel = changeChannel(database.config.schema);
    keys.useSource(this);
  }

  byHash(hash: string): GatewayKey | undefined {
    return this.hashes.get(hash);
  }

  /** Start-up fails when the keys cannot be loaded (see database.ts). */
  async onModuleInit(): Promise<void> {
    await this.database.migrated();
    await this.listen();
    await this.reload();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(connectionOptions(this.database.config));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection closed')));
    client.on('notification', (message) => {
      if (message.channel !== this.channel) return;
      const notice = parseChangeNotice(message.payload);
      if (notice) void this.enqueue(() => this.apply(notice));
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
    this.database.connected = true;
    this.retryMs = RETRY_MIN_MS;
    this.heartbeat = setInterval(() => {
      client.query('SELECT 1').then(
        () => this.database.outcomes.succeeded(),
        (error: unknown) => this.lost(client, error),
      );
    }, HEARTBEAT_MS).unref();
  }

  /** The listener is gone (or hangs): drop it and reconnect; the cache keeps serving what it has. */
  private lost(client: pg.Client, error: unknown): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    clearInterval(this.heartbeat);
    this.database.connected = false;
    this.database.outcomes.failed();
    // end() waits for a hung server's answer no more than the socket does: destroy the socket so it cannot linger.
    void client.end().catch(() => undefined);
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    if (this.stopped) return;
    this.logger.warn(
      `database connection for key changes lost (${describeDatabaseError(error)}): serving cached keys, reconnecting`,
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.retryTimer !== undefined || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.listen().then(
        async () => {
          if (await this.enqueue(() => this.reload())) this.logger.log('database back: keys reloaded');
        },
        () => {
          this.database.outcomes.failed();
          this.scheduleReconnect();
        },
      );
    }, this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** Runs `task` after the ones before it; resolves whether it succeeded (it never rejects). */
  private enqueue(task: () => Promise<void>): Promise<boolean> {
    const done = this.applying.then(task).then(
      () => true,
      (error: unknown) => {
        // The next reconnect reloads everything, so a change that could not be read is not lost.
        this.logger.warn(`could not apply a key change: ${describeDatabaseError(error)}`);
        if (this.listener) this.lost(this.listener, error);
        return false;
      },
    );
    this.applying = done.then(() => undefined);
    return done;
  }

  /** Every key and team, swapped in at once. */
  private async reload(): Promise<void> {
    const db = this.database.db;
    const [teams, keys] = await this.database.run(() =>
      Promise.all([
        db.selectFrom('teams').selectAll().execute(),
        db.selectFrom('keys').selectAll().where('revoked_at', 'is', null).execute(),
      ]),
    );
    this.teams = new Map(teams.map((team) => [team.id, team]));
    this.rows = new Map();
    for (const row of keys) this.admit(row);
    this.rebuild();
    this.reloads++;
  }

  private async apply(notice: ChangeNotice): Promise<void> {
    const db = this.database.db;
    if (notice.kind === 'team') {
      const team = await this.database.run(() =>
        db.selectFrom('teams').selectAll().where('id', '=', notice.id).executeTakeFirst(),
      );
      if (team) this.teams.set(team.id, team);
      else this.teams.delete(notice.id);
    } else if (notice.revoked) {
      this.rows.delete(notice.id);
    } else {
      const row = await this.database.run(() =>
        db.selectFrom('keys').selectAll().where('id', '=', notice.id).executeTakeFirst(),
      );
      this.rows.delete(notice.id);
      if (row && row.revoked_at === null) this.admit(row);
    }
    this.rebuild();
  }

  private admit(row: KeyRow): void {
    // Config keys win (README, Management plane): the admin API refuses their ids; a row inserted by hand is ignored.
    if (this.yamlKeyIds.has(row.id)) {
      this.logger.warn(`database key '${row.id}' has the id of a config key and is ignored`);
      return;
    }
    this.rows.set(row.id, row);
  }

  /** The hash map from the rows: cheap next to an admin change, and it keeps every entry consistent with its team. */
  private rebuild(): void {
    const hashes = new Map<string, GatewayKey>();
    for (const row of this.rows.values()) {
      const team = row.team_id === null ? undefined : this.teams.get(row.team_id);
      const expires = row.expires_at?.getTime();
      hashes.set(row.key_hash, toGatewayKey(row, team, expires));
      if (row.previous_key_hash !== null && row.previous_expires_at !== null) {
        const graceEnds = row.previous_expires_at.getTime();
        hashes.set(row.previous_key_hash, toGatewayKey(row, team, Math.min(graceEnds, expires ?? Infinity)));
      }
    }
    this.hashes = hashes;
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}
