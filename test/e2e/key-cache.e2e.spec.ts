/**
 * Database keys on the hot path: two gateway instances on one database (a schema of this test's own on the shared
 * PostgreSQL); a change made through one instance's admin API takes effect on the other within 1 s, through
 * LISTEN/NOTIFY, without a restart. Config keys win over database keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { testSchema, type TestSchema } from '../support/postgres.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const ADMIN_KEY = 'gk-admin-0123456789abcdef';
const YAML_KEY = 'gk-yaml-user-0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const messages = [{ role: 'user', content: 'hi' }];

/** Polls until `check` holds, for at most `withinMs`; returns how long it took. */
async function within(withinMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > withinMs) throw new Error(`not within ${withinMs} ms`);
    await sleep(20);
  }
}

describe('database keys in memory, kept current across instances (PostgreSQL)', () => {
  const sim = new OpenAiSimulator();
  let schema: TestSchema;
  let a: RunningGateway;
  let b: RunningGateway;

  before(async () => {
    schema = await testSchema('key_cache');
    const simUrl = await sim.start();
    const document = {
      auth: {
        enabled: true,
        keys: [
          { id: 'ops', key: ADMIN_KEY, admin: true },
          { id: 'shared-id', key: YAML_KEY },
        ],
      },
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] },
        { name: 'gpt-other', deployments: [{ provider: 'sim', model: 'sim-model' }] },
      ],
      database: schema.section(),
    };
    a = await startGateway(document);
    b = await startGateway(document);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await sim.stop();
    await schema.drop();
  });

  const chat = (gateway: RunningGateway, secret: string, model = 'gpt-test') =>
    postJson(`${gateway.url}/v1/chat/completions`, { model, messages }, { authorization: `Bearer ${secret}` });
  const statusOn = async (gateway: RunningGateway, secret: string, model?: string) => {
    const response = await chat(gateway, secret, model);
    await response.body?.cancel();
    return response.status;
  };
  const adminCall = async <T>(gateway: RunningGateway, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: admin,
      body: JSON.stringify(body ?? {}),
    });
    assert.ok(response.ok, `${method} ${path}: ${response.status}`);
    return (await response.json()) as T;
  };

  it('a key created, narrowed, rotated and revoked on one instance is so on the other within 1 s', async () => {
    const { secret } = await adminCall<{ secret: string }>(a, 'POST', '/admin/keys', { id: 'live' });
    await within(1_000, async () => (await statusOn(b, secret)) === 200);
    assert.equal(await statusOn(a, secret), 200);

    await adminCall(a, 'PATCH', '/admin/keys/live', { models: ['gpt-other'] });
    await within(1_000, async () => (await statusOn(b, secret)) === 403);
    assert.equal(await statusOn(b, secret, 'gpt-other'), 200);

    const rotated = await adminCall<{ secret: string }>(a, 'POST', '/admin/keys/live/rotate', { graceSeconds: 300 });
    await within(1_000, async () => (await statusOn(b, rotated.secret, 'gpt-other')) === 200);
    assert.equal(await statusOn(b, secret, 'gpt-other'), 200, 'the old secret works during its grace period');
    const again = await adminCall<{ secret: string }>(a, 'POST', '/admin/keys/live/rotate', { graceSeconds: 0 });
    await within(1_000, async () => (await statusOn(b, rotated.secret, 'gpt-other')) === 401);
    assert.equal(await statusOn(b, secret, 'gpt-other'), 401, 'a second rotation ends the first grace at once');
    assert.equal(await statusOn(b, again.secret, 'gpt-other'), 200);

    await adminCall(b, 'POST', '/admin/keys/live/revoke');
    await within(1_000, async () => (await statusOn(a, again.secret, 'gpt-other')) === 401);
  });

  it("a team's model list caps its keys, live", async () => {
    await adminCall(a, 'POST', '/admin/teams', { id: 'team-1', name: 'One' });
    const { secret } = await adminCall<{ secret: string }>(a, 'POST', '/admin/keys', {
      id: 'member',
      teamId: 'team-1',
    });
    await within(1_000, async () => (await statusOn(b, secret, 'gpt-other')) === 200);
    await adminCall(a, 'PATCH', '/admin/teams/team-1', { models: ['gpt-test'] });
    await within(1_000, async () => (await statusOn(b, secret, 'gpt-other')) === 403);
    assert.equal(await statusOn(b, secret, 'gpt-test'), 200);
  });

  it('refuses an expired key with 401 expired_api_key', async () => {
    const soon = new Date(Date.now() + 1_500).toISOString();
    const { secret } = await adminCall<{ secret: string }>(a, 'POST', '/admin/keys', { id: 'brief', expiresAt: soon });
    await within(1_000, async () => (await statusOn(b, secret)) === 200);
    await sleep(Math.max(0, Date.parse(soon) - Date.now() + 10));
    const response = await chat(b, secret);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'expired_api_key');
  });

  it('config keys win: a row with a config key id is ignored, and the config key keeps its own secret', async () => {
    await schema.query(
      `INSERT INTO keys (id, key_hash, prefix) VALUES ('shared-id', encode(sha256('sk-gw-hand-made-0123456789'), 'hex'), 'sk-gw-hand-m')`,
    );
    await adminCall(a, 'PATCH', '/admin/keys/shared-id', { metadata: { touched: true } });
    await sleep(100);
    assert.equal(await statusOn(b, 'sk-gw-hand-made-0123456789'), 401);
    assert.equal(await statusOn(b, YAML_KEY), 200);
  });

  it('reports the database in readiness', async () => {
    const ready = (await (await fetch(`${b.url}/health/ready`)).json()) as {
      info: Record<string, { state?: string }>;
    };
    assert.equal(ready.info.database.state, 'up');
  });
});
