/** Migrations against the real PostgreSQL at 127.0.0.1:5432, each test on a schema of its own. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { SHARED_POSTGRES_URL, testSchema, type TestSchema } from '../../test/support/postgres.js';
import { MIGRATIONS, migrate } from './migrations.js';

describe('migrations', () => {
  const schemas: TestSchema[] = [];
  const pools: pg.Pool[] = [];
  after(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await Promise.all(schemas.map((schema) => schema.drop()));
  });

  async function migrator(schema: string, migrations = MIGRATIONS) {
    const pool = new pg.Pool({ connectionString: SHARED_POSTGRES_URL, max: 1 });
    pools.push(pool);
    const client = await pool.connect();
    try {
      return await migrate(client, schema, migrations);
    } finally {
      client.release();
    }
  }

  it('two replicas migrating at once: one applies every version, the other waits and finds nothing to do', async () => {
    const target = await testSchema('migrate');
    schemas.push(target);
    const results = await Promise.all([migrator(target.schema), migrator(target.schema)]);
    const all = MIGRATIONS.map((migration) => migration.version);
    assert.deepEqual(
      results.map((result) => result.applied).sort((a, b) => b.length - a.length),
      [all, []],
    );
    const versions = await target.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY 1');
    assert.deepEqual(
      versions.map((row) => row.version),
      all,
    );
    const tables = await target.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
      [target.schema],
    );
    assert.deepEqual(
      tables.map((row) => row.table_name),
      ['audit_log', 'keys', 'request_log', 'schema_migrations', 'teams', 'usage_daily'],
    );
    assert.deepEqual((await migrator(target.schema)).applied, [], 'a restart applies nothing');
  });

  it('refuses a schema migrated by a newer gateway, and rolls back a failing migration whole', async () => {
    const target = await testSchema('migrate_newer');
    schemas.push(target);
    await migrator(target.schema);
    const newer = [...MIGRATIONS, { version: 999, name: 'future', sql: 'CREATE TABLE future (id int)' }];
    await migrator(target.schema, newer);
    await assert.rejects(migrator(target.schema), /at version 999, newer than this gateway knows/);

    const broken = await testSchema('migrate_broken');
    schemas.push(broken);
    const failing = [{ version: 1, name: 'half', sql: 'CREATE TABLE half (id int); SELECT no_such_function()' }];
    await assert.rejects(migrator(broken.schema, failing), /migration 1 \(half\) failed/);
    const left = await broken.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [
      broken.schema,
    ]);
    assert.deepEqual(
      left.map((row) => row.table_name),
      ['schema_migrations'],
    );
  });
});
