/**
 * helm/llm-gateway: values and ci/*-values.yaml parse and pass values.schema.json (ajv); every value is
 * documented with `## @param`; templates reference only values that exist and helpers that are defined; the
 * values agree with the code (port, probe paths, drain time, gateway config validation) and with the compose
 * stack (recording rule, config path); the HPA, PDB, rollout and security defaults are the ones the issue asks for.
 * `helm lint` and `helm template | kubeconform -strict` run where helm and kubeconform are installed.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { substituteEnvDeep, validateGatewayConfig } from '../../src/config/config-loader.js';
import {
  commandExists,
  execForm,
  GATEWAY_FACTS,
  isMap,
  lastInstruction,
  listFiles,
  mergeHelmValues,
  outputOf,
  parseDockerfile,
  readText,
  readYaml,
  requiredEnvReferences,
  run,
  stageNamed,
  unknownGatewayConfigFields,
  valueAt,
  type Yaml,
} from './deploy-files.js';

const CHART = 'helm/llm-gateway';
const values = readYaml<Yaml>(`${CHART}/values.yaml`);
const ciFiles = listFiles(`${CHART}/ci`).filter((f) => f.endsWith('-values.yaml'));
const templates = listFiles(`${CHART}/templates`);
const templateText = new Map(templates.map((f) => [f, readText(f)]));

/** values.yaml and each ci file merged over it, as Helm would install them. */
const valueSets: Array<{ name: string; values: Yaml }> = [
  { name: 'values.yaml', values },
  ...ciFiles.map((file) => ({ name: file, values: mergeHelmValues(values, readYaml<Yaml>(file)) })),
];

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

let compiledSchema: ValidateFunction | undefined;

/** values.schema.json compiled once, inside a test so that a broken schema fails that test. */
function schemaValidator(): ValidateFunction {
  if (!compiledSchema) {
    const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
    compiledSchema = ajv.compile(JSON.parse(readText(`${CHART}/values.schema.json`)) as object);
  }
  return compiledSchema;
}

function errorsOf(validate: ValidateFunction, data: unknown): string {
  validate(data);
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)
    .join('\n');
}

describe('chart files', () => {
  it('has a v2 Chart.yaml whose appVersion is the gateway version', () => {
    const chart = readYaml<Yaml>(`${CHART}/Chart.yaml`);
    const packageJson = JSON.parse(readText('package.json')) as { version: string };
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'llm-gateway');
    assert.match(String(chart.version), /^\d+\.\d+\.\d+$/);
    assert.equal(chart.appVersion, packageJson.version);
  });

  it('parses values.yaml and the ci/*-values.yaml files', () => {
    assert.ok(
      ciFiles.some((f) => f.endsWith('/default-values.yaml')) && ciFiles.some((f) => f.endsWith('/full-values.yaml')),
    );
    for (const file of [`${CHART}/values.yaml`, ...ciFiles]) assert.ok(isMap(readYaml(file)), file);
  });

  it('has the templates the issue lists', () => {
    for (const name of [
      '_helpers.tpl',
      'NOTES.txt',
      'deployment.yaml',
      'service.yaml',
      'configmap.yaml',
      'secret.yaml',
      'serviceaccount.yaml',
      'hpa.yaml',
      'pdb.yaml',
      'servicemonitor.yaml',
      'prometheusrule.yaml',
      'prometheus-adapter-configmap.yaml',
      'virtualservice.yaml',
    ]) {
      assert.ok(templateText.has(`${CHART}/templates/${name}`), name);
    }
  });
});

