/**
 * Shared helpers of the deployment checks (test/deploy/*.spec.ts): repository paths, YAML reading, Helm-style
 * value merging, compose-style interpolation, `${VAR}` references, and optional external tools.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATH_METADATA } from '@nestjs/common/constants.js';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { formatValidationErrors } from '../../src/common/validation/format-errors.js';
import { GatewayConfig, ServerConfig } from '../../src/config/gateway-config.js';
import { HealthController } from '../../src/health/health.controller.js';
import { SHUTDOWN_TAIL_MS } from '../../src/lifecycle/traffic.service.js';

/** Compiled to dist/test/deploy/, three levels below the repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CHART_DIR = join(REPO_ROOT, 'helm/llm-gateway');
export const IN_CI = process.env.CI === 'true';

export function repoPath(path: string): string {
  return join(REPO_ROOT, path);
}

export function readText(path: string): string {
  return readFileSync(repoPath(path), 'utf8');
}

/** Parses one YAML document; duplicate keys and other errors throw with the file name. */
export function readYaml<T = unknown>(path: string): T {
  const text = readText(path);
  try {
    return parseYaml(text, { uniqueKeys: true, prettyErrors: true }) as T;
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Files below `dir` (repository-relative), recursively, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(repoPath(dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(path));
    else out.push(relative(REPO_ROOT, repoPath(path)));
  }
  return out.sort();
}

/** What the deployment files must agree with, taken from the code. */
export const GATEWAY_FACTS = {
  port: new ServerConfig().port,
  drainTimeoutMs: new ServerConfig().drainTimeoutMs,
  /** How long the process may take past the drain deadline to exit (see TrafficService). */
  shutdownTailMs: SHUTDOWN_TAIL_MS,
  livePath: routeOf('live'),
  readyPath: routeOf('ready'),
};

/** The HTTP path of a HealthController method, from Nest's route metadata. */
function routeOf(method: 'live' | 'ready'): string {
  const base = String(Reflect.getMetadata(PATH_METADATA, HealthController));
  const handler = Object.getOwnPropertyDescriptor(HealthController.prototype, method)?.value as object;
  const path = String(Reflect.getMetadata(PATH_METADATA, handler));
  return `/${[base, path]
    .map((part) => part.replace(/^\/+|\/+$/g, ''))
    .filter(Boolean)
    .join('/')}`;
}

export type Yaml = Record<string, unknown>;

export function isMap(value: unknown): value is Yaml {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The value at a dotted path (`a.b.c`), or undefined. */
export function valueAt(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const key of path.split('.')) {
    if (!isMap(current) || !(key in current)) return undefined;
    current = current[key];
  }
  return current;
}

/** Helm's merge of a values file over the chart defaults: maps merge deeply, anything else replaces, null deletes. */
export function mergeHelmValues(base: Yaml, override: Yaml): Yaml {
  const out: Yaml = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(out[key])) out[key] = mergeHelmValues(out[key], value);
    else out[key] = structuredClone(value);
  }
  return out;
}

/** Docker Compose interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `$$`. */
export function interpolateCompose(text: string, env: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (match, name: string | undefined, operator: string | undefined, operand: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name as string];
      const unsetOrEmpty = value === undefined || (operator?.startsWith(':') === true && value === '');
      if (operator?.endsWith('-') && unsetOrEmpty) return operand ?? '';
      if (operator?.endsWith('?') && unsetOrEmpty) throw new Error(`compose: ${name} is required: ${operand}`);
      return value ?? '';
    },
  );
}

/** Applies {@link interpolateCompose} to every string in a parsed compose document. */
export function interpolateComposeDeep<T>(value: T, env: Record<string, string | undefined>): T {
  if (typeof value === 'string') return interpolateCompose(value, env) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolateComposeDeep(item, env)) as T;
  if (isMap(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateComposeDeep(v, env)])) as T;
  }
  return value;
}

