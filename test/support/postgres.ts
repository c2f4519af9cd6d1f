/**
 * PostgreSQL for tests. `sharedDatabase()` is the shared server at 127.0.0.1:5432 (trust auth, database `test`):
 * each caller gets a schema of its own, dropped by `drop()`, so concurrent runs never see each other's rows.
 * Fails (never skips) when the server is missing.
 */
import pg from 'pg';

export const SHARED_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  url: string;
  schema: string;
  /** A `database` config section on this schema (`overrides` on top). */
  section(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** A plain client on the schema, for assertions. */
  query<Row extends pg.QueryResultRow = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<Row[]>;
  drop(): Promise<void>;
}

let counter = 0;

export async function testSchema(label: string, url = SHARED_POSTGRES_URL): Promise<TestSchema> {
  const schema = `t_${label}_${process.pid}_${Date.now().toString(36)}_${counter++}`.toLowerCase().slice(0, 63);
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`these tests need PostgreSQL at ${url} (see .ci/run): ${(error as Error).message}`, {
      cause: error,
    });
  }
  client.on('error', () => undefined); // a server a fault test kills; the query that needed it reports it
  return {
    url,
    schema,
    section: (overrides = {}) => ({ url, schema, ...overrides }),
    query: async <Row extends pg.QueryResultRow>(sql: string, values?: unknown[]) =>
      (await client.query<Row>(sql, values)).rows,
    drop: async () => {
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
