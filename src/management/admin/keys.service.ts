/**
 * Virtual keys in the database: create (the secret is returned once and only its SHA-256 is stored), list, update,
 * rotate (the old secret keeps working for a grace period), revoke. Every write is audited and notified to every
 * replica in its own transaction (see changes.ts); replicas serve keys from memory (key-cache.ts).
 */
import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { hashApiKey } from '../../auth/api-key.service.js';
import { echo, NotFoundError } from '../../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { notifyChange } from '../changes.js';
import { DatabaseService } from '../database.js';
import type { KeyRow, KeyUpdate, ManagementDatabase, TeamRow } from '../database.types.js';
import { ConflictError, invalidField } from './admin-input.js';
import type { CreateKeyDto, ListKeysQuery, RotateKeyDto, UpdateKeyDto } from './admin.dto.js';
import { type AdminActor, writeAudit } from './audit.js';
import { decodeCursor, keyView, type KeyView, type ListPage, page } from './views.js';

/** Secrets look like OpenAI's (`sk-…`) so tools that check the shape accept them; 192 random bits. */
const SECRET_PREFIX = 'sk-gw-';
const DISPLAY_PREFIX_CHARS = 12;

export interface IssuedKey {
  key: KeyView;
  /** Shown once, in the answer to create or rotate; never stored, logged or shown again. */
  secret: string;
}

function newSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64url');
}

@Injectable()
export class KeysService {
  private readonly models: Set<string>;
  private readonly yamlKeyIds: Set<string>;
  private readonly schema: string;
  private readonly graceSeconds: number;

  constructor(
    private readonly database: DatabaseService,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.models = new Set(config.models.map((model) => model.name));
    this.yamlKeyIds = new Set(config.auth.keys.map((key) => key.id));
    this.schema = database.config.schema;
    this.graceSeconds = database.config.rotationGraceSeconds;
  }

