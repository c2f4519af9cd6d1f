/**
 * The real CLIs through the gateway: Claude Code (`claude -p`, Messages front) and Codex (`codex exec`, Responses
 * front) on an OpenAI-, an Anthropic- and an ERNIE-backed model, each served by its simulator. A plain prompt, and a
 * tool-use round trip: the simulated model asks for a harmless shell command, the client runs it in its temp working
 * directory and sends the result back, and the model's last answer quotes it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliSandbox, runClaudeCode } from './cli-runner.js';
import { type RunningGateway, startGateway } from './harness.js';
import { type FleetModel, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 300_000 };
const MODELS: FleetModel[] = ['gpt', 'claude', 'ernie'];
const PROOF_COMMAND = 'echo gateway-ok > proof.txt && cat proof.txt';

const claude = (gateway: RunningGateway, model: string, prompt: string) => runClaudeCode(gateway.url, model, prompt);

async function codex(gateway: RunningGateway, model: string, prompt: string) {
  const sandbox = new CliSandbox();
  try {
    const codexHome = join(sandbox.home, '.codex');
    mkdirSync(codexHome);
    writeFileSync(
      join(codexHome, 'config.toml'),
      [
        `model = "${model}"`,
        'model_provider = "gateway"',
        '[model_providers.gateway]',
        'name = "LLM gateway"',
        `base_url = "${gateway.url}/v1"`,
        'wire_api = "responses"',
        'env_key = "GATEWAY_API_KEY"',
        '',
      ].join('\n'),
    );
    const run = await sandbox.run('codex', ['exec', '--skip-git-repo-check', '--sandbox', 'workspace-write', prompt], {
      CODEX_HOME: codexHome,
      GATEWAY_API_KEY: 'gateway-key',
    });
    assert.ok(!run.timedOut, 'codex ran past its time');
    assert.equal(run.code, 0, run.stderr);
    const proof = join(sandbox.cwd, 'proof.txt');
    return { output: run.stdout, log: run.stderr, proof: existsSync(proof) ? readFileSync(proof, 'utf8') : undefined };
  } finally {
    sandbox.remove();
  }
}

describe('real CLI clients through the gateway', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(fleet.config());
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });

  for (const model of MODELS) {
    describe(`Claude Code on ${model}`, () => {
      it('answers a plain prompt', async () => {
        const before = fleet.upstreamCalls(model);
        const { output } = await claude(gateway, model, 'say hello');
        assert.equal(output.is_error, false, output.result);
        assert.ok(output.result.length > 0);
        assert.ok(fleet.upstreamCalls(model) > before, 'served by the model’s own provider');
      });

      it('runs a tool in its working directory and sends the result back', async () => {
        const prompt = `write the proof\nSIM_TOOL Bash ${JSON.stringify({ command: PROOF_COMMAND, description: 'proof' })}`;
        const { output, proof } = await claude(gateway, model, prompt);
        assert.equal(output.is_error, false, output.result);
        assert.equal(proof, 'gateway-ok\n');
        assert.ok(output.num_turns >= 2);
        assert.match(output.result, /gateway-ok/, 'the tool result reached the model');
      });
    });

    describe(`Codex on ${model}`, () => {
      it('answers a plain prompt', async () => {
        const before = fleet.upstreamCalls(model);
        const { output } = await codex(gateway, model, 'say hello');
        assert.ok(output.trim().length > 0);
        assert.ok(fleet.upstreamCalls(model) > before, 'served by the model’s own provider');
      });

      it('runs a tool in its working directory and sends the result back', async () => {
        const prompt = `write the proof\nSIM_TOOL exec_command ${JSON.stringify({ cmd: PROOF_COMMAND })}`;
        const { output, proof, log } = await codex(gateway, model, prompt);
        assert.equal(proof, 'gateway-ok\n', log);
        assert.match(output, /gateway-ok/, 'the tool result reached the model');
      });
    });
  }
});
