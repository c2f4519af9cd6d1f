import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { formatValidationErrors } from '../common/validation/format-errors.js';
import { SecretsConfig } from './secrets.config.js';

function validate(document: unknown): { config: SecretsConfig; problems: string[] } {
  const config = plainToInstance(SecretsConfig, document, {
    exposeDefaultValues: true,
    enableImplicitConversion: true,
  });
  return { config, problems: formatValidationErrors(validateSync(config, { forbidUnknownValues: false })) };
}

describe('SecretsConfig', () => {
  it('applies the defaults', () => {
    const { config, problems } = validate({
      vault: { address: 'https://vault.internal:8200', auth: { method: 'token', token: 'env:VAULT_TOKEN' } },
    });
    assert.deepEqual(problems, []);
    assert.equal(config.refreshIntervalMs, 60_000);
    assert.equal(config.minRefreshOnAuthFailureIntervalMs, 30_000);
    assert.equal(config.vault?.requestTimeoutMs, 5_000);
    assert.equal(config.vault?.retries, 2);
  });

  it('is valid without Vault', () => {
    assert.deepEqual(validate({}).problems, []);
  });

  it('requires the credentials of the chosen auth method', () => {
    const address = 'http://127.0.0.1:8200';
    assert.deepEqual(validate({ vault: { address } }).problems, ['vault.auth: auth should not be null or undefined']);
    assert.deepEqual(validate({ vault: { address, auth: { method: 'token' } } }).problems, [
      'vault.auth.token: token must be a non-empty literal, env: or file: value (required when method is token)',
    ]);
    assert.deepEqual(
      validate({ vault: { address, auth: { method: 'approle', secretId: 'file:/run/secret-id' } } }).problems,
      ['vault.auth.roleId: roleId must be a non-empty literal, env: or file: value (required when method is approle)'],
    );
    assert.deepEqual(validate({ vault: { address, auth: { method: 'kubernetes' } } }).problems, [
      'vault.auth.role: role must be a non-empty string (required when method is kubernetes)',
    ]);
    assert.deepEqual(
      validate({ vault: { address, auth: { method: 'kubernetes', role: 'gateway', mount: 'k8s/prod' } } }).problems,
      [],
    );
  });

  it('rejects a bad address, method, mount, vault: credentials and intervals', () => {
    const { problems } = validate({
      vault: { address: 'vault:8200', auth: { method: 'ldap', secretId: 'vault:secret/x#y', mount: '/approle' } },
      refreshIntervalMs: 0,
    });
    assert.deepEqual(
      problems.map((p) => p.split(':')[0]),
      ['vault.address', 'vault.auth.method', 'vault.auth.secretId', 'vault.auth.mount', 'refreshIntervalMs'],
    );
  });
});
