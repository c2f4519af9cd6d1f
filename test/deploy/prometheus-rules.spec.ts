/**
 * The recording rule behind the HPA metric, with promtool: `check rules` and the unit test
 * (deploy/prometheus/rules/llm-gateway.rules.test.yml), `check config` of the compose Prometheus, and a check of
 * the chart's PrometheusRule rules. promtool comes from Debian's `prometheus` package; missing while CI=true it
 * is a failure, elsewhere the checks are skipped.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { commandExists, IN_CI, outputOf, readYaml, repoPath, run, valueAt, type Yaml } from './deploy-files.js';

const RULES = 'deploy/prometheus/rules/llm-gateway.rules.yml';
const RULES_TEST = 'deploy/prometheus/rules/llm-gateway.rules.test.yml';
const PROMTOOL = commandExists('promtool');

/** False (and the test skipped) when promtool is missing outside CI; a failure in CI. */
function promtoolAvailable(t: TestContext): boolean {
  if (PROMTOOL) return true;
  assert.ok(!IN_CI, 'promtool is required in CI (Debian package `prometheus`; see scripts/check-deploy-tools.sh)');
  t.skip('promtool is not installed (apt-get install prometheus, or scripts/check-deploy-tools.sh --install)');
  return false;
}

function promtool(args: string[]): void {
  const result = run('promtool', args, { timeout: 60_000 });
  assert.equal(result.status, 0, outputOf(result));
}

describe('Prometheus rules', () => {
  it('records llm_requests_per_second per namespace and pod from llm_requests_total', () => {
    const rules = readYaml<{ groups: Array<{ rules: Array<{ record: string; expr: string }> }> }>(RULES);
    const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.record === 'llm_requests_per_second');
    assert.ok(rule);
    assert.match(rule.expr, /^sum by \(namespace, pod\) \(rate\(llm_requests_total\[1m\]\)\)$/);
  });

  it('promtool check rules', (t) => {
    if (promtoolAvailable(t)) promtool(['check', 'rules', repoPath(RULES)]);
  });

  it('promtool test rules (per-pod rates, counter reset, namespaces kept apart)', (t) => {
    // promtool resolves rule_files relative to the working directory.
    if (!promtoolAvailable(t)) return;
    const result = run('promtool', ['test', 'rules', basename(RULES_TEST)], {
      cwd: repoPath(dirname(RULES_TEST)),
      timeout: 60_000,
    });
    assert.equal(result.status, 0, outputOf(result));
  });

  it('promtool check config (compose Prometheus)', (t) => {
    if (promtoolAvailable(t))
      promtool(['check', 'config', '--syntax-only', repoPath('deploy/prometheus/prometheus.yml')]);
  });

  it('promtool check rules on the chart PrometheusRule rules', (t) => {
    if (!promtoolAvailable(t)) return;
    const values = readYaml<Yaml>('helm/llm-gateway/values.yaml');
    const file = join(mkdtempSync(join(tmpdir(), 'chart-rules-')), 'chart.rules.yml');
    writeFileSync(
      file,
      stringify({ groups: [{ name: 'llm-gateway', rules: valueAt(values, 'metrics.prometheusRule.rules') }] }),
    );
    promtool(['check', 'rules', file]);
  });
});