/** `${NAME}` references without a default in the gateway config's strings: the pod must set these. */
export function requiredEnvReferences(value: unknown): Set<string> {
  const required = new Set<string>();
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      for (const match of item.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) {
        if (match[2] === undefined) required.add(match[1]);
      }
    } else if (Array.isArray(item)) item.forEach(visit);
    else if (isMap(item)) Object.values(item).forEach(visit);
  };
  visit(value);
  return required;
}

/**
 * Fields the gateway config classes do not declare. The loader ignores them, so a misspelt optional field
 * (`jwtpath`) would silently fall back to its default; the deployment files must not contain any.
 */
export function unknownGatewayConfigFields(document: unknown): string[] {
  const config = plainToInstance(GatewayConfig, document, {
    exposeDefaultValues: true,
    enableImplicitConversion: true,
  });
  const errors = validateSync(config, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  // Only keys written in the document: declared-but-undecorated class fields (runtime hooks) are not typos.
  return formatValidationErrors(errors).filter(
    (line) => line.endsWith('should not exist') && documentHas(document, line.slice(0, line.indexOf(': '))),
  );
}

/** Whether `path` (`a.b[0].c`, as formatValidationErrors writes it) names a key present in the document. */
function documentHas(document: unknown, path: string): boolean {
  let current: unknown = document;
  for (const [, key, index] of path.matchAll(/\.?([^.[\]]+)|\[(\d+)\]/g)) {
    if (index !== undefined) {
      if (!Array.isArray(current) || Number(index) >= current.length) return false;
      current = current[Number(index)];
    } else {
      if (!isMap(current) || !Object.hasOwn(current, key)) return false;
      current = current[key];
    }
  }
  return true;
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: Error;
}

export function run(command: string, args: string[], options: SpawnSyncOptions = {}): CommandResult {
  const result = spawnSync(command, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  return {
    status: result.status,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    error: result.error,
  };
}

export function commandExists(name: string): boolean {
  return run('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** Why Docker cannot build here, or undefined when a Docker engine answers. */
export function dockerUnavailableReason(): string | undefined {
  if (!commandExists('docker')) return 'docker is not installed';
  const info = run('docker', ['info'], { timeout: 20_000 });
  return info.status === 0 ? undefined : 'docker is installed but no Docker engine answers (`docker info` failed)';
}

/** Output for an assertion message: the command's stdout and stderr, trimmed. */
export function outputOf(result: CommandResult): string {
  return `${result.error?.message ?? ''}\n${result.stdout}\n${result.stderr}`.trim();
}

export interface DockerInstruction {
  keyword: string;
  args: string;
}

export interface DockerStage {
  name: string;
  base: string;
  instructions: DockerInstruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Map<string, string>;
  stages: DockerStage[];
}

/** Splits a Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(`${pending}${line}`.trim());
    pending = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args.replace(/--platform=\S+\s+/, ''));
      if (!match) throw new Error(`Dockerfile: cannot parse FROM ${args}`);
      stages.push({ base: match[1], name: match[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      if (upper === 'ARG') {
        const [name, value = ''] = args.split('=');
        globalArgs.set(name, value);
      }
    } else {
      stages[stages.length - 1].instructions.push({ keyword: upper, args });
    }
  }
  return { globalArgs, stages };
}

export function stageNamed(dockerfile: Dockerfile, name: string): DockerStage {
  const stage = dockerfile.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`Dockerfile has no stage '${name}'`);
  return stage;
}

/** The JSON array of an exec-form ENTRYPOINT/CMD, or undefined for shell form. */
export function execForm(args: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(args);
    return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The last instruction with this keyword in a stage (Docker uses the last ENTRYPOINT / CMD / USER). */
export function lastInstruction(stage: DockerStage, keyword: string): DockerInstruction | undefined {
  return stage.instructions.filter((i) => i.keyword === keyword).at(-1);
}
