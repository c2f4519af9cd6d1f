/**
 * Secret references: how a credential in the gateway config says where its value lives.
 *
 *   sk-live-…                          a literal value
 *   env:OPENAI_API_KEY                 an environment variable
 *   file:/run/secrets/openai           a file's content, trimmed
 *   vault:secret/llm/openai#api_key    a key of a Vault KV v2 secret: mount `secret`, path `llm/openai`
 *
 * Messages name the reference (`describeSecretReference`), never a value: a literal is "a literal value".
 */
import { readFileSync } from 'node:fs';

export type SecretReference =
  | { kind: 'literal'; value: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'vault'; mount: string; path: string; key: string };

/** A reference read from the local machine, synchronously. */
export type LocalSecretReference = Extract<SecretReference, { kind: 'literal' | 'env' | 'file' }>;

export class SecretReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretReferenceError';
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a config value; throws SecretReferenceError when an `env:`, `file:` or `vault:` reference is malformed. */
export function parseSecretReference(value: string): SecretReference {
  if (value.startsWith('env:')) {
    const name = value.slice('env:'.length);
    if (!ENV_NAME.test(name)) throw new SecretReferenceError(`${value}: expected env:NAME with a valid variable name`);
    return { kind: 'env', name };
  }
  if (value.startsWith('file:')) {
    const path = value.slice('file:'.length);
    if (path.trim() === '') throw new SecretReferenceError(`${value}: expected file:/path/to/file`);
    return { kind: 'file', path };
  }
  if (value.startsWith('vault:')) return parseVaultReference(value);
  return { kind: 'literal', value };
}

function parseVaultReference(value: string): SecretReference {
  const expected = `${value}: expected vault:<mount>/<path>#<key>`;
  const body = value.slice('vault:'.length);
  const hash = body.indexOf('#');
  if (hash < 0) throw new SecretReferenceError(`${expected} (the #key is missing)`);
  const key = body.slice(hash + 1);
  const segments = body.slice(0, hash).split('/');
  if (key === '' || segments.length < 2) throw new SecretReferenceError(expected);
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new SecretReferenceError(`${expected} (empty, '.' or '..' path segment)`);
  }
  const [mount, ...path] = segments;
  return { kind: 'vault', mount: mount, path: path.join('/'), key };
}

/** How logs and errors name a reference. */
export function describeSecretReference(reference: SecretReference): string {
  switch (reference.kind) {
    case 'literal':
      return 'a literal value';
    case 'env':
      return `env:${reference.name}`;
    case 'file':
      return `file:${reference.path}`;
    case 'vault':
      return `vault:${reference.mount}/${reference.path}#${reference.key}`;
  }
}

/** Reads a literal, `env:` or `file:` value; throws SecretReferenceError when it is unset, unreadable or empty. */
export function readLocalSecret(reference: LocalSecretReference): string {
  const name = describeSecretReference(reference);
  let value: string;
  switch (reference.kind) {
    case 'literal':
      value = reference.value;
      break;
    case 'env':
      value = process.env[reference.name] ?? '';
      break;
    case 'file':
      try {
        value = readFileSync(reference.path, 'utf8').trim();
      } catch (error) {
        // The error code only: the message of some fs errors quotes more than the path.
        const code = (error as NodeJS.ErrnoException).code ?? 'read error';
        throw new SecretReferenceError(`${name}: cannot read the file (${code})`);
      }
      break;
  }
  if (value === '')
    throw new SecretReferenceError(`${name}: the value is ${reference.kind === 'env' ? 'not set or ' : ''}empty`);
  return value;
}
