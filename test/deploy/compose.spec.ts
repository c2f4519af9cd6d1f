/**
 * docker-compose.yml and deploy/: every file parses; services are hardened and wait for healthy dependencies;
 * the gateway's config (deploy/gateway/compose-gateway.yaml), after the env substitution the gateway does,
 * passes the gateway's own validation and points at the simulators, Redis, Vault and Jaeger of the same file;
 * Prometheus scrapes the gateway's port with the labels the recording rule keeps.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createGatewayApp } from '../../src/app.factory.js';
import { loadGatewayConfig, substituteEnvDeep, validateGatewayConfig } from '../../src/config/config-loader.js';
import type { GatewayConfig } from '../../src/config/gateway-config.js';
import {
  ANTHROPIC_SIMULATOR,
  OPENAI_SIMULATOR,
  type RunningSimulators,
  startSimulators,
} from '../../scripts/run-simulators.js';
import { VaultSimulator } from '../simulators/vault-simulator.js';
import {
  execForm,
  GATEWAY_FACTS,
  interpolateComposeDeep,
  isMap,
  lastInstruction,
  listFiles,
  parseDockerfile,
  readText,
  readYaml,
  repoPath,
  stageNamed,
  unknownGatewayConfigFields,
  type Yaml,
} from './deploy-files.js';

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  init?: boolean;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  stop_grace_period?: string;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

/** The compose file as `docker compose config` would see it with no variables set: every default applied. */
const compose = interpolateComposeDeep(
  readYaml<{ services: Record<string, ComposeService> }>('docker-compose.yml'),
  {},
);
const services = compose.services;
const gateway = services.gateway;
const gatewayEnv = gateway.environment ?? {};
const dockerfile = parseDockerfile(readText('Dockerfile'));

