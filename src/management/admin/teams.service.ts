/**
 * Teams: a model list and budgets that cap every key of the team (a key's own list must fit in the team's; the
 * team's budget is spent by all its keys together, see usd-budget.service.ts). Audited and notified like keys.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { echo, NotFoundError } from '../../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { notifyChange } from '../changes.js';
import { DatabaseService } from '../database.js';
import type { ManagementDatabase, TeamRow } from '../database.types.js';
import { ConflictError, invalidField } from './admin-input.js';
import type { BudgetDto, CreateTeamDto, ListTeamsQuery, UpdateTeamDto } from './admin.dto.js';
import { type AdminActor, writeAudit } from './audit.js';
import { decodeCursor, type ListPage, page, teamView, type TeamView } from './views.js';

function budgetColumns(budget: BudgetDto | null | undefined) {
  return {
    tokens_per_day: budget?.tokensPerDay ?? null,
    tokens_per_month: budget?.tokensPerMonth ?? null,
    usd_per_day: budget?.usdPerDay ?? null,
    usd_per_month: budget?.usdPerMonth ?? null,
  };
}

@Injectable()
export class TeamsService {
  private readonly models: Set<string>;
  private readonly schema: string;

  constructor(
    private readonly database: DatabaseService,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.models = new Set(config.models.map((model) => model.name));
    this.schema = database.config.schema;
  }

  create(who: AdminActor, input: CreateTeamDto): Promise<TeamView> {
    this.checkModels(input.models ?? null);
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('teams')
          .values({
            id: input.id,
            name: input.name,
            models: input.models ?? null,
            ...budgetColumns(input.budget),
            metadata: JSON.stringify(input.metadata ?? {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const view = teamView(row);
        await writeAudit(trx, who, {
          action: 'team.create',
          targetType: 'team',
          targetId: row.id,
          before: null,
          after: view,
        });
        await notifyChange(trx, this.schema, { kind: 'team', id: row.id });
        return view;
      }),
    );
  }

  list(query: ListTeamsQuery): Promise<ListPage<TeamView>> {
    return this.database.admin(async () => {
      let select = this.database.db
        .selectFrom('teams')
        .selectAll()
        .orderBy('id')
        .limit(query.limit + 1);
      const after = decodeCursor(query.cursor);
      if (after !== undefined) select = select.where('id', '>', after);
      return page(await select.execute(), query.limit, teamView, (row) => row.id);
    });
  }

  get(id: string): Promise<TeamView> {
    return this.database.admin(async () => teamView(await this.find(this.database.db, id)));
  }

  update(who: AdminActor, id: string, input: UpdateTeamDto): Promise<TeamView> {
    if (input.models !== undefined) this.checkModels(input.models);
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const before = await this.find(trx, id, true);
        const row = await trx
          .updateTable('teams')
          .set({
            ...(input.name !== undefined ? { name: input.name } : {}),
            ...(input.models !== undefined ? { models: input.models } : {}),
            ...(input.budget !== undefined ? budgetColumns(input.budget) : {}),
            ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata ?? {}) } : {}),
            updated_at: new Date(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        const view = teamView(row);
        await writeAudit(trx, who, {
          action: 'team.update',
          targetType: 'team',
          targetId: id,
          before: teamView(before),
          after: view,
        });
        await notifyChange(trx, this.schema, { kind: 'team', id });
        return view;
      }),
    );
  }

  /** Refused while keys belong to the team (revoked ones included: their usage history names it). */
  remove(who: AdminActor, id: string): Promise<{ object: 'team'; id: string; deleted: true }> {
    return this.database.admin(() =>
      this.database.db.transaction().execute(async (trx) => {
        const before = await this.find(trx, id, true);
        const keys = await trx
          .selectFrom('keys')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('team_id', '=', id)
          .executeTakeFirstOrThrow();
        if (Number(keys.count) > 0) {
          throw new ConflictError(`Team '${echo(id)}' still has ${keys.count} key(s).`, 'team_has_keys', 'id');
        }
        await trx.deleteFrom('teams').where('id', '=', id).execute();
        await writeAudit(trx, who, {
          action: 'team.delete',
          targetType: 'team',
          targetId: id,
          before: teamView(before),
          after: null,
        });
        await notifyChange(trx, this.schema, { kind: 'team', id });
        return { object: 'team' as const, id, deleted: true as const };
      }),
    );
  }

  private async find(db: Kysely<ManagementDatabase>, id: string, lock = false): Promise<TeamRow> {
    let select = db.selectFrom('teams').selectAll().where('id', '=', id);
    if (lock) select = select.forUpdate();
    const row = await select.executeTakeFirst();
    if (!row) throw new NotFoundError(`No team '${echo(id)}'.`, 'team_not_found', 'id');
    return row;
  }

  private checkModels(models: string[] | null): void {
    models?.forEach((model, i) => {
      if (!this.models.has(model)) throw invalidField(`models[${i}]: unknown model '${echo(model)}'`);
    });
  }
}
