import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadGatewayConfig, substituteEnv, validateGatewayConfig } from './config-loader.js';

const valid = {
  providers: [{ name: 'openai', type: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-x' }],
  models: [{ name: 'gpt-4o-mini', deployments: [{ provider: 'openai', model: 'gpt-4o-mini' }] }],
};

function problemsOf(document: unknown): string[] {
  try {
    validateGatewayConfig(document);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

function writeConfig(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gw-config-')), 'gateway.yaml');
  writeFileSync(path, text);
  return path;
}

describe('config validation', () => {
  it('accepts a minimal config and fills defaults', () => {
    const config = validateGatewayConfig(structuredClone(valid));
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.bodyLimitBytes, 10 * 1024 * 1024);
    assert.equal(config.providers[0].timeouts.connectMs, 5_000);
    assert.equal(config.providers[0].retry.retries, 2);
    assert.equal(config.models[0].deployments[0].weight, 1);
  });

  it('names every bad field, one line each', () => {
    const problems = problemsOf({
      server: { port: 70_000 },
      providers: [{ name: 'p', type: 'openai', baseUrl: 'not a url', timeouts: { connectMs: 0 } }],
      models: [{ name: 'm', deployments: [] }],
    });
    assert.ok(
      problems.some((p) => p.startsWith('server.port: ')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('providers[0].baseUrl: ')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('providers[0].timeouts.connectMs: ')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('models[0].deployments: ')),
      problems.join('\n'),
    );
  });

  it('rejects unknown provider types, unknown provider references and duplicates', () => {
    assert.deepEqual(
      problemsOf({ ...valid, providers: [{ ...valid.providers[0], type: 'nope' }] }).map((p) => p.split(':')[0]),
      ['providers[0].type'],
    );
    const problems = problemsOf({
      providers: [valid.providers[0], valid.providers[0]],
      models: [{ name: 'm', deployments: [{ provider: 'ghost', model: 'x' }] }],
    });
    assert.ok(problems.includes("providers[1].name: duplicate provider name 'openai'"), problems.join('\n'));
    assert.ok(problems.includes("models[0].deployments[0].provider: unknown provider 'ghost'"), problems.join('\n'));
  });

  it('rejects a document that is not a mapping', () => {
    assert.equal(problemsOf('just text').length, 1);
  });
});

describe('config file loading', () => {
  it('substitutes ${VAR} and ${VAR:-default} in values, converting numbers, and PORT overrides the port', () => {
    const path = writeConfig(`
# a \${COMMENTED_OUT} reference in a comment is ignored
server:
  port: \${GW_TEST_PORT:-9999}
providers:
  - name: openai
    type: openai
    baseUrl: \${GW_TEST_URL}
    apiKey: \${GW_TEST_KEY}
models:
  - name: m
    deployments: [{ provider: openai, model: gpt }]
`);
    const env = { GATEWAY_CONFIG: path, GW_TEST_URL: 'http://127.0.0.1:1/v1', GW_TEST_KEY: 'sk-secret' };
    const config = loadGatewayConfig(env);
    assert.equal(config.server.port, 9999);
    assert.equal(config.providers[0].apiKey, 'sk-secret');
    assert.equal(loadGatewayConfig({ ...env, PORT: '4321' }).server.port, 4321);
  });

  it('names the field whose environment variable is missing, and never prints secrets', () => {
    const path = writeConfig(
      'providers:\n  - name: a\n    type: openai\n    baseUrl: http://x\n    apiKey: ${GW_MISSING_KEY}\nmodels: []\n',
    );
    assert.throws(
      () => loadGatewayConfig({ GATEWAY_CONFIG: path }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems[0] === 'providers[0].apiKey: environment variable GW_MISSING_KEY is not set',
    );
  });

  it('reports an unreadable file and broken YAML', () => {
    assert.throws(() => loadGatewayConfig({ GATEWAY_CONFIG: '/nonexistent/gw.yaml' }), /cannot read: ENOENT/);
    assert.throws(() => loadGatewayConfig({ GATEWAY_CONFIG: writeConfig('a: [unclosed') }), /\(yaml\)/);
  });

  it('substituteEnv leaves text without references alone', () => {
    assert.equal(substituteEnv('plain $HOME text', {}), 'plain $HOME text');
  });
});

describe('a config that could mean two things stops start-up, naming the field', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    [
      "auth.enabled: 'false'",
      { auth: { enabled: 'false' } },
      "auth.enabled: must be true or false (a YAML boolean), got 'false'",
    ],
    [
      'auth.enabled: no (quoted)',
      { auth: { enabled: 'no' } },
      "auth.enabled: must be true or false (a YAML boolean), got 'no'",
    ],
    [
      'auth.enabled: off',
      { auth: { enabled: 'off' } },
      "auth.enabled: must be true or false (a YAML boolean), got 'off'",
    ],
    [
      'auth.enabled: flase',
      { auth: { enabled: 'flase' } },
      "auth.enabled: must be true or false (a YAML boolean), got 'flase'",
    ],
    [
      "cache.shared: 'false'",
      { cache: { shared: 'false' } },
      "cache.shared: must be true or false (a YAML boolean), got 'false'",
    ],
    [
      "cache.enabled: 'true'",
      { cache: { enabled: 'true' } },
      "cache.enabled: must be true or false (a YAML boolean), got 'true'",
    ],
    ['port: eighty', { server: { port: 'eighty' } }, "server.port: must be a number, got 'eighty'"],
    ['ratelimit (wrong case)', { ratelimit: { enabled: true } }, 'ratelimit: unknown field (did you mean rateLimit?)'],
    [
      'providers[0].apikey',
      { providers: [{ ...valid.providers[0], apikey: 'sk-x' }] },
      'providers[0].apikey: unknown field (did you mean apiKey?)',
    ],
    [
      'providers[0].timeout',
      { providers: [{ ...valid.providers[0], timeout: 5 }] },
      'providers[0].timeout: unknown field (did you mean timeouts?)',
    ],
    [
      'providers[0].base_url',
      { providers: [{ ...valid.providers[0], base_url: 'https://x' }] },
      'providers[0].base_url: unknown field (did you mean baseUrl?)',
    ],
    [
      'a nested unknown key',
      { providers: [{ ...valid.providers[0], retry: { retires: 3 } }] },
      'providers[0].retry.retires: unknown field (did you mean retries?)',
    ],
    [
      "a provider type's options",
      {
        providers: [{ name: 'openai', type: 'anthropic', baseUrl: 'https://x/v1', options: { verion: '2023-06-01' } }],
      },
      'providers[0].options.verion: unknown field (did you mean version?)',
    ],
    [
      'a map of sections (rateLimit.perModel)',
      { rateLimit: { perModel: { 'gpt-4o-mini': { burts: 5 } } } },
      'rateLimit.perModel.gpt-4o-mini.burts: unknown field (did you mean burst?)',
    ],
  ];
  for (const [name, overrides, expected] of cases) {
    it(name, () => {
      const problems = problemsOf({ ...structuredClone(valid), ...overrides });
      assert.deepEqual(problems, [expected]);
    });
  }

  it('takes a number written as a string (a ${VAR} substitution), and YAML booleans', () => {
    const config = validateGatewayConfig({
      ...structuredClone(valid),
      server: { port: '8081', drainTimeoutMs: '1500' },
      auth: { enabled: false },
      cache: { enabled: true, shared: false },
    });
    assert.equal(config.server.port, 8081);
    assert.equal(config.server.drainTimeoutMs, 1500);
    assert.equal(config.auth.enabled, false);
    assert.equal(config.cache.shared, false);
  });

  it('shows a YAML syntax error with its line and a caret', () => {
    const path = writeConfig('server:\n  port: 8080\n providers: []\n');
    assert.throws(
      () => loadGatewayConfig({ GATEWAY_CONFIG: path }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.problems[0], /^\(yaml\) line 3, column 1: .+\n {6} providers: \[\]\n {6}\^$/);
        return true;
      },
    );
  });

  it('names the two files to copy when there is no config at all', () => {
    const cwd = process.cwd();
    process.chdir(mkdtempSync(join(tmpdir(), 'gw-empty-')));
    try {
      assert.throws(() => loadGatewayConfig({}), /config\/gateway\.minimal\.yaml.+config\/gateway\.example\.yaml/);
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses a PORT that is not a port', () => {
    const path = writeConfig(JSON.stringify(valid));
    assert.throws(() => loadGatewayConfig({ GATEWAY_CONFIG: path, PORT: 'eighty' }), /PORT: must be a port number/);
  });
});

describe('shipped config files (the example and the minimal one: example-config.spec.ts)', () => {
  for (const file of ['config/demo.yaml', 'config/bench.yaml', 'config/bench-db.yaml']) {
    it(`${file} is valid`, () => {
      const config = loadGatewayConfig({ GATEWAY_CONFIG: file });
      assert.ok(config.models.length > 0);
    });
  }
});
