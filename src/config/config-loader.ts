/**
 * Reads the YAML file, substitutes `${ENV_VAR}` (and `${ENV_VAR:-default}`), and validates it.
 */
import { readFileSync } from 'node:fs';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { formatValidationErrors } from '../common/validation/format-errors.js';
import { parse as parseYaml } from 'yaml';
import type { ProviderFactory } from '../providers/llm-provider.js';
import { PROVIDER_FACTORIES } from '../providers/provider-factories.js';
import { checkDocument } from './config-schema.js';
import { GatewayConfig } from './gateway-config.js';

export const DEFAULT_CONFIG_PATH = 'config/gateway.yaml';

/** A YAML syntax error as one problem: where it is, the line itself, and a caret under the column. */
function yamlProblem(text: string, error: Error & { linePos?: Array<{ line: number; col: number }> }): string {
  const [message] = error.message.split(' at line ');
  const position = error.linePos?.[0];
  if (!position) return `(yaml): ${message}`;
  const line = text.split(/\r?\n/)[position.line - 1] ?? '';
  return `(yaml) line ${position.line}, column ${position.col}: ${message}\n      ${line}\n      ${' '.repeat(Math.max(0, position.col - 1))}^`;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid gateway config (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces `${NAME}` / `${NAME:-default}` in the raw text; an unset variable without default is an error. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, missing: string[] = []): string {
  return text.replace(ENV_REFERENCE, (_, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
}

/** Applies {@link substituteEnv} to every string value; `missing` collects `path: ${NAME} is not set` lines. */
export function substituteEnvDeep(value: unknown, env: NodeJS.ProcessEnv, path: string, missing: string[]): unknown {
  if (typeof value === 'string') {
    const names: string[] = [];
    const result = substituteEnv(value, env, names);
    for (const name of names) missing.push(`${path || '(root)'}: environment variable ${name} is not set`);
    return result;
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnvDeep(item, env, `${path}[${i}]`, missing));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = substituteEnvDeep(item, env, path === '' ? key : `${path}.${key}`, missing);
    }
    return out;
  }
  return value;
}

/** Validates a parsed document; cross-references (deployments -> providers, unique names) included. */
export function validateGatewayConfig(
  document: unknown,
  source = 'config',
  factories: readonly ProviderFactory[] = PROVIDER_FACTORIES,
): GatewayConfig {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(source, ['(root): must be a mapping with providers and models']);
  }
  const problems = checkDocument(document, GatewayConfig);
  const providers = (document as { providers?: unknown }).providers;
  const rawOptions = Array.isArray(providers)
    ? providers.map((entry: unknown) => (entry as { options?: unknown } | null)?.options)
    : [];
  const config = plainToInstance(GatewayConfig, document, { exposeDefaultValues: true });
  problems.push(...formatValidationErrors(validateSync(config, { forbidUnknownValues: false })));
  if (problems.length === 0) problems.push(...crossCheck(config), ...checkProviderTypes(config, factories, rawOptions));
  if (problems.length > 0) throw new ConfigError(source, onePerField(problems));
  return config;
}

/** The first problem of each field: `port: eighty` is one line, not one per failed rule. */
function onePerField(problems: string[]): string[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const field = problem.slice(0, problem.indexOf(': '));
    if (seen.has(field)) return false;
    seen.add(field);
    return true;
  });
}

/**
 * Each provider's `type` must be registered; its `options` are checked field by field (unknown keys, booleans,
 * numbers: see config-schema.ts) and validated (and defaulted) by that type's class.
 */
