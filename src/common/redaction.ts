/**
 * Every secret the process holds (provider keys and secret keys, OAuth, Vault and cloud tokens, gateway keys) is
 * registered here when it is read, and every text that leaves the process and may carry upstream words (error
 * messages, stream error events, log lines) passes through `redact` first. An upstream that echoes our
 * `Authorization` header in its error text therefore cannot hand the key to a client or to the logs.
 *
 * One registry for the whole process rather than an injectable: secrets are read by code that runs before and
 * outside Nest's container (the config loader, loggers, the upstream transport), and a secret is a fact of the
 * process, not of one module.
 */

const REDACTED = '[redacted]';
/** Shorter values are not registered: redacting them would mangle ordinary words. */
const MIN_SECRET_LENGTH = 8;
/**
 * Short-lived tokens kept at most (OAuth, Vault and cloud session tokens, a new one every so often): the oldest go,
 * so that a long-running process does not grow its pattern without bound. A token this old has long expired.
 */
const MAX_EPHEMERAL_TOKENS = 64;

/**
 * Credential shapes redacted even when the value was never registered (a token an upstream minted and echoed, a key
 * the caller sent): `Bearer <token>`, `key=<value>` / `api_key=` / `access_token=` in URLs and texts, and vendor key
 * prefixes.
 */
const CREDENTIAL_SHAPES: readonly [RegExp, string][] = [
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [/\b((?:api[_-]?)?key|access_token|token|secret|signature|x-amz-security-token)=[^\s&"',;]{6,}/gi, `$1=${REDACTED}`],
  [/\b(sk|rk|pk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bAKIA[0-9A-Z]{16}\b/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED],
  [/\bhvs\.[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\bya29\.[A-Za-z0-9._-]{20,}/g, REDACTED],
];

export class SecretRedactor {
  private readonly secrets = new Set<string>();
  /** In the order they were added, oldest first. */
  private readonly ephemeral = new Set<string>();
  /** Every registered secret as one alternation, longest first; rebuilt only when a secret is added. */
  private pattern: RegExp | undefined;

  /** Registers a secret value (idempotent). Values shorter than 8 characters are ignored. */
  add(secret: string | undefined): void {
    const value = secret?.trim();
    if (value === undefined || value.length < MIN_SECRET_LENGTH || this.secrets.has(value)) return;
    this.secrets.add(value);
    this.rebuild();
  }

  /** Registers a short-lived token (see MAX_EPHEMERAL_TOKENS). */
  addEphemeral(token: string | undefined): void {
    const value = token?.trim();
    if (value === undefined || value.length < MIN_SECRET_LENGTH || this.ephemeral.has(value)) return;
    this.ephemeral.add(value);
    if (this.ephemeral.size > MAX_EPHEMERAL_TOKENS) this.ephemeral.delete(this.ephemeral.values().next().value!);
    this.rebuild();
  }

  private rebuild(): void {
    const alternatives = [...this.secrets, ...this.ephemeral].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = new RegExp(alternatives.join('|'), 'g');
  }

  /** The text with every registered secret and every credential-shaped token replaced by `[redacted]`. */
  redact(text: string): string {
    let out = this.pattern === undefined ? text : text.replace(this.pattern, REDACTED);
    for (const [shape, replacement] of CREDENTIAL_SHAPES) out = out.replace(shape, replacement);
    return out;
  }

  /** Whether the text holds a registered secret (tests and assertions). */
  leaks(text: string): boolean {
    if (this.pattern === undefined) return false;
    this.pattern.lastIndex = 0;
    return this.pattern.test(text);
  }
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The process's registry. */
export const secretRedactor = new SecretRedactor();

/** Shorthand for `secretRedactor.redact`. */
export function redact(text: string): string {
  return secretRedactor.redact(text);
}
