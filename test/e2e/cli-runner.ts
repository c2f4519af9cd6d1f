/**
 * Runs a real client's CLI (Claude Code, Codex) from node_modules in a temp HOME and working directory of its own,
 * stdin closed, bounded in time (killed by PID when it overruns), and removes both directories afterwards.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
