/** The audit log: one row per admin change, written in the change's own transaction (a change is never unaudited). */
import type { Kysely } from 'kysely';
import type { ManagementDatabase } from '../database.types.js';

/** Who is making a change: the admin key's id and the request, for the audit log. */
export interface AdminActor {
  actor: string;
  requestId: string;
}

export interface AuditEntry {
  action: string;
  targetType: 'key' | 'team';
  targetId: string;
  before: object | null;
  after: object | null;
}

export async function writeAudit(db: Kysely<ManagementDatabase>, who: AdminActor, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: who.actor,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      before: entry.before === null ? null : JSON.stringify(entry.before),
      after: entry.after === null ? null : JSON.stringify(entry.after),
      request_id: who.requestId,
    })
    .execute();
}