  create(who: AdminActor, input: CreateKeyDto): Promise<IssuedKey> {
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const id = input.id ?? `key_${randomBytes(8).toString('hex')}`;
        // YAML keys win on their ids (see README): a database key may not take one.
        if (this.yamlKeyIds.has(id))
          throw new ConflictError(`Key '${id}' is defined in the config file.`, 'already_exists', 'id');
        const team = await this.teamOf(trx, input.teamId ?? null);
        this.checkModels(input.models ?? null, team);
        const secret = newSecret();
        const row = await trx
          .insertInto('keys')
          .values({
            id,
            key_hash: hashApiKey(secret),
            prefix: secret.slice(0, DISPLAY_PREFIX_CHARS),
            team_id: team?.id ?? null,
            models: input.models ?? null,
            requests_per_minute: input.limits?.requestsPerMinute ?? null,
            burst: input.limits?.burst ?? null,
            tokens_per_minute: input.limits?.tokensPerMinute ?? null,
            tokens_per_day: input.budget?.tokensPerDay ?? null,
            tokens_per_month: input.budget?.tokensPerMonth ?? null,
            usd_per_day: input.budget?.usdPerDay ?? null,
            usd_per_month: input.budget?.usdPerMonth ?? null,
            expires_at: input.expiresAt ? new Date(input.expiresAt) : null,
            revoked_at: null,
            previous_key_hash: null,
            previous_expires_at: null,
            log_bodies: input.logBodies ?? false,
            metadata: JSON.stringify(input.metadata ?? {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const view = keyView(row);
        await writeAudit(trx, who, {
          action: 'key.create',
          targetType: 'key',
          targetId: id,
          before: null,
          after: view,
        });
        await notifyChange(trx, this.schema, { kind: 'key', id });
        return { key: view, secret };
      }),
    );
  }

  list(query: ListKeysQuery): Promise<ListPage<KeyView>> {
    return this.database.admin(async () => {
      let select = this.database.db
        .selectFrom('keys')
        .selectAll()
        .orderBy('id')
        .limit(query.limit + 1);
      const after = decodeCursor(query.cursor);
      if (after !== undefined) select = select.where('id', '>', after);
      if (query.team !== undefined) select = select.where('team_id', '=', query.team);
      if (query.revoked !== 'true') select = select.where('revoked_at', 'is', null);
      return page(await select.execute(), query.limit, keyView, (row) => row.id);
    });
  }

  get(id: string): Promise<KeyView> {
    return this.database.admin(async () => keyView(await this.find(this.database.db, id)));
  }

  update(who: AdminActor, id: string, input: UpdateKeyDto): Promise<KeyView> {
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const before = await this.find(trx, id, true);
        const changes: KeyUpdate = { updated_at: new Date() };
        if (input.teamId !== undefined) changes.team_id = input.teamId;
        if (input.models !== undefined) changes.models = input.models;
        if (input.limits !== undefined) {
          changes.requests_per_minute = input.limits?.requestsPerMinute ?? null;
          changes.burst = input.limits?.burst ?? null;
          changes.tokens_per_minute = input.limits?.tokensPerMinute ?? null;
        }
        if (input.budget !== undefined) {
          changes.tokens_per_day = input.budget?.tokensPerDay ?? null;
          changes.tokens_per_month = input.budget?.tokensPerMonth ?? null;
          changes.usd_per_day = input.budget?.usdPerDay ?? null;
          changes.usd_per_month = input.budget?.usdPerMonth ?? null;
        }
        if (input.expiresAt !== undefined)
          changes.expires_at = input.expiresAt === null ? null : new Date(input.expiresAt);
        if (input.metadata !== undefined) changes.metadata = JSON.stringify(input.metadata ?? {});
        if (input.logBodies !== undefined) changes.log_bodies = input.logBodies ?? false;
        const team = await this.teamOf(trx, changes.team_id !== undefined ? changes.team_id : before.team_id);
        this.checkModels(changes.models !== undefined ? changes.models : before.models, team);
        return this.write(trx, who, 'key.update', before, changes);
      }),
    );
  }

  rotate(who: AdminActor, id: string, input: RotateKeyDto): Promise<IssuedKey> {
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const before = await this.find(trx, id, true);
        if (before.revoked_at !== null) throw new ConflictError(`Key '${echo(id)}' is revoked.`, 'key_revoked', 'id');
        const grace = input.graceSeconds ?? this.graceSeconds;
        const secret = newSecret();
        const now = new Date();
        const view = await this.write(trx, who, 'key.rotate', before, {
          key_hash: hashApiKey(secret),
          prefix: secret.slice(0, DISPLAY_PREFIX_CHARS),
          // A grace of 0 ends the old secret now; a rotation during a grace period ends the older one at once.
          previous_key_hash: grace > 0 ? before.key_hash : null,
          previous_expires_at: grace > 0 ? new Date(now.getTime() + grace * 1_000) : null,
          updated_at: now,
        });
        return { key: view, secret };
      }),
    );
  }

  revoke(who: AdminActor, id: string): Promise<KeyView> {
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const before = await this.find(trx, id, true);
        if (before.revoked_at !== null) return keyView(before);
        const now = new Date();
        return this.write(trx, who, 'key.revoke', before, {
          revoked_at: now,
          previous_key_hash: null,
          previous_expires_at: null,
          updated_at: now,
        });
      }),
    );
  }

  private async write(
    trx: Kysely<ManagementDatabase>,
    who: AdminActor,
    action: string,
    before: KeyRow,
    changes: KeyUpdate,
  ): Promise<KeyView> {
    const row = await trx
      .updateTable('keys')
      .set(changes)
      .where('id', '=', before.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const view = keyView(row);
    await writeAudit(trx, who, { action, targetType: 'key', targetId: row.id, before: keyView(before), after: view });
    await notifyChange(trx, this.schema, {
      kind: 'key',
      id: row.id,
      ...(row.revoked_at !== null && { revoked: true }),
    });
    return view;
  }

  /** The key, or 404. `lock`: for update (concurrent admin writes to one key are applied one after the other). */
  private async find(db: Kysely<ManagementDatabase>, id: string, lock = false): Promise<KeyRow> {
    let select = db.selectFrom('keys').selectAll().where('id', '=', id);
    if (lock) select = select.forUpdate();
    const row = await select.executeTakeFirst();
    if (!row) throw new NotFoundError(`No key '${echo(id)}'.`, 'key_not_found', 'id');
    return row;
  }

  private async teamOf(db: Kysely<ManagementDatabase>, teamId: string | null): Promise<TeamRow | undefined> {
    if (teamId === null) return undefined;
    const team = await db.selectFrom('teams').selectAll().where('id', '=', teamId).forShare().executeTakeFirst();
    if (!team) throw new NotFoundError(`No team '${echo(teamId)}'.`, 'team_not_found', 'teamId');
    return team;
  }

  /** Known public models, and within the team's list: a key cannot widen what its team may use. */
  private checkModels(models: string[] | null, team: TeamRow | undefined): void {
    models?.forEach((model, i) => {
      if (!this.models.has(model)) throw invalidField(`models[${i}]: unknown model '${echo(model)}'`);
      if (team?.models && !team.models.includes(model)) {
        throw invalidField(`models[${i}]: model '${echo(model)}' is not in the models of team '${team.id}'`);
      }
    });
  }
}
