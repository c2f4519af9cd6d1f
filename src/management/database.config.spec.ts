import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, validateGatewayConfig } from '../config/config-loader.js';

const base = {
  providers: [{ name: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
  models: [{ name: 'm', deployments: [{ provider: 'p', model: 'm' }] }],
};

function problems(database: unknown): string[] {
  try {
    validateGatewayConfig({ ...base, database });
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
}

describe('database config', () => {
  it('is absent by default (file-only mode) and defaulted when given a url', () => {
    assert.equal(validateGatewayConfig(base).database, undefined);
    const config = validateGatewayConfig({ ...base, database: { url: 'postgres://127.0.0.1/test' } });
    assert.equal(config.database?.schema, 'public');
    assert.equal(config.database?.requestLog.batchRows, 500);
  });

  it('names the bad field: unknown keys, the url, the schema, ambiguous values', () => {
    assert.deepEqual(problems({ url: 'postgres://h/db', poolsize: 3 }), [
      'database.poolsize: unknown field (did you mean poolSize?)',
    ]);
    assert.match(problems({ url: 'mysql://h/db' })[0], /^database\.url: url must be a postgres/);
    assert.match(problems({ url: 'postgres://h/db', schema: 'Bad-Name' })[0], /^database\.schema: /);
    assert.match(
      problems({ url: 'postgres://h/db', requestLog: { enabled: 'yes' } })[0],
      /^database\.requestLog\.enabled: must be true or false/,
    );
    assert.match(problems({})[0], /^database\.url: /);
  });
});
