import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { at, numberAt, objectAt, stringAt } from './sim-json.js';
import { VaultSimulator } from './vault-simulator.js';

describe('VaultSimulator', () => {
  const sim = new VaultSimulator({
    rootToken: 'root-token',
    appRoles: [
      { roleId: 'role-1', secretId: 'secret-1', ttlSeconds: 60, maxTtlSeconds: 90 },
      { roleId: 'role-open', mount: 'approle-open' },
    ],
    kubernetesRoles: [{ role: 'gateway', jwt: 'jwt-1', ttlSeconds: 120 }],
  });
  let base = '';

  const call = async (
    method: string,
    route: string,
    options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers['x-vault-token'] = options.token;
    const response = await fetch(`${base}/v1/${route}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    return { status: response.status, body };
  };

  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => {
    sim.reset();
    sim.unseal();
    sim.setDown(false);
  });

  it('writes and reads KV v2 versions', async () => {
    const written = await call('POST', 'secret/data/llm/openai', {
      token: 'root-token',
      body: { data: { api_key: 'v1' } },
    });
    assert.equal(written.status, 200);
    assert.equal(at(written.body, 'data', 'version'), 1);
    const second = await call('PUT', 'secret/data/llm/openai', {
      token: 'root-token',
      body: { data: { api_key: 'v2' }, options: { cas: 1 } },
    });
    assert.equal(at(second.body, 'data', 'version'), 2);
    const stale = await call('POST', 'secret/data/llm/openai', {
      token: 'root-token',
      body: { data: { api_key: 'v3' }, options: { cas: 1 } },
    });
    assert.deepEqual(stale, {
      status: 400,
      body: { errors: ['check-and-set parameter did not match the current version'] },
    });

    const latest = await call('GET', 'secret/data/llm/openai', { token: 'root-token' });
    assert.equal(latest.status, 200);
    assert.deepEqual(at(latest.body, 'data', 'data'), { api_key: 'v2' });
    assert.equal(at(latest.body, 'data', 'metadata', 'version'), 2);
    assert.equal(at(latest.body, 'data', 'metadata', 'destroyed'), false);
    assert.equal(at(latest.body, 'auth'), null);
    const first = await call('GET', 'secret/data/llm/openai?version=1', { token: 'root-token' });
    assert.deepEqual(at(first.body, 'data', 'data'), { api_key: 'v1' });

    sim.putSecret('kv', 'anthropic', { key: 'a' });
    const anthropic = await call('GET', 'kv/data/anthropic', { token: 'root-token' });
    assert.deepEqual(at(anthropic.body, 'data', 'data'), { key: 'a' });
    assert.equal(sim.count('/v1/secret/data/llm/openai', 'GET'), 2);
    assert.equal(sim.count('/v1/secret/data/llm/openai'), 5);
  });

  it('answers 404 {"errors":[]} for a missing secret, and 404 for an unknown route', async () => {
    assert.deepEqual(await call('GET', 'secret/data/nothing', { token: 'root-token' }), {
      status: 404,
      body: { errors: [] },
    });
    const unknown = await call('GET', 'nomount/data/x', { token: 'root-token' });
    assert.equal(unknown.status, 404);
    assert.match(stringAt(unknown.body, 'errors', 0), /no handler for route/);
  });

  it('answers 403 permission denied without a token, with an unknown token and with a revoked one', async () => {
    const denied = { status: 403, body: { errors: ['permission denied'] } };
    assert.deepEqual(await call('GET', 'secret/data/llm/openai'), denied);
    assert.deepEqual(await call('GET', 'secret/data/llm/openai', { token: 'hvs.unknown' }), denied);
    const token = sim.createToken();
    assert.equal((await call('GET', 'auth/token/lookup-self', { token })).status, 200);
    sim.revokeTokens();
    assert.deepEqual(await call('GET', 'auth/token/lookup-self', { token }), denied);
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: 'root-token' })).status, 200, 'root survives');
  });

  it('accepts Authorization: Bearer and the namespace header', async () => {
    const response = await call('GET', 'auth/token/lookup-self', {
      headers: { authorization: 'Bearer root-token', 'x-vault-namespace': 'team-a/' },
    });
    assert.equal(response.status, 200);
    assert.equal(at(response.body, 'data', 'ttl'), 0);
    assert.equal(at(response.body, 'data', 'expire_time'), null);
    assert.equal(sim.requests.at(-1)?.headers['x-vault-namespace'], 'team-a/');
  });

  it('logs in with AppRole, then looks up and renews the token up to its max TTL', async () => {
    const login = await call('POST', 'auth/approle/login', { body: { role_id: 'role-1', secret_id: 'secret-1' } });
    assert.equal(login.status, 200);
    assert.equal(at(login.body, 'lease_duration'), 0, 'the top-level lease is 0 for logins');
    const auth = objectAt(login.body, 'auth');
    const token = stringAt(auth, 'client_token');
    assert.match(token, /^hvs\./);
    assert.equal(auth.lease_duration, 60);
    assert.equal(auth.renewable, true);

    const lookup = await call('GET', 'auth/token/lookup-self', { token });
    assert.equal(at(lookup.body, 'data', 'creation_ttl'), 60);
    const ttl = numberAt(lookup.body, 'data', 'ttl');
    assert.ok(ttl >= 59 && ttl <= 60);
    assert.equal(at(lookup.body, 'data', 'path'), 'auth/approle/login');

    const renewed = await call('POST', 'auth/token/renew-self', {
      token,
      body: { increment: '60s' },
    });
    assert.equal(at(renewed.body, 'auth', 'lease_duration'), 60);
    assert.equal(at(renewed.body, 'auth', 'client_token'), token);
    const capped = await call('POST', 'auth/token/renew-self', { token, body: { increment: '2m' } });
    const lease = numberAt(capped.body, 'auth', 'lease_duration');
    assert.ok(lease <= 90 && lease >= 89, 'capped by the max TTL');
    assert.match(stringAt(capped.body, 'warnings', 0), /max_ttl/);
  });

  it('rejects bad AppRole credentials with 400, and logs in without secret id when the role has none', async () => {
    assert.deepEqual(await call('POST', 'auth/approle/login', { body: { role_id: 'role-1', secret_id: 'wrong' } }), {
      status: 400,
      body: { errors: ['invalid role or secret ID'] },
    });
    assert.deepEqual(await call('POST', 'auth/approle/login', { body: { role_id: 'role-1' } }), {
      status: 400,
      body: { errors: ['missing secret_id'] },
    });
    assert.equal((await call('POST', 'auth/approle-open/login', { body: { role_id: 'role-open' } })).status, 200);
  });

  it('logs in with Kubernetes role and JWT', async () => {
    const login = await call('POST', 'auth/kubernetes/login', { body: { role: 'gateway', jwt: 'jwt-1' } });
    assert.equal(login.status, 200);
    assert.equal(at(login.body, 'auth', 'lease_duration'), 120);
    assert.equal(at(login.body, 'auth', 'metadata', 'role'), 'gateway');
    assert.equal(
      (await call('POST', 'auth/kubernetes/login', { body: { role: 'gateway', jwt: 'other' } })).status,
      400,
    );
    assert.equal((await call('POST', 'auth/kubernetes/login', { body: { role: 'nobody', jwt: 'jwt-1' } })).status, 400);
  });

  it('expires tokens after their TTL, and refuses to renew non-renewable ones', async () => {
    const short = sim.createToken({ ttlSeconds: 0.05 });
    await sleep(80);
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: short })).status, 403);
    const fixed = sim.createToken({ renewable: false });
    assert.deepEqual(await call('POST', 'auth/token/renew-self', { token: fixed }), {
      status: 400,
      body: { errors: ['lease is not renewable'] },
    });
  });

  it('answers 503 while sealed', async () => {
    sim.seal();
    assert.deepEqual(await call('GET', 'secret/data/llm/openai', { token: 'root-token' }), {
      status: 503,
      body: { errors: ['Vault is sealed'] },
    });
    sim.unseal();
    assert.equal((await call('GET', 'secret/data/llm/openai', { token: 'root-token' })).status, 200);
  });

  it('drops connections while down', async () => {
    sim.setDown(true);
    await assert.rejects(call('GET', 'secret/data/llm/openai', { token: 'root-token' }), TypeError);
    sim.setDown(false);
    assert.equal((await call('GET', 'secret/data/llm/openai', { token: 'root-token' })).status, 200);
    assert.equal(sim.hungUp, 0);
  });

  it('injects faults by route prefix', async () => {
    sim.enqueueFault({ status: 500, errors: ['internal error'], routePrefix: 'secret/', times: 2 });
    assert.equal((await call('GET', 'auth/token/lookup-self', { token: 'root-token' })).status, 200);
    assert.deepEqual(await call('GET', 'secret/data/llm/openai', { token: 'root-token' }), {
      status: 500,
      body: { errors: ['internal error'] },
    });
    assert.equal((await call('GET', 'secret/data/llm/openai', { token: 'root-token' })).status, 500);
    assert.equal((await call('GET', 'secret/data/llm/openai', { token: 'root-token' })).status, 200);
  });

  it('counts a client that hangs up during a delay', async () => {
    sim.enqueueFault({ delayMs: 200 });
    await assert.rejects(fetch(`${base}/v1/sys/health`, { signal: AbortSignal.timeout(30) }));
    await sleep(20);
    assert.equal(sim.hungUp, 1);
    assert.equal(sim.requests[0]?.hungUp, true);
  });
});