describe('values.schema.json', () => {
  it('compiles under ajv strict mode (draft-07, as Helm reads it)', () => {
    const schema = JSON.parse(readText(`${CHART}/values.schema.json`)) as { $schema: string };
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    schemaValidator();
  });

  for (const { name, values: set } of valueSets) {
    it(`accepts ${name}`, () => {
      assert.equal(errorsOf(schemaValidator(), set), '');
    });
  }

  it('rejects typos, privileged ports, root and out-of-range weights', () => {
    const rejected: Array<[string, Yaml]> = [
      ['unknown top-level key', { autoscalling: { enabled: true } }],
      ['unknown nested key', { autoscaling: { minReplica: 1 } }],
      ['privileged port', { containerPorts: { http: 80 } }],
      ['root', { podSecurityContext: { runAsNonRoot: false } }],
      ['privilege escalation', { securityContext: { allowPrivilegeEscalation: true } }],
      ['canary weight', { canary: { istio: { canaryWeight: 150 } } }],
      ['no providers', { gatewayConfig: { providers: [] } }],
      ['probe path', { readinessProbe: { httpGet: { path: 'health/ready' } } }],
      ['env var name', { providerSecret: { env: { 'OPENAI-KEY': 'x' } } }],
    ];
    for (const [what, override] of rejected) {
      assert.notEqual(errorsOf(schemaValidator(), mergeHelmValues(values, override)), '', what);
    }
  });
});

