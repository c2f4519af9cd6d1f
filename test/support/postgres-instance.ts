/**
 * A PostgreSQL server of a test's own, in a temporary directory on a free port, that the test may kill, freeze
 * (SIGSTOP: connections stay open, every query hangs) and start again: the shared server at 127.0.0.1:5432 is never
 * touched by fault tests. initdb refuses to run as root, so as root the server runs as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-instance.js';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const AS_ROOT = process.getuid?.() === 0;
const SERVER_USER = 'postgres';

/** Runs a PostgreSQL binary as the server's user. */
function pgCommand(binary: string, args: string[]) {
  const command = join(BIN, binary);
  return AS_ROOT ? run('runuser', ['-u', SERVER_USER, '--', command, ...args]) : run(command, args);
}

export class PostgresInstance {
  private constructor(
    readonly port: number,
    private readonly directory: string,
  ) {}

  static async start(): Promise<PostgresInstance> {
    const directory = mkdtempSync(join(tmpdir(), 'llmgw-pg-'));
    chmodSync(directory, 0o700);
    if (AS_ROOT) {
      const { stdout } = await run('id', ['-u', SERVER_USER]);
      const { stdout: gid } = await run('id', ['-g', SERVER_USER]);
      chownSync(directory, Number(stdout.trim()), Number(gid.trim()));
    }
    await pgCommand('initdb', [
      '-D',
      join(directory, 'data'),
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    const instance = new PostgresInstance(await freePort(), directory);
    await instance.restart();
    return instance;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Starts the server (again, after `kill`) on the same port and data. */
  async restart(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.directory} -c fsync=off`;
    await pgCommand('pg_ctl', [
      '-D',
      join(this.directory, 'data'),
      '-o',
      options,
      '-l',
      join(this.directory, 'log'),
      '-w',
      'start',
    ]);
  }

  /** The postmaster and its children (backends, background workers). */
  private pids(): number[] {
    const postmaster = Number(readFileSync(join(this.directory, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const children = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === postmaster;
        } catch {
          return false; // gone meanwhile
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }

  /** Every process of the server stops where it is: connections stay open and nothing answers. */
  freeze(): void {
    this.signal('SIGSTOP');
  }

  thaw(): void {
    this.signal('SIGCONT');
  }

  private signal(signal: NodeJS.Signals): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch (error) {
        // A backend that ended between the listing and the signal.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
  }

  /** Immediate shutdown: every connection is dropped at once, as when the server crashes. */
  async kill(): Promise<void> {
    await pgCommand('pg_ctl', ['-D', join(this.directory, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  async destroy(): Promise<void> {
    try {
      this.thaw();
      await this.kill();
    } catch {
      // already stopped
    }
    rmSync(this.directory, { recursive: true, force: true });
  }
}
