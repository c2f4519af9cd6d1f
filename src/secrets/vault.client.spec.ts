import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { VaultSimulator } from '../../test/simulators/vault-simulator.js';
import type { VaultAuthConfig, VaultConfig } from './secrets.config.js';
import { VaultClient, VaultError, type SecretsLogger } from './vault.client.js';

const SECRET_ID = 'approle-secret-id-7f3a';
const JWT = 'eyJhbGciOiJSUzI1NiJ9.service-account.sig';
const API_KEY = 'sk-known-secret-value-123';

function captureLogger(): SecretsLogger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: unknown) => void lines.push(String(message));
  return { lines, log: push, warn: push, error: push };
}

describe('VaultClient', () => {
  const sim = new VaultSimulator({
    appRoles: [
      { roleId: 'gateway', secretId: SECRET_ID },
      { roleId: 'short', secretId: SECRET_ID, mount: 'approle-short', ttlSeconds: 1 },
      { roleId: 'capped', secretId: SECRET_ID, mount: 'approle-capped', ttlSeconds: 1, maxTtlSeconds: 1 },
    ],
    kubernetesRoles: [{ role: 'llm-gateway', jwt: JWT }],
  });
  const dir = mkdtempSync(join(tmpdir(), 'vault-client-'));
  const clients: VaultClient[] = [];
  let address = '';

  const client = (auth: VaultAuthConfig, extra: Partial<VaultConfig> = {}, logger = captureLogger()) => {
    const created = new VaultClient({ address, auth, requestTimeoutMs: 1_000, retries: 0, ...extra }, logger);
    clients.push(created);
    return created;
  };
  const approle = (mount?: string, roleId = 'gateway'): VaultAuthConfig => ({
    method: 'approle',
    roleId,
    secretId: SECRET_ID,
    mount,
  });

  before(async () => {
    address = await sim.start();
    sim.putSecret('secret', 'llm/openai', { api_key: API_KEY });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    sim.reset();
    sim.unseal();
    sim.setDown(false);
  });

  it('uses a configured token as is, after looking it up, with the namespace header', async () => {
    const token = sim.createToken({ ttlSeconds: 3600 });
    const vault = client({ method: 'token', token }, { namespace: 'team-a/' });
    const secret = await vault.readKv2('secret', 'llm/openai');
    assert.deepEqual(secret, { data: { api_key: API_KEY }, version: 1 });
    assert.equal(sim.count('/v1/auth/token/lookup-self', 'GET'), 1);
    const read = sim.requests.find((r) => r.path === '/v1/secret/data/llm/openai')!;
    assert.equal(read.headers['x-vault-token'], token);
    assert.equal(read.headers['x-vault-namespace'], 'team-a/');
    assert.equal(read.headers['x-vault-request'], 'true');
    await vault.readKv2('secret', 'llm/openai');
    assert.equal(sim.count('/v1/auth/token/lookup-self'), 1, 'looked up once');
  });

  it('reads the token from env: and file: references', async () => {
    process.env.VAULT_CLIENT_SPEC_TOKEN = sim.rootToken;
    writeFileSync(join(dir, 'token'), `${sim.rootToken}\n`);
    await client({ method: 'token', token: 'env:VAULT_CLIENT_SPEC_TOKEN' }).readKv2('secret', 'llm/openai');
    await client({ method: 'token', token: `file:${join(dir, 'token')}` }).readKv2('secret', 'llm/openai');
    delete process.env.VAULT_CLIENT_SPEC_TOKEN;
  });

  it('logs in with AppRole', async () => {
    const vault = client(approle());
    assert.equal((await vault.readKv2('secret', 'llm/openai')).data.api_key, API_KEY);
    const login = sim.requests.find((r) => r.path === '/v1/auth/approle/login')!;
    assert.deepEqual(login.body, { role_id: 'gateway', secret_id: SECRET_ID });
    assert.match(String(sim.requests.at(-1)!.headers['x-vault-token']), /^hvs\./);
  });

  it('logs in with Kubernetes, reading the service-account JWT from jwtPath', async () => {
    const jwtPath = join(dir, 'sa-token');
    writeFileSync(jwtPath, `${JWT}\n`);
    const vault = client({ method: 'kubernetes', role: 'llm-gateway', jwtPath });
    assert.equal((await vault.readKv2('secret', 'llm/openai')).data.api_key, API_KEY);
    assert.deepEqual(sim.requests.find((r) => r.path === '/v1/auth/kubernetes/login')!.body, {
      role: 'llm-gateway',
      jwt: JWT,
    });

    const missing = join(dir, 'missing-token');
    await assert.rejects(
      client({ method: 'kubernetes', role: 'llm-gateway', jwtPath: missing }).readKv2('secret', 'llm/openai'),
      {
        name: 'VaultError',
        message: `Vault kubernetes login: cannot read the credentials: file:${missing}: cannot read the file (ENOENT)`,
      },
    );
  });

  it('renews the token at 2/3 of its lease, logs in again when the max TTL stops renewal, and stops once closed', async () => {
    // lookup-self answers whole seconds left: 1 for these, so they are renewed after 2/3 s too.
    const staticToken = sim.createToken({ ttlSeconds: 2 });
    const cappedToken = sim.createToken({ ttlSeconds: 2, maxTtlSeconds: 2 });
    const cappedTokenLogger = captureLogger();
    const renewing = client(approle('approle-short', 'short'));
    const capped = client(approle('approle-capped', 'capped'));
    const clients = [
      renewing,
      capped,
      client({ method: 'token', token: staticToken }),
      client({ method: 'token', token: cappedToken }, {}, cappedTokenLogger),
    ];
    const closedToken = sim.createToken({ ttlSeconds: 2 });
    const closedLogger = captureLogger();
    const closed = client({ method: 'token', token: closedToken }, {}, closedLogger);
    await Promise.all([...clients, closed].map((c) => c.readKv2('secret', 'llm/openai')));
    closed.close();
    await sleep(850);
    const renewals = (token: string) =>
      sim.requests.filter((r) => r.path === '/v1/auth/token/renew-self' && r.headers['x-vault-token'] === token).length;
    assert.equal(sim.count('/v1/auth/approle-short/login'), 1);
    assert.equal(sim.count('/v1/auth/approle-capped/login'), 2, 'renewal answered a lease shorter than asked');
    assert.equal(renewals(staticToken), 1);
    assert.equal(renewals(cappedToken), 1);
    assert.equal(renewals(closedToken), 0);
    assert.equal(sim.count('/v1/auth/token/renew-self', 'POST'), 4);
    assert.equal(sim.count('/v1/auth/token/lookup-self'), 3, 'a configured token is looked up once');
    await assert.rejects(closed.readKv2('secret', 'llm/openai'), (error: VaultError) => error.kind === 'closed');
    assert.deepEqual(closedLogger.lines, []);
    assert.deepEqual(cappedTokenLogger.lines, [
      'The configured Vault token is close to its max TTL; it expires in 1 s',
    ]);
    const renewal = (token: string) =>
      sim.requests.find((r) => r.path === '/v1/auth/token/renew-self' && r.headers['x-vault-token'] === token);
    assert.deepEqual(renewal(staticToken)?.body, { increment: '2s' }, 'the creation TTL');
    await sleep(200);
    await renewing.readKv2('secret', 'llm/openai');
    await clients[2].readKv2('secret', 'llm/openai');
    assert.equal(sim.count('/v1/auth/approle-short/login'), 1, 'still the first token, 1.05 s after a 1 s lease');
  });

  it('logs in once more and retries once when a read answers 403', async () => {
    const vault = client(approle());
    await vault.readKv2('secret', 'llm/openai');
    sim.revokeTokens();
    assert.equal((await vault.readKv2('secret', 'llm/openai')).data.api_key, API_KEY);
    assert.equal(sim.count('/v1/auth/approle/login'), 2);

    sim.enqueueFault({ status: 403, errors: ['permission denied'], routePrefix: 'secret/', times: 2 });
    await assert.rejects(vault.readKv2('secret', 'llm/openai'), (error: VaultError) => {
      assert.equal(error.kind, 'permission_denied');
      assert.equal(error.status, 403);
      assert.equal(error.message, 'Vault read secret/llm/openai: permission denied (HTTP 403)');
      return true;
    });
    assert.equal(sim.count('/v1/auth/approle/login'), 3, 'one login for the two 403s');
  });

  it('maps 400, 404, 503, timeouts and network errors to typed errors', async () => {
    const expectError = async (promise: Promise<unknown>, kind: string, message: RegExp) => {
      await assert.rejects(promise, (error: unknown) => {
        assert.ok(error instanceof VaultError);
        assert.equal(error.kind, kind);
        assert.match(error.message, message);
        return true;
      });
    };
    await expectError(
      client({ method: 'approle', roleId: 'gateway', secretId: 'wrong-secret-id' }).readKv2('secret', 'llm/openai'),
      'invalid_request',
      /^Vault approle login: invalid role or secret ID \(HTTP 400\)$/,
    );
    const vault = client(approle(), { requestTimeoutMs: 100 });
    await expectError(
      vault.readKv2('secret', 'llm/missing'),
      'not_found',
      /^Vault read secret\/llm\/missing: not found \(HTTP 404\)$/,
    );
    sim.seal();
    await expectError(vault.readKv2('secret', 'llm/openai'), 'unavailable', /Vault is sealed \(HTTP 503\)/);
    sim.unseal();
    sim.enqueueFault({ delayMs: 300, routePrefix: 'secret/' });
    await expectError(vault.readKv2('secret', 'llm/openai'), 'timeout', /no answer within 100 ms/);
    sim.setDown(true);
    await expectError(vault.readKv2('secret', 'llm/openai'), 'network', /cannot reach http:\/\/127\.0\.0\.1:\d+ \(/);
  });

  it('retries 503 answers when asked to', async () => {
    const vault = client(approle(), { retries: 1 });
    sim.enqueueFault({ status: 503, errors: ['Vault is sealed'], routePrefix: 'secret/' });
    assert.equal((await vault.readKv2('secret', 'llm/openai')).data.api_key, API_KEY);
    assert.equal(sim.count('/v1/secret/data/llm/openai'), 2);
  });

  it('never puts a token, secret id or JWT in its errors', async () => {
    const token = sim.createToken();
    const vault = client({ method: 'token', token });
    sim.enqueueFault({ status: 400, errors: [`bad token ${token}`], routePrefix: 'secret/' });
    await assert.rejects(vault.readKv2('secret', 'llm/openai'), {
      message: 'Vault read secret/llm/openai: bad token <redacted> (HTTP 400)',
    });

    sim.enqueueFault({ status: 400, errors: [`secret_id ${SECRET_ID} is not valid`] });
    await assert.rejects(client(approle()).readKv2('secret', 'llm/openai'), {
      message: 'Vault approle login: secret_id <redacted> is not valid (HTTP 400)',
    });
  });
});
