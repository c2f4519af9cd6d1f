/**
 * A redis-server of a test's own, on a free port, that the test may kill, freeze (SIGSTOP) and restart: the shared
 * server at 127.0.0.1:6379 is never touched by fault tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export class RedisInstance {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  /** Starts a server on a free port (or `port`, to come back where a killed one was). */
  static async start(port?: number): Promise<RedisInstance> {
    const instance = new RedisInstance(port ?? (await freePort()));
    await instance.restart();
    return instance;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server again on the same port after `kill`. */
  async restart(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 5_000);
        child.stdout?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('error', reject);
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited (${code}):\n${output}`));
        });
      });
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    // Keep draining its output so the pipe never fills up and blocks it.
    child.stdout?.removeAllListeners('data').resume();
    child.stderr?.resume();
    this.child = child;
  }

  /** Freezes the server: its connections stay open and every command hangs. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}