function seconds(duration: string): number {
  const match = /^(\d+)(s|m)$/.exec(duration);
  assert.ok(match, `duration ${duration}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

/** Bind mounts as { source (repository-relative), target }. */
function bindMounts(service: ComposeService): Array<{ source: string; target: string }> {
  return (service.volumes ?? [])
    .map((volume) => volume.split(':'))
    .filter(([source]) => source.startsWith('./'))
    .map(([source, target]) => ({ source: posix.normalize(source), target }));
}

/** The gateway's config with the gateway container's environment substituted, as the gateway loads it. */
function loadComposeGatewayConfig(): { document: Yaml; config: GatewayConfig } {
  const mount = bindMounts(gateway).find((m) => m.target === gatewayEnv.GATEWAY_CONFIG);
  assert.ok(mount, 'GATEWAY_CONFIG names a mounted file');
  const missing: string[] = [];
  const document = substituteEnvDeep(readYaml(mount.source), gatewayEnv, '', missing) as Yaml;
  assert.deepEqual(missing, [], 'every ${VAR} without default is set on the gateway service');
  return { document, config: validateGatewayConfig(structuredClone(document), mount.source) };
}

/** The Vault reference of the Anthropic provider, and the value deploy/vault/seed.sh stores there by default. */
function seededAnthropicKey(): { mount: string; path: string; key: string; value: string | undefined } {
  const { config } = loadComposeGatewayConfig();
  const reference = /^vault:([^/]+)\/([^#]+)#(.+)$/.exec(
    config.providers.find((p) => p.type === 'anthropic')!.apiKey!,
  )!;
  const [, mount, path, key] = reference;
  const put = new RegExp(`vault kv put ${mount}/${path} ${key}="\\$\\{ANTHROPIC_API_KEY:-([^}]+)\\}"`).exec(
    readText('deploy/vault/seed.sh'),
  );
  return { mount, path, key, value: put?.[1] };
}

describe('compose and deploy/ files parse', () => {
  it('parses docker-compose.yml and every YAML file under deploy/', () => {
    const files = ['docker-compose.yml', ...listFiles('deploy').filter((f) => /\.ya?ml$/.test(f))];
    assert.ok(files.length >= 5, files.join(', '));
    for (const file of files) assert.ok(isMap(readYaml(file)), file);
  });
});

describe('docker-compose.yml', () => {
  it('runs the gateway, simulators, Redis, Vault (+ seed), Prometheus and Jaeger', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'gateway',
      'jaeger',
      'prometheus',
      'redis',
      'simulators',
      'vault',
      'vault-seed',
    ]);
  });

  it('builds the gateway and the simulators from the Dockerfile targets', () => {
    assert.equal(gateway.build?.target, 'runtime');
    assert.equal(services.simulators.build?.target, 'simulators');
    for (const service of [gateway, services.simulators]) stageNamed(dockerfile, service.build!.target!);
  });

  it('hardens every service: no capabilities, no privilege escalation, an init as PID 1', () => {
    for (const [name, service] of Object.entries(services)) {
      assert.deepEqual(service.cap_drop, ['ALL'], `${name}: cap_drop`);
      assert.ok(service.security_opt?.includes('no-new-privileges:true'), `${name}: no-new-privileges`);
      if (service.build?.target) {
        const entrypoint = execForm(lastInstruction(stageNamed(dockerfile, service.build.target), 'ENTRYPOINT')!.args);
        assert.equal(entrypoint?.[0], '/usr/bin/tini', `${name}: the image's entrypoint is an init`);
        assert.notEqual(service.init, true, `${name}: the image brings tini; a second init adds nothing`);
      } else if (name !== 'vault-seed') {
        assert.equal(service.init, true, `${name}: init: true`);
      }
    }
  });

  it('keeps root filesystems read-only except the Vault dev server (it writes its token file)', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'vault') continue;
      assert.equal(service.read_only, true, `${name}: read_only`);
    }
  });

  it('protects Redis with a password that the gateway gets too', () => {
    const command = services.redis.command as string[];
    const password = command[command.indexOf('--requirepass') + 1];
    assert.ok(password, 'redis-server --requirepass <password>');
    assert.equal(gatewayEnv.REDIS_PASSWORD, password);
    const raw = readText('docker-compose.yml');
    assert.match(raw, /"--requirepass", "\$\{REDIS_PASSWORD:-[^}]+\}"/, 'the password comes from REDIS_PASSWORD');
  });

  it('starts the gateway after healthy simulators and Redis and a finished Vault seed', () => {
    assert.deepEqual(gateway.depends_on, {
      simulators: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      'vault-seed': { condition: 'service_completed_successfully' },
      jaeger: { condition: 'service_started' },
    });
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        assert.ok(dependency in services, `${name} depends on an existing service`);
        if (condition === 'service_healthy')
          assert.ok(services[dependency].healthcheck, `${dependency} has a healthcheck`);
      }
    }
  });

  it('checks gateway health with node against the readiness path (no curl in distroless)', () => {
    const test = gateway.healthcheck?.test ?? [];
    assert.deepEqual(test.slice(0, 3), ['CMD', '/nodejs/bin/node', '-e']);
    assert.ok(test[3].includes(`'${GATEWAY_FACTS.readyPath}'`), test[3]);
    assert.ok(test[3].includes(`process.env.PORT || ${GATEWAY_FACTS.port}`), test[3]);
    const simulatorCheck = services.simulators.healthcheck?.test ?? [];
    assert.equal(simulatorCheck[1], '/nodejs/bin/node');
    assert.ok(simulatorCheck[3].includes(`[${OPENAI_SIMULATOR.port}, ${ANTHROPIC_SIMULATOR.port}]`));
  });

  it('publishes and configures the gateway on its default port', () => {
    assert.equal(gatewayEnv.PORT, String(GATEWAY_FACTS.port));
    assert.deepEqual(gateway.ports, [`${GATEWAY_FACTS.port}:${GATEWAY_FACTS.port}`]);
  });

  it('gives streams longer than the drain time to finish on `docker compose stop`', () => {
    const { config } = loadComposeGatewayConfig();
    const drainMs =
      (config.server as unknown as { drainTimeoutMs?: number }).drainTimeoutMs ?? GATEWAY_FACTS.drainTimeoutMs;
    assert.ok(
      seconds(gateway.stop_grace_period ?? '10s') > drainMs / 1000,
      'stop_grace_period > server.drainTimeoutMs',
    );
  });

  it('mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const mount of bindMounts(service))
        assert.ok(existsSync(repoPath(mount.source)), `${name}: ${mount.source}`);
    }
  });

  it('sends traces to Jaeger over OTLP/HTTP', () => {
    const endpoint = new URL(gatewayEnv.OTEL_EXPORTER_OTLP_ENDPOINT);
    assert.equal(endpoint.hostname, 'jaeger');
    assert.equal(endpoint.port, '4318');
    assert.equal(services.jaeger.environment?.COLLECTOR_OTLP_ENABLED, 'true');
  });
});

