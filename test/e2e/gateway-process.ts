/** Runs the real gateway process (`node dist/src/main.js`) on a config written to a temp dir, for shutdown tests. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process printed so far. */
  output(): string;
}

/** Starts the process and resolves once it logged its address; `config` is YAML, one line per entry. */
export async function spawnGateway(config: string[]): Promise<GatewayProcess> {
  const configPath = join(mkdtempSync(join(tmpdir(), 'gw-process-')), 'gateway.yaml');
  writeFileSync(configPath, config.join('\n'));
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { ...process.env, GATEWAY_CONFIG: configPath, PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => (output += text));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 10_000);
    child.stdout.on('data', (text: string) => {
      output += text;
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output}`)));
  });
  return { child, url, output: () => output };
}
