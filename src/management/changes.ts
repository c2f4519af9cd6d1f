/**
 * Change notifications between replicas: every admin write to keys or teams sends `pg_notify` in its own transaction
 * (delivered on commit, so a listener never sees a change that was rolled back), and every replica's key cache
 * LISTENs on the schema's channel (see key-cache.ts).
 */
import { type Kysely, sql } from 'kysely';
import type { ManagementDatabase } from './database.types.js';

export interface ChangeNotice {
  kind: 'key' | 'team';
  id: string;
  /** A revocation: applied from the notice alone, so it holds even if the database is gone before the row is read. */
  revoked?: true;
}

/** One channel per schema: gateways sharing a database on different schemas do not reload each other's keys. */
export function changeChannel(schema: string): string {
  return `llmgw_changes_${schema}`;
}

export async function notifyChange(
  db: Kysely<ManagementDatabase>,
  schema: string,
  notice: ChangeNotice,
): Promise<void> {
  await sql`SELECT pg_notify(${changeChannel(schema)}, ${JSON.stringify(notice)})`.execute(db);
}

export function parseChangeNotice(payload: string | undefined): ChangeNotice | undefined {
  try {
    const notice = JSON.parse(payload ?? '') as Partial<ChangeNotice>;
    if ((notice.kind === 'key' || notice.kind === 'team') && typeof notice.id === 'string') {
      return notice.revoked === true
        ? { kind: notice.kind, id: notice.id, revoked: true }
        : { kind: notice.kind, id: notice.id };
    }
  } catch {
    // A payload from something else on the channel: ignored (the periodic resync covers any gap).
  }
  return undefined;
}
