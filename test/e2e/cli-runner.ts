/**
 * Runs a real client's CLI (Claude Code, Codex) from node_modules in a temp HOME and working directory of its own,
 * stdin closed, bounded in time (killed by PID when it overruns), and removes both directories afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../../../node_modules/.bin/', import.meta.url).pathname;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed for running past its time. */
  timedOut: boolean;
}

export class CliSandbox {
  readonly home = mkdtempSync(join(tmpdir(), 'gw-cli-home-'));
  readonly cwd = mkdtempSync(join(tmpdir(), 'gw-cli-work-'));

  run(binary: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(BIN, binary), args, {
        cwd: this.cwd,
        // Only what the client needs: nothing of this machine's own configuration or keys.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.home, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, timedOut });
      });
    });
  }

  remove(): void {
    rmSync(this.home, { recursive: true, force: true });
    rmSync(this.cwd, { recursive: true, force: true });
  }
}

/** What `claude -p --output-format json` prints. */
export interface ClaudeResult {
  is_error: boolean;
  result: string;
  num_turns: number;
}

/**
 * Runs Claude Code once against the gateway at `baseUrl` with every model alias set to `model` (so each call names
 * a configured model), Bash allowed; returns its JSON result and the `proof.txt` its tool wrote, if any.
 */
export async function runClaudeCode(
  baseUrl: string,
  model: string,
  prompt: string,
  extraEnv: Record<string, string> = {},
): Promise<{ output: ClaudeResult; proof: string | undefined }> {
  const sandbox = new CliSandbox();
  try {
    const run = await sandbox.run(
      'claude',
      ['-p', prompt, '--model', model, '--output-format', 'json', '--allowedTools', 'Bash'],
      {
        ANTHROPIC_BASE_URL: baseUrl,
        ANTHROPIC_API_KEY: 'gateway-key',
        ANTHROPIC_DEFAULT_HAIKU_MODEL: model,
        ANTHROPIC_DEFAULT_SONNET_MODEL: model,
        ANTHROPIC_DEFAULT_OPUS_MODEL: model,
        ANTHROPIC_SMALL_FAST_MODEL: model,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        ...extraEnv,
      },
    );
    assert.ok(!run.timedOut, 'claude ran past its time');
    assert.equal(run.code, 0, run.stderr || run.stdout);
    const proof = join(sandbox.cwd, 'proof.txt');
    return {
      output: JSON.parse(run.stdout) as ClaudeResult,
      proof: existsSync(proof) ? readFileSync(proof, 'utf8') : undefined,
    };
  } finally {
    sandbox.remove();
  }
}