function checkProviderTypes(
  config: GatewayConfig,
  factories: readonly ProviderFactory[],
  rawOptions: unknown[],
): string[] {
  const problems: string[] = [];
  config.providers.forEach((provider, i) => {
    const factory = factories.find((f) => f.type === provider.type);
    if (!factory) {
      const known = factories.map((f) => f.type).join(', ');
      problems.push(`providers[${i}].type: unknown provider type '${provider.type}' (known: ${known})`);
      return;
    }
    const at = `providers[${i}].options`;
    if (!factory.optionsClass) {
      const keys = Object.keys(provider.options ?? {});
      if (keys.length > 0) problems.push(`${at}.${keys[0]}: unknown field (type '${provider.type}' takes no options)`);
      if (!provider.baseUrl) problems.push(`providers[${i}].baseUrl: required for type '${provider.type}'`);
      return;
    }
    problems.push(...checkDocument(rawOptions[i] ?? {}, factory.optionsClass, at));
    const options = plainToInstance(factory.optionsClass, rawOptions[i] ?? {}, { exposeDefaultValues: true });
    problems.push(...formatValidationErrors(validateSync(options), at));
    if (!provider.baseUrl) {
      const derived = factory.defaultBaseUrl?.(options);
      if (derived) provider.baseUrl = derived;
      else problems.push(`providers[${i}].baseUrl: required for type '${provider.type}'`);
    }
    provider.options = options as Record<string, unknown>;
  });
  return problems;
}

function crossCheck(config: GatewayConfig): string[] {
  const problems: string[] = [];
  const providers = new Set<string>();
  config.providers.forEach((provider, i) => {
    if (providers.has(provider.name)) problems.push(`providers[${i}].name: duplicate provider name '${provider.name}'`);
    providers.add(provider.name);
  });
  const models = new Set<string>();
  config.models.forEach((model, i) => {
    if (models.has(model.name)) problems.push(`models[${i}].name: duplicate model name '${model.name}'`);
    models.add(model.name);
    model.deployments.forEach((deployment, j) => {
      if (!providers.has(deployment.provider)) {
        problems.push(`models[${i}].deployments[${j}].provider: unknown provider '${deployment.provider}'`);
      }
    });
    model.fallbacks.forEach((fallback, j) => {
      if (fallback === model.name) problems.push(`models[${i}].fallbacks[${j}]: a model cannot fall back to itself`);
    });
    if (model.deployments.every((d) => d.weight === 0)) {
      problems.push(`models[${i}].deployments: at least one deployment needs a weight above 0`);
    }
  });
  const names = new Set(config.models.map((m) => m.name));
  const keyIds = new Set<string>();
  config.auth.keys.forEach((key, i) => {
    if (keyIds.has(key.id)) problems.push(`auth.keys[${i}].id: duplicate key id '${key.id}'`);
    keyIds.add(key.id);
    key.models?.forEach((model, j) => {
      if (!names.has(model)) problems.push(`auth.keys[${i}].models[${j}]: unknown model '${model}'`);
    });
  });
  for (const model of Object.keys(config.rateLimit.perModel ?? {})) {
    if (!names.has(model)) problems.push(`rateLimit.perModel.${model}: unknown model '${model}'`);
  }
  config.models.forEach((model, i) => {
    model.fallbacks.forEach((fallback, j) => {
      if (!names.has(fallback)) problems.push(`models[${i}].fallbacks[${j}]: unknown model '${fallback}'`);
    });
  });
  return problems;
}

/** Loads the file named by GATEWAY_CONFIG (default config/gateway.yaml) and applies env overrides. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const path = env.GATEWAY_CONFIG || DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (code === 'ENOENT' && !env.GATEWAY_CONFIG) {
      throw new ConfigError(path, [
        `(file): there is no ${DEFAULT_CONFIG_PATH}. Copy config/gateway.minimal.yaml (one OpenAI provider from ` +
          'OPENAI_API_KEY, one key from GATEWAY_API_KEY) or config/gateway.example.yaml (every field, commented) ' +
          `to ${DEFAULT_CONFIG_PATH}, or point GATEWAY_CONFIG at your file`,
      ]);
    }
    throw new ConfigError(path, [`(file): cannot read: ${code}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw new ConfigError(path, [
      yamlProblem(text, error as Error & { linePos?: Array<{ line: number; col: number }> }),
    ]);
  }
  const missing: string[] = [];
  document = substituteEnvDeep(document, env, '', missing);
  if (missing.length > 0) throw new ConfigError(path, missing);
  const config = validateGatewayConfig(document, path);
  if (env.PORT) {
    const port = Number(env.PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new ConfigError(path, [`PORT: must be a port number (0-65535), got '${env.PORT}'`]);
    }
    config.server.port = port;
  }
  if (env.HOST) config.server.host = env.HOST;
  return config;
}
