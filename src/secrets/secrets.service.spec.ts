import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Test } from '@nestjs/testing';
import { VaultSimulator } from '../../test/simulators/vault-simulator.js';
import { gatewayModules } from '../../test/support/gateway-modules.js';
import type { SecretsConfig, VaultConfig } from './secrets.config.js';
import { SecretsModule } from './secrets.module.js';
import { SecretResolutionError, SecretsService } from './secrets.service.js';
import type { SecretsLogger } from './vault.client.js';

const KNOWN_SECRET = 'sk-known-secret-value-123';
const ROTATED_SECRET = 'sk-rotated-secret-value-456';
const SECRET_ID = 'approle-secret-id-7f3a';
const OPENAI_KEY = 'vault:secret/llm/openai#api_key';
const OPENAI_PATH = '/v1/secret/data/llm/openai';

/** Every line any service in this file logged, checked for secret material at the end. */
const logged: string[] = [];
/** Every error message the services produced, checked likewise. */
const errors: string[] = [];

function captureLogger(): SecretsLogger & { lines: string[] } {
  const lines: string[] = [];
  const push = (message: unknown) => {
    lines.push(String(message));
    logged.push(String(message));
  };
  return { lines, log: push, warn: push, error: push };
}

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error);
    errors.push(error.message);
    return error;
  }
  throw new Error('expected a rejection');
}

