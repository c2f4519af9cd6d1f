/**
 * The admin API of the management plane against the real PostgreSQL (a schema of this test's own): keys and teams,
 * validation errors that name the field, cursor pagination, the audit log, the logs' filters, and the OpenAPI
 * document covering every admin route the gateway serves.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RouteTable } from '../../src/http/request-gates.js';
import { openApiPath } from '../../src/admin-docs/admin-openapi.js';
import { testSchema, type TestSchema } from '../support/postgres.js';
import { type RunningGateway, startGateway } from './harness.js';

const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const USER_KEY = 'gk-user-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface KeyBody {
  id: string;
  prefix: string;
  teamId: string | null;
  models: string[] | null;
  limits: Record<string, number | null>;
  budget: Record<string, number | null>;
  revokedAt: string | null;
  previousSecretValidUntil: string | null;
}
interface Page<T> {
  data: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

describe('admin API (PostgreSQL)', () => {
  let schema: TestSchema;
  let gateway: RunningGateway;

  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers = admin,
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  before(async () => {
    schema = await testSchema('admin_api');
    gateway = await startGateway({
      auth: {
        enabled: true,
        keys: [
          { id: 'ops', key: ADMIN_KEY, admin: true },
          { id: 'yaml-user', key: USER_KEY },
        ],
      },
      providers: [{ name: 'sim', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'm' }] },
        { name: 'gpt-big', deployments: [{ provider: 'sim', model: 'm' }] },
      ],
      database: schema.section(),
    });
  });
  after(async () => {
    await gateway?.close();
    await schema.drop();
  });

  it('creates a team and a key in it; the secret is answered once and only its hash is stored', async () => {
    const team = await call<{ id: string }>('POST', '/admin/teams', {
      id: 'research',
      name: 'Research',
      models: ['gpt-test'],
      budget: { usdPerDay: 5 },
    });
    assert.equal(team.status, 201);
    const created = await call<{ key: KeyBody; secret: string }>('POST', '/admin/keys', {
      id: 'alice',
      teamId: 'research',
      models: ['gpt-test'],
      limits: { requestsPerMinute: 60 },
      budget: { usdPerDay: 1.5, tokensPerMonth: 1_000_000 },
      metadata: { owner: 'alice@example.com' },
    });
    assert.equal(created.status, 201);
    assert.match(created.body.secret, /^sk-gw-[A-Za-z0-9_-]{32}$/);
    assert.equal(created.body.key.prefix, created.body.secret.slice(0, 12));
    assert.equal(created.body.key.budget.usdPerDay, 1.5);
    const [row] = await schema.query<Record<string, unknown>>('SELECT * FROM keys WHERE id = $1', ['alice']);
    assert.equal(row.key_hash, createHash('sha256').update(created.body.secret).digest('hex'));
    assert.ok(!JSON.stringify(row).includes(created.body.secret), 'no column holds the secret');
    const read = await call<KeyBody & { secret?: string }>('GET', '/admin/keys/alice');
    assert.equal(read.status, 200);
    assert.equal(read.body.secret, undefined);
    assert.equal(read.body.teamId, 'research');
  });

  it('names the bad field of a body or query in an OpenAI error', async () => {
    const cases: Array<[unknown, string, number]> = [
      [{ budget: { usdPerDay: 'lots' } }, 'budget.usdPerDay', 400],
      [{ models: ['gpt-test', 'nope'] }, 'models[1]', 400],
      [{ modles: ['gpt-test'] }, 'modles', 400],
      [{ teamId: 'research', models: ['gpt-big'] }, 'models[0]', 400],
      [{ teamId: 'nobody' }, 'teamId', 404],
      [{ id: 'alice' }, 'id', 409],
      [{ id: 'yaml-user' }, 'id', 409],
      [{ expiresAt: 'tomorrow' }, 'expiresAt', 400],
    ];
    for (const [body, param, status] of cases) {
      const answer = await call<ErrorBody>('POST', '/admin/keys', body);
      assert.equal(answer.status, status, JSON.stringify(body));
      assert.equal(answer.body.error.param, param, JSON.stringify(answer.body));
      assert.equal(typeof answer.body.error.message, 'string');
    }
    const unknown = await call<ErrorBody>('POST', '/admin/keys', { modles: [] });
    assert.match(unknown.body.error.message, /did you mean models\?/);
    const query = await call<ErrorBody>('GET', '/admin/keys?limit=many');
    assert.deepEqual([query.status, query.body.error.param], [400, 'limit']);
    const notAdmin = await call<ErrorBody>('GET', '/admin/keys', undefined, { authorization: `Bearer ${USER_KEY}` });
    assert.deepEqual([notAdmin.status, notAdmin.body.error.code], [403, 'admin_required']);
  });

  it('lists keys by cursor, updates, rotates and revokes them, and audits every change', async () => {
    for (const id of ['bob', 'carol', 'dave']) assert.equal((await call('POST', '/admin/keys', { id })).status, 201);
    const first = await call<Page<KeyBody>>('GET', '/admin/keys?limit=2');
    assert.deepEqual(
      first.body.data.map((key) => key.id),
      ['alice', 'bob'],
    );
    assert.ok(first.body.hasMore);
    const second = await call<Page<KeyBody>>('GET', `/admin/keys?limit=2&cursor=${first.body.nextCursor}`);
    assert.deepEqual(
      second.body.data.map((key) => key.id),
      ['carol', 'dave'],
    );
    assert.equal(second.body.nextCursor, null);
    const inTeam = await call<Page<KeyBody>>('GET', '/admin/keys?team=research');
    assert.deepEqual(
      inTeam.body.data.map((key) => key.id),
      ['alice'],
    );

    const updated = await call<KeyBody>('PATCH', '/admin/keys/bob', {
      limits: { tokensPerMinute: 10_000 },
      models: ['gpt-big'],
    });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.limits.tokensPerMinute, 10_000);
    assert.deepEqual(updated.body.models, ['gpt-big']);
    const cleared = await call<KeyBody>('PATCH', '/admin/keys/bob', { models: null });
    assert.equal(cleared.body.models, null);

    const rotated = await call<{ key: KeyBody; secret: string }>('POST', '/admin/keys/carol/rotate', {
      graceSeconds: 60,
    });
    assert.equal(rotated.status, 200);
    assert.ok(rotated.body.key.previousSecretValidUntil !== null);
    const revoked = await call<KeyBody>('POST', '/admin/keys/dave/revoke');
    assert.ok(revoked.body.revokedAt !== null);
    const listed = await call<Page<KeyBody>>('GET', '/admin/keys');
    assert.ok(!listed.body.data.some((key) => key.id === 'dave'), 'revoked keys are left out unless asked');
    assert.equal((await call<ErrorBody>('POST', '/admin/keys/dave/rotate')).status, 409);
    assert.equal((await call<ErrorBody>('GET', '/admin/keys/nobody')).body.error.code, 'key_not_found');

    const audit = await call<Page<{ actor: string; action: string; before: KeyBody | null; after: KeyBody | null }>>(
      'GET',
      '/admin/audit-log?targetType=key&targetId=bob',
    );
    assert.deepEqual(
      audit.body.data.map((entry) => entry.action),
      ['key.update', 'key.update', 'key.create'],
    );
    assert.ok(audit.body.data.every((entry) => entry.actor === 'ops'));
    assert.equal(audit.body.data[1].before?.limits.tokensPerMinute, null);
    assert.equal(audit.body.data[1].after?.limits.tokensPerMinute, 10_000);
    const all = JSON.stringify((await call('GET', '/admin/audit-log?limit=500')).body);
    assert.ok(!all.includes(rotated.body.secret) && !all.includes('key_hash'), 'the audit log holds no secret or hash');
  });

  it('teams: update, and deletion refused while keys belong to them', async () => {
    const updated = await call<{ budget: { usdPerDay: number } }>('PATCH', '/admin/teams/research', {
      budget: { usdPerDay: 7 },
    });
    assert.equal(updated.body.budget.usdPerDay, 7);
    assert.equal((await call<ErrorBody>('DELETE', '/admin/teams/research')).body.error.code, 'team_has_keys');
    assert.equal((await call('POST', '/admin/teams', { id: 'empty', name: 'Empty' })).status, 201);
    assert.equal((await call('DELETE', '/admin/teams/empty')).status, 200);
    assert.equal((await call<ErrorBody>('GET', '/admin/teams/empty')).status, 404);
    const teams = await call<Page<{ id: string }>>('GET', '/admin/teams');
    assert.deepEqual(
      teams.body.data.map((team) => team.id),
      ['research'],
    );
  });

  it('reads the request log by filter and cursor, and daily usage by key, team and model', async () => {
    await schema.query(
      `INSERT INTO request_log (at, request_id, key_id, team_id, front, operation, model, attempts, fallbacks, stream,
         status, tokens_estimated, latency_ms, upstream_ms)
       SELECT now() - make_interval(secs => i), 'req-' || i, CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END,
         CASE WHEN i % 2 = 0 THEN 'research' END, 'chat', 'chat', 'gpt-test', 1, 0, false,
         CASE WHEN i % 3 = 0 THEN 429 ELSE 200 END, false, 12.5, 10
       FROM generate_series(1, 9) AS i`,
    );
    // Newest logged first (by id: the order the writer inserted them).
    const first = await call<Page<{ requestId: string; keyId: string }>>('GET', '/admin/request-log?key=alice&limit=3');
    assert.deepEqual(
      first.body.data.map((row) => row.requestId),
      ['req-8', 'req-6', 'req-4'],
    );
    const rest = await call<Page<{ requestId: string }>>(
      `GET`,
      `/admin/request-log?key=alice&limit=3&cursor=${first.body.nextCursor}`,
    );
    assert.deepEqual(
      rest.body.data.map((row) => row.requestId),
      ['req-2'],
    );
    const limited = await call<Page<{ requestId: string }>>('GET', '/admin/request-log?status=429&team=research');
    assert.deepEqual(
      limited.body.data.map((row) => row.requestId),
      ['req-6'],
    );
    const since = new Date(Date.now() - 60_000).toISOString();
    const recent = await call<Page<unknown>>('GET', `/admin/request-log?from=${encodeURIComponent(since)}&limit=500`);
    assert.equal(recent.body.data.length, 9);
    assert.equal((await call<ErrorBody>('GET', '/admin/request-log?cursor=bad')).body.error.param, 'cursor');

    await schema.query(
      `INSERT INTO usage_daily VALUES
         ('2026-03-01', 'alice', 'research', 'gpt-test', 2, 0, 100, 50, 0, 0, 0, 0.25),
         ('2026-03-01', 'bob', '', 'gpt-test', 1, 1, 10, 5, 0, 0, 0, 0.05),
         ('2026-03-02', 'alice', 'research', 'gpt-big', 1, 0, 10, 5, 2, 0, 1, 0.5)`,
    );
    const byTeam = await call<{ data: Array<Record<string, unknown>> }>(
      'GET',
      '/admin/daily-usage?from=2026-03-01&to=2026-03-02&groupBy=team',
    );
    assert.deepEqual(
      byTeam.body.data.map((row) => [row.day, row.team, row.requests, row.costUsd]),
      [
        ['2026-03-01', '', 1, 0.05],
        ['2026-03-01', 'research', 2, 0.25],
        ['2026-03-02', 'research', 1, 0.5],
      ],
    );
    const byModel = await call<{ data: Array<Record<string, unknown>> }>(
      'GET',
      '/admin/daily-usage?from=2026-03-01&to=2026-03-02&groupBy=model&key=alice',
    );
    assert.deepEqual(
      byModel.body.data.map((row) => [row.day, row.model, row.promptTokens]),
      [
        ['2026-03-01', 'gpt-test', 100],
        ['2026-03-02', 'gpt-big', 10],
      ],
    );
    assert.equal(
      (await call<ErrorBody>('GET', '/admin/daily-usage?from=2026-03-05&to=2026-03-01')).body.error.param,
      'from',
    );
    const notADay = await call<ErrorBody>('GET', '/admin/daily-usage?from=2026-02-30&to=2026-03-01');
    assert.deepEqual([notADay.status, notADay.body.error.param], [400, 'from']);
  });

  it('describes every admin route it serves in /admin/openapi.json', async () => {
    const document = await call<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      'GET',
      '/admin/openapi.json',
    );
    assert.equal(document.status, 200);
    assert.equal(document.body.openapi, '3.1.0');
    const routes = gateway.app
      .get(RouteTable)
      .routes.filter((route) => route.access === 'admin' && route.method !== 'HEAD');
    assert.ok(routes.length >= 15);
    const missing = routes.filter(
      (route) => !document.body.paths[openApiPath(route.url)]?.[route.method.toLowerCase()],
    );
    assert.deepEqual(missing, [], 'admin routes missing from the OpenAPI document');
  });
});