describe('the compose gateway config', () => {
  it('passes the gateway config validation after env substitution', () => {
    const { config } = loadComposeGatewayConfig();
    assert.ok(config.models.length >= 2);
  });

  it('uses only fields the config classes declare (the loader ignores misspelt ones)', () => {
    assert.deepEqual(unknownGatewayConfigFields(loadComposeGatewayConfig().document), []);
  });

  it('accepts the gateway key that docker-compose.yml documents for curl', () => {
    const { config } = loadComposeGatewayConfig();
    assert.equal(config.auth.enabled, true);
    assert.deepEqual(
      config.auth.keys.map((k) => k.key),
      [gatewayEnv.GATEWAY_API_KEY],
    );
    assert.ok(readText('docker-compose.yml').includes(`authorization: Bearer ${gatewayEnv.GATEWAY_API_KEY}`));
  });

  it('turns on the Redis cache and rate limits, and Vault', () => {
    const { config } = loadComposeGatewayConfig();
    assert.equal(config.cache.enabled, true);
    assert.equal(config.rateLimit.enabled, true);
    assert.ok(config.secrets.vault);
  });

  it('points the providers at the simulators with the keys they expect', () => {
    const { config } = loadComposeGatewayConfig();
    const byType = new Map(config.providers.map((p) => [p.type, p]));
    const openAi = byType.get('openai')!;
    assert.equal(openAi.baseUrl, `http://simulators:${OPENAI_SIMULATOR.port}/v1`);
    assert.equal(openAi.apiKey, OPENAI_SIMULATOR.apiKey);
    const anthropic = byType.get('anthropic')!;
    assert.equal(anthropic.baseUrl, `http://simulators:${ANTHROPIC_SIMULATOR.port}/v1`);
    assert.match(anthropic.apiKey ?? '', /^vault:[^/#]+\/[^#]+#.+$/, 'vault:<mount>/<path>#<key>');
  });

  it('reads the Anthropic key from the path and key that deploy/vault/seed.sh writes', () => {
    const { mount, path, key, value } = seededAnthropicKey();
    assert.ok(value, `seed.sh writes ${mount}/${path}#${key}`);
    assert.equal(value, ANTHROPIC_SIMULATOR.apiKey, 'the seeded key is the one the Anthropic simulator accepts');
    const mountSeed = bindMounts(services['vault-seed']).find((m) => m.source === 'deploy/vault/seed.sh');
    assert.deepEqual(services['vault-seed'].entrypoint, ['/bin/sh', mountSeed?.target]);
  });

  it('reaches Redis and Vault as compose services, with their credentials', () => {
    const { document } = loadComposeGatewayConfig();
    for (const path of ['cache', 'rateLimit']) {
      const url = new URL(((document[path] as Yaml).redis as Yaml).url as string);
      assert.equal(url.protocol, 'redis:');
      assert.equal(url.hostname, 'redis');
      assert.equal(url.password, gatewayEnv.REDIS_PASSWORD);
    }
    const vault = (document.secrets as Yaml).vault as { address: string; auth: { method: string; token: string } };
    assert.equal(new URL(vault.address).hostname, 'vault');
    assert.equal(vault.auth.token, services.vault.environment?.VAULT_DEV_ROOT_TOKEN_ID);
    assert.equal(services['vault-seed'].environment?.VAULT_TOKEN, services.vault.environment?.VAULT_DEV_ROOT_TOKEN_ID);
  });
});

describe('Prometheus (compose)', () => {
  const prometheus = readYaml<{
    global: { scrape_interval: string };
    rule_files: string[];
    scrape_configs: Array<{
      metrics_path: string;
      static_configs: Array<{ targets: string[]; labels: Record<string, string> }>;
    }>;
  }>('deploy/prometheus/prometheus.yml');

  it('scrapes the gateway port at /metrics with namespace and pod labels, often enough for rate(...[1m])', () => {
    const [job] = prometheus.scrape_configs;
    assert.equal(job.metrics_path, '/metrics');
    assert.deepEqual(job.static_configs[0].targets, [`gateway:${gatewayEnv.PORT}`]);
    assert.ok(job.static_configs[0].labels.namespace && job.static_configs[0].labels.pod);
    assert.ok(seconds(prometheus.global.scrape_interval) <= 30);
  });

  it('loads the rules file through the mounted directory, and not its unit test', () => {
    const rulesMount = bindMounts(services.prometheus).find((m) => m.source === 'deploy/prometheus/rules');
    assert.ok(rulesMount);
    const [pattern] = prometheus.rule_files;
    assert.equal(posix.dirname(pattern), rulesMount.target);
    const glob = new RegExp(`^${posix.basename(pattern).replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}$`);
    assert.ok(glob.test('llm-gateway.rules.yml'));
    assert.ok(!glob.test('llm-gateway.rules.test.yml'));
    const configMount = bindMounts(services.prometheus).find((m) => m.source === 'deploy/prometheus/prometheus.yml');
    assert.equal(configMount?.target, '/etc/prometheus/prometheus.yml');
  });
});

/**
 * The compose gateway config booted for real: the simulators and a Vault simulator seeded as deploy/vault/seed.sh
 * seeds the dev server, on loopback ports instead of the compose hostnames. Redis is not part of this check (its
 * wiring is checked above): the cache's host stays unreachable and serves from L1, and the rate limits run in
 * memory, because the rate-limit Redis clients keep reconnecting after close while Redis is unreachable.
 */
describe('the compose gateway config, booted against the simulators and a seeded Vault', () => {
  const vault = new VaultSimulator({ rootToken: services.vault.environment?.VAULT_DEV_ROOT_TOKEN_ID });
  let simulators: RunningSimulators;
  let app: NestFastifyApplication;
  let base: string;

  before(async () => {
    const { mount, path, key, value } = seededAnthropicKey();
    vault.putSecret(mount, path, { [key]: value });
    simulators = await startSimulators({ SIM_OPENAI_PORT: '0', SIM_ANTHROPIC_PORT: '0' });
    const config = loadGatewayConfig({
      ...gatewayEnv,
      GATEWAY_CONFIG: bindMounts(gateway).find((m) => m.target === gatewayEnv.GATEWAY_CONFIG)!.source,
      OPENAI_BASE_URL: simulators.openAiUrl,
      ANTHROPIC_BASE_URL: simulators.anthropicUrl,
      VAULT_ADDR: await vault.start(0),
    });
    config.rateLimit.redis = undefined;
    app = await createGatewayApp(config, { logLevels: false });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  after(async () => {
    await app?.close();
    await simulators?.stop();
    await vault.stop();
  });

  const chat = (model: string, authorization?: string) =>
    fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }] }),
    });

  it('is ready, and answers through both simulators with the documented gateway key', async () => {
    assert.equal((await fetch(`${base}${GATEWAY_FACTS.readyPath}`)).status, 200);
    const key = `Bearer ${gatewayEnv.GATEWAY_API_KEY}`;
    for (const model of ['gpt-4o-mini', 'claude-haiku']) {
      const response = await chat(model, key);
      assert.equal(response.status, 200, `${model}: ${await response.clone().text()}`);
      const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
      assert.match(body.choices[0].message.content, /^Hello from .+: Hello$/);
    }
  });

  it('exports llm_requests_total{model,status} where Prometheus scrapes it (the HPA metric source)', async () => {
    assert.equal((await chat('gpt-4o-mini', `Bearer ${gatewayEnv.GATEWAY_API_KEY}`)).status, 200);
    const [job] = readYaml<{ scrape_configs: Array<{ metrics_path: string }> }>(
      'deploy/prometheus/prometheus.yml',
    ).scrape_configs;
    const response = await fetch(`${base}${job.metrics_path}`);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(
      text,
      /^llm_requests_total\{(?=[^}]*model="gpt-4o-mini")(?=[^}]*status="200")[^}]*\} [1-9]/m,
      text.slice(0, 2000),
    );
  });

  it('rejects calls without the gateway key', async () => {
    assert.equal((await chat('gpt-4o-mini')).status, 401);
  });
});