describe('SecretsService', () => {
  const sim = new VaultSimulator({ appRoles: [{ roleId: 'gateway', secretId: SECRET_ID }] });
  const dir = mkdtempSync(join(tmpdir(), 'secrets-service-'));
  const services: SecretsService[] = [];
  let address = '';

  const service = (
    settings: Partial<SecretsConfig> = {},
    vault: Partial<VaultConfig> = {},
    logger = captureLogger(),
  ) => {
    const config: SecretsConfig = {
      vault: {
        address,
        auth: { method: 'approle', roleId: 'gateway', secretId: SECRET_ID },
        requestTimeoutMs: 500,
        retries: 0,
        ...vault,
      },
      refreshIntervalMs: 60_000,
      minRefreshOnAuthFailureIntervalMs: 30_000,
      ...settings,
    };
    const created = new SecretsService(config, logger);
    services.push(created);
    return created;
  };

  before(async () => {
    address = await sim.start();
  });
  beforeEach(() => {
    sim.putSecret('secret', 'llm/openai', { api_key: KNOWN_SECRET, organization: 'org-1' });
    sim.reset();
    sim.unseal();
    sim.setDown(false);
  });
  afterEach(() => {
    for (const s of services.splice(0)) s.close();
  });
  after(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves vault, env, file and literal references, reading each Vault secret once', async () => {
    const secrets = service();
    const [apiKey, organization] = await Promise.all([
      secrets.resolve(OPENAI_KEY),
      secrets.resolve('vault:secret/llm/openai#organization'),
    ]);
    assert.equal(apiKey, KNOWN_SECRET);
    assert.equal(organization, 'org-1');
    assert.equal(sim.count(OPENAI_PATH), 1);
    assert.equal(await secrets.resolve(OPENAI_KEY), KNOWN_SECRET, 'from the cache');
    assert.equal(sim.count(OPENAI_PATH), 1);
    assert.equal(secrets.handle(OPENAI_KEY).value(), KNOWN_SECRET);
    assert.equal(secrets.handle(OPENAI_KEY), secrets.handle(OPENAI_KEY));
    assert.equal(secrets.handle(OPENAI_KEY).name, OPENAI_KEY);

    process.env.SECRETS_SERVICE_SPEC_KEY = 'from-env';
    writeFileSync(join(dir, 'key'), 'from-file\n');
    assert.equal(await secrets.resolve('env:SECRETS_SERVICE_SPEC_KEY'), 'from-env');
    assert.equal(secrets.handle(`file:${join(dir, 'key')}`).value(), 'from-file');
    assert.equal(secrets.handle('sk-literal').value(), 'sk-literal');
    assert.equal(secrets.handle('sk-literal').name, 'a literal value');
    delete process.env.SECRETS_SERVICE_SPEC_KEY;

    const status = secrets.status();
    assert.equal(status.vault, 'up');
    assert.equal(status.lastError, undefined);
    assert.ok(status.lastSuccessAt !== undefined && status.lastSuccessAt <= Date.now());
  });

  it('fails start-up with a message naming the reference, never the value', async () => {
    const secrets = service();
    const missingKey = await rejection(secrets.resolve('vault:secret/llm/openai#nope'));
    assert.ok(missingKey instanceof SecretResolutionError);
    assert.equal(missingKey.reference, 'vault:secret/llm/openai#nope');
    assert.equal(
      missingKey.message,
      'cannot resolve secret vault:secret/llm/openai#nope: the secret secret/llm/openai has no key nope',
    );
    assert.equal(
      (await rejection(secrets.resolve('vault:secret/llm/missing#api_key'))).message,
      'cannot resolve secret vault:secret/llm/missing#api_key: Vault read secret/llm/missing: not found (HTTP 404)',
    );
    assert.equal(
      (
        await rejection(
          service({}, { auth: { method: 'approle', roleId: 'gateway', secretId: 'wrong' } }).resolve(OPENAI_KEY),
        )
      ).message,
      `cannot resolve secret ${OPENAI_KEY}: Vault approle login: invalid role or secret ID (HTTP 400)`,
    );
    assert.equal(
      (await rejection(service({ vault: undefined }).resolve(OPENAI_KEY))).message,
      `cannot resolve secret ${OPENAI_KEY}: no Vault is configured (secrets.vault)`,
    );
    assert.throws(
      () => secrets.handle('vault:secret/llm/other#api_key'),
      /was not resolved: call resolve\(\) at start-up first/,
    );
    assert.throws(() => secrets.handle('env:SECRETS_SERVICE_SPEC_UNSET'), {
      message: 'cannot resolve secret env:SECRETS_SERVICE_SPEC_UNSET: the value is not set or empty',
    });
    assert.throws(() => secrets.handle(''), { message: 'cannot resolve secret a literal value: the value is empty' });
    assert.throws(
      () => secrets.handle('vault:secret#k'),
      /^SecretResolutionError: invalid secret reference vault:secret#k: expected/,
    );
    assert.equal(secrets.status().vault, 'up', "failed look-ups are the caller's, not an outage");
  });

  it('picks up a key rotated in Vault at the next refresh, without restart', async () => {
    const logger = captureLogger();
    const secrets = service({ refreshIntervalMs: 50 }, {}, logger);
    await secrets.resolve(OPENAI_KEY);
    const handle = secrets.handle(OPENAI_KEY);
    const seen: string[] = [];
    handle.subscribe((value) => seen.push(value));
    sim.putSecret('secret', 'llm/openai', { api_key: ROTATED_SECRET, organization: 'org-1' });
    await until(() => handle.value() === ROTATED_SECRET);
    assert.deepEqual(seen, [ROTATED_SECRET]);
    assert.deepEqual(logger.lines, [`Secret ${OPENAI_KEY} changed; using the new value`]);
  });

  it('re-reads file: secrets on refresh', async () => {
    const path = join(dir, 'rotating');
    writeFileSync(path, 'first\n');
    const secrets = service({ refreshIntervalMs: 50, vault: undefined });
    const handle = secrets.handle(`file:${path}`);
    writeFileSync(path, 'second\n');
    await until(() => handle.value() === 'second');
    assert.equal(secrets.status().vault, 'disabled');
  });

  it('refreshes at once on onAuthFailure(), at most once per minRefreshOnAuthFailureIntervalMs', async () => {
    const secrets = service({ minRefreshOnAuthFailureIntervalMs: 10_000 });
    await secrets.resolve(OPENAI_KEY);
    const handle = secrets.handle(OPENAI_KEY);
    sim.reset();
    sim.putSecret('secret', 'llm/openai', { api_key: ROTATED_SECRET });
    for (let i = 0; i < 5; i++) handle.onAuthFailure();
    await until(() => handle.value() === ROTATED_SECRET);
    await sleep(50);
    handle.onAuthFailure();
    await sleep(50);
    assert.equal(sim.count(OPENAI_PATH), 1);
  });

  it('keeps the last good value while Vault is down, reports degraded, and recovers', async () => {
    const logger = captureLogger();
    const secrets = service({ refreshIntervalMs: 50, minRefreshOnAuthFailureIntervalMs: 0 }, {}, logger);
    await secrets.resolve(OPENAI_KEY);
    const handle = secrets.handle(OPENAI_KEY);

    const downAt = Date.now();
    sim.setDown(true);
    await until(() => secrets.status().vault === 'degraded');
    for (let i = 0; i < 15; i++) {
      handle.onAuthFailure(); // each one a failed read, not a log line
      await sleep(10);
    }
    const warnings = logger.lines.filter((line) => line.includes('keeping the last good values'));
    const intervals = Math.floor((Date.now() - downAt) / 50);
    assert.ok(
      warnings.length >= 1 && warnings.length <= intervals + 1,
      `${warnings.length} warnings in ${intervals} intervals`,
    );
    assert.match(
      warnings[0],
      /^Vault read secret\/llm\/openai: cannot reach http:\/\/127\.0\.0\.1:\d+ \(\w+\); keeping the last good values$/,
    );
    assert.equal(handle.value(), KNOWN_SECRET);
    const degraded = secrets.status();
    assert.match(degraded.lastError ?? '', /cannot reach/);
    errors.push(degraded.lastError!);

    sim.setDown(false);
    sim.putSecret('secret', 'llm/openai', { api_key: ROTATED_SECRET });
    await until(() => secrets.status().vault === 'up' && handle.value() === ROTATED_SECRET);
    assert.equal(secrets.status().lastError, undefined);
    assert.ok(logger.lines.includes('Vault reads succeed again'));

    sim.seal();
    await until(() => secrets.status().vault === 'degraded');
    assert.match(secrets.status().lastError ?? '', /Vault is sealed \(HTTP 503\)/);
    sim.unseal();
    await until(() => secrets.status().vault === 'up');
    assert.equal(handle.value(), ROTATED_SECRET);
  });

  it('works as a Nest module and closes on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...gatewayModules({
          secrets: {
            vault: {
              address,
              auth: { method: 'approle', roleId: 'gateway', secretId: SECRET_ID },
              requestTimeoutMs: 500,
              retries: 0,
            },
            refreshIntervalMs: 60_000,
            minRefreshOnAuthFailureIntervalMs: 30_000,
          },
        }),
        SecretsModule,
      ],
    }).compile();
    const secrets = moduleRef.get(SecretsService);
    assert.equal(await secrets.resolve(OPENAI_KEY), KNOWN_SECRET);
    await moduleRef.close();
    assert.match((await rejection(secrets.resolve('vault:secret/llm/openai2#k'))).message, /the client was closed/);
  });

  it('never logged or reported a secret value, a token or a secret id', () => {
    assert.ok(logged.length > 0 && errors.length > 0);
    for (const text of [...logged, ...errors]) {
      for (const secret of [KNOWN_SECRET, ROTATED_SECRET, SECRET_ID, 'hvs.']) {
        assert.ok(!text.includes(secret), `"${text}" contains secret material`);
      }
    }
  });
});