/** Leaf paths of values.yaml; maps are walked, anything else (lists, scalars, empty maps) is a leaf. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (!isMap(value) || Object.keys(value).length === 0) return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix === '' ? key : `${prefix}.${key}`));
}

describe('values.yaml documentation', () => {
  const params = new Map<string, string>();
  for (const match of readText(`${CHART}/values.yaml`).matchAll(/^\s*## @param (\S+)( \[(?:object|array)\])?/gm)) {
    params.set(match[1], match[2] ? 'free-form' : 'leaf');
  }
  const freeForm = [...params].filter(([, kind]) => kind === 'free-form').map(([path]) => path);

  it('documents every value with ## @param (free-form ones as [object] / [array])', () => {
    const undocumented = leafPaths(values).filter(
      (path) => !params.has(path) && !freeForm.some((parent) => path.startsWith(`${parent}.`)),
    );
    assert.deepEqual(undocumented, []);
  });

  it('documents only values that exist', () => {
    assert.deepEqual(
      [...params.keys()].filter((path) => valueAt(values, path) === undefined),
      [],
    );
  });
});

describe('templates', () => {
  const sources = [...templateText.values()].join('\n');

  it('reference only values that exist in values.yaml', () => {
    const unknown = new Set<string>();
    for (const [file, text] of templateText) {
      for (const match of text.matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        const path = match[1].slice(1);
        if (valueAt(values, path) === undefined) unknown.add(`${file}: .Values.${path}`);
      }
    }
    assert.deepEqual([...unknown], []);
  });

  it('include only defined helpers, and define none that is unused', () => {
    const defined = new Set([...sources.matchAll(/\{\{-?\s*define "([^"]+)"/g)].map((m) => m[1]));
    const included = new Set([...sources.matchAll(/\binclude "([^"]+)"/g)].map((m) => m[1]));
    assert.deepEqual(
      [...included].filter((name) => !defined.has(name)),
      [],
      'undefined helpers',
    );
    assert.deepEqual(
      [...defined].filter((name) => !included.has(name)),
      [],
      'unused helpers',
    );
  });

  it('close every if / with / range / define block', () => {
    for (const [file, text] of templateText) {
      const opened = [...text.matchAll(/\{\{-?\s*(?:if|with|range|define|block)\b/g)].length;
      const closed = [...text.matchAll(/\{\{-?\s*end\s*-?\}\}/g)].length;
      assert.equal(opened, closed, file);
    }
  });

  it('roll the pods when the config or the keys change (checksum annotations)', () => {
    const deployment = templateText.get(`${CHART}/templates/deployment.yaml`)!;
    assert.match(
      deployment,
      /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/,
    );
    assert.match(
      deployment,
      /checksum\/secret: \{\{ include \(print \$\.Template\.BasePath "\/secret\.yaml"\) \. \| sha256sum \}\}/,
    );
    assert.match(
      templateText.get(`${CHART}/templates/configmap.yaml`)!,
      /gateway\.yaml: \|\n\s+\{\{- toYaml \.Values\.gatewayConfig/,
    );
  });

  it('point GATEWAY_CONFIG at the mounted ConfigMap, the same path compose uses', () => {
    const helpers = templateText.get(`${CHART}/templates/_helpers.tpl`)!;
    const configDir = /define "llm-gateway\.configDir" -\}\}\n(\S+)\n/.exec(helpers)?.[1];
    const deployment = templateText.get(`${CHART}/templates/deployment.yaml`)!;
    assert.match(
      deployment,
      /- name: GATEWAY_CONFIG\n\s+value: \{\{ include "llm-gateway\.configDir" \. \}\}\/gateway\.yaml/,
    );
    assert.match(deployment, /- name: config\n\s+mountPath: \{\{ include "llm-gateway\.configDir" \. \}\}/);
    const compose = readYaml<{ services: { gateway: { environment: Record<string, string> } } }>('docker-compose.yml');
    assert.equal(`${configDir}/gateway.yaml`, compose.services.gateway.environment.GATEWAY_CONFIG);
  });

  it('run preStop with the node binary of the image (distroless has no sleep)', () => {
    const runtime = stageNamed(parseDockerfile(readText('Dockerfile')), 'runtime');
    const node = execForm(lastInstruction(runtime, 'ENTRYPOINT')!.args)!.at(-1);
    assert.match(
      templateText.get(`${CHART}/templates/deployment.yaml`)!,
      new RegExp(`command: \\["${node}", "-e", "setTimeout`),
    );
  });
});

describe('values agree with the code and the compose stack', () => {
  it('listen, probe and scrape where the gateway serves', () => {
    assert.equal(valueAt(values, 'containerPorts.http'), GATEWAY_FACTS.port);
    for (const { name, values: set } of valueSets) {
      const port = valueAt(set, 'gatewayConfig.server.port');
      assert.ok(
        port === undefined || port === valueAt(set, 'containerPorts.http'),
        `${name}: server.port is set by PORT`,
      );
      assert.equal(valueAt(set, 'startupProbe.httpGet.path'), GATEWAY_FACTS.livePath, name);
      assert.equal(valueAt(set, 'livenessProbe.httpGet.path'), GATEWAY_FACTS.livePath, name);
      assert.equal(valueAt(set, 'readinessProbe.httpGet.path'), GATEWAY_FACTS.readyPath, name);
      assert.equal(
        valueAt(set, 'metrics.path'),
        readYaml<{ scrape_configs: Array<{ metrics_path: string }> }>('deploy/prometheus/prometheus.yml')
          .scrape_configs[0].metrics_path,
      );
    }
  });

  for (const { name, values: set } of valueSets) {
    it(`${name}: gatewayConfig passes the gateway validation, with every \${VAR} provided to the pod`, (t) => {
      const config = valueAt(set, 'gatewayConfig');
      const required = requiredEnvReferences(config);
      const provided = new Set([
        ...Object.keys((valueAt(set, 'providerSecret.env') as Yaml | undefined) ?? {}),
        ...((valueAt(set, 'extraEnv') as Array<{ name: string }>) ?? []).map((e) => e.name),
        'PORT',
        'POD_NAME',
        'POD_NAMESPACE',
      ]);
      const existingSecret = valueAt(set, 'providerSecret.existingSecret');
      const absent = [...required].filter((v) => !provided.has(v));
      if (existingSecret) t.diagnostic(`expected in Secret ${JSON.stringify(existingSecret)}: ${absent.join(', ')}`);
      else assert.deepEqual(absent, [], 'referenced in gatewayConfig but not set by providerSecret.env or extraEnv');
      // The chart's values where it sets them (a REDIS_URL must be a URL), a placeholder for keys it leaves empty.
      const given: Record<string, unknown> = {
        ...Object.fromEntries(
          ((valueAt(set, 'extraEnv') as Array<{ name: string; value?: string }>) ?? []).map((e) => [e.name, e.value]),
        ),
        ...((valueAt(set, 'providerSecret.env') as Yaml | undefined) ?? {}),
      };
      const env = Object.fromEntries(
        [...required].map((v) => [
          v,
          typeof given[v] === 'string' && given[v] ? given[v] : `placeholder-${v.toLowerCase()}-0123456789`,
        ]),
      );
      const missing: string[] = [];
      const document = substituteEnvDeep(config, env, '', missing);
      assert.deepEqual(missing, []);
      validateGatewayConfig(structuredClone(document), `${name} gatewayConfig`);
      assert.deepEqual(unknownGatewayConfigFields(document), [], 'fields the config classes do not declare');
    });
  }

  it('point Vault Kubernetes auth at the projected token when the chart mounts one', () => {
    for (const { name, values: set } of valueSets) {
      const auth = valueAt(set, 'gatewayConfig.secrets.vault.auth') as
        { method?: string; jwtPath?: string } | undefined;
      if (valueAt(set, 'vault.tokenProjection.enabled') === true) {
        assert.equal(auth?.method, 'kubernetes', name);
        assert.equal(auth?.jwtPath, `${String(valueAt(set, 'vault.tokenProjection.mountPath'))}/token`, name);
      } else if (auth?.method === 'kubernetes' && auth.jwtPath === undefined) {
        assert.equal(
          valueAt(set, 'serviceAccount.automountToken'),
          true,
          `${name}: the default token path needs automountToken`,
        );
      }
    }
  });

  it('give the pod more time than preStop + drain + the shutdown tail before SIGKILL', () => {
    for (const { name, values: set } of valueSets) {
      const drainMs =
        (valueAt(set, 'gatewayConfig.server.drainTimeoutMs') as number | undefined) ?? GATEWAY_FACTS.drainTimeoutMs;
      const grace = valueAt(set, 'terminationGracePeriodSeconds') as number;
      const preStop = valueAt(set, 'preStopSleepSeconds') as number;
      assert.ok(preStop >= 3, `${name}: preStop leaves endpoints time to update`);
      const needed = preStop + Math.ceil((drainMs + GATEWAY_FACTS.shutdownTailMs) / 1000);
      assert.ok(grace >= needed, `${name}: ${grace} s >= ${preStop} s + ${drainMs} ms + the shutdown tail`);
    }
  });

  it('record llm_requests_per_second with the rule the compose Prometheus uses', () => {
    const compose = readYaml<{ groups: Array<{ rules: unknown[] }> }>('deploy/prometheus/rules/llm-gateway.rules.yml');
    assert.deepEqual(valueAt(values, 'metrics.prometheusRule.rules'), compose.groups[0].rules);
  });

  it('serve the HPA metric from prometheus-adapter with the same query as the recording rule', () => {
    const [rule] = valueAt(values, 'prometheusAdapter.rules') as Array<{
      seriesQuery: string;
      name: { as: string };
      metricsQuery: string;
    }>;
    const [recording] = valueAt(values, 'metrics.prometheusRule.rules') as Array<{ record: string; expr: string }>;
    assert.equal(rule.name.as, valueAt(values, 'autoscaling.requestsPerSecond.metricName'));
    assert.equal(recording.record, rule.name.as);
    const counter = /^([a-z_]+)\{/.exec(rule.seriesQuery)?.[1];
    const rendered = rule.metricsQuery
      .replace('<<.GroupBy>>', 'namespace, pod')
      .replace('<<.Series>>', String(counter))
      .replace('{<<.LabelMatchers>>}', '');
    const normalise = (query: string) => query.replace(/\s+/g, '');
    assert.equal(normalise(rendered), normalise(recording.expr));
  });

  it('scrape often enough for rate(...[1m])', () => {
    const interval = String(valueAt(values, 'metrics.serviceMonitor.interval'));
    assert.ok(Number(/^(\d+)s$/.exec(interval)?.[1]) <= 30, interval);
  });
});

describe('defaults the issue asks for', () => {
  it('autoscale 2-10 on CPU 70% and llm_requests_per_second 500, scaling down one pod at a time', () => {
    assert.deepEqual(
      [
        valueAt(values, 'autoscaling.enabled'),
        valueAt(values, 'autoscaling.minReplicas'),
        valueAt(values, 'autoscaling.maxReplicas'),
        valueAt(values, 'autoscaling.targetCPUUtilizationPercentage'),
        valueAt(values, 'autoscaling.requestsPerSecond.enabled'),
        valueAt(values, 'autoscaling.requestsPerSecond.metricName'),
        valueAt(values, 'autoscaling.requestsPerSecond.averageValue'),
      ],
      [true, 2, 10, 70, true, 'llm_requests_per_second', '500'],
    );
    const scaleDown = valueAt(values, 'autoscaling.behavior.scaleDown') as {
      stabilizationWindowSeconds: number;
      policies: Array<{ type: string; value: number; periodSeconds: number }>;
    };
    assert.equal(scaleDown.stabilizationWindowSeconds, 300);
    for (const policy of scaleDown.policies) {
      assert.deepEqual([policy.type, policy.value], ['Pods', 1]);
      assert.ok(policy.periodSeconds >= 60 && policy.periodSeconds <= 120);
    }
  });

  it('roll out one new pod before an old one goes, and budget disruptions', () => {
    assert.deepEqual(valueAt(values, 'updateStrategy'), {
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    assert.equal(valueAt(values, 'pdb.create'), true);
  });

  it('run non-root with a read-only root filesystem, no capabilities and the default seccomp profile', () => {
    const runtime = stageNamed(parseDockerfile(readText('Dockerfile')), 'runtime');
    const [uid] = (lastInstruction(runtime, 'USER')?.args ?? '').split(':');
    assert.equal(valueAt(values, 'podSecurityContext.runAsNonRoot'), true);
    assert.equal(String(valueAt(values, 'podSecurityContext.runAsUser')), uid, 'the image user');
    assert.equal(valueAt(values, 'podSecurityContext.seccompProfile.type'), 'RuntimeDefault');
    assert.equal(valueAt(values, 'securityContext.readOnlyRootFilesystem'), true);
    assert.equal(valueAt(values, 'securityContext.allowPrivilegeEscalation'), false);
    assert.deepEqual(valueAt(values, 'securityContext.capabilities.drop'), ['ALL']);
    assert.equal(valueAt(values, 'securityContext.seccompProfile.type'), 'RuntimeDefault');
  });
});

describe('helm and kubeconform', { timeout: 10 * 60_000 }, () => {
  const helm = commandExists('helm');
  const kubeconform = commandExists('kubeconform');
  const valueArgs = (file: string | undefined) => (file ? ['--values', file] : []);

  for (const file of [undefined, ...ciFiles]) {
    const label = file ?? 'values.yaml';
    it(`helm lint --strict (${label})`, (t) => {
      if (!helm) {
        t.skip('helm is not installed');
        return;
      }
      const result = run('helm', ['lint', CHART, '--strict', ...valueArgs(file)], { timeout: 120_000 });
      assert.equal(result.status, 0, outputOf(result));
    });

    it(`helm template | kubeconform -strict (${label})`, (t) => {
      if (!helm || !kubeconform) {
        t.skip(`${[!helm && 'helm', !kubeconform && 'kubeconform'].filter(Boolean).join(' and ')} not installed`);
        return;
      }
      const rendered = run('helm', ['template', 'llm-gateway', CHART, ...valueArgs(file)], { timeout: 120_000 });
      assert.equal(rendered.status, 0, outputOf(rendered));
      // CRDs (ServiceMonitor, PrometheusRule, VirtualService) are checked where a schema location for them is given.
      const extraSchemas = process.env.KUBECONFORM_SCHEMA_LOCATION
        ? ['-schema-location', 'default', '-schema-location', process.env.KUBECONFORM_SCHEMA_LOCATION]
        : [];
      const result = run('kubeconform', ['-strict', '-summary', '-ignore-missing-schemas', ...extraSchemas], {
        input: rendered.stdout,
        timeout: 120_000,
      });
      assert.equal(result.status, 0, outputOf(result));
    });
  }
});
