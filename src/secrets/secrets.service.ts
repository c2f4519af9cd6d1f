/**
 * Resolves secret references (see secret-reference.ts) and keeps their values current.
 *
 * At start-up, `resolve(reference)` reads each credential once and fails with a message naming the reference.
 * Afterwards callers hold a `SecretHandle` whose `value()` is always the last good value: Vault secrets (and
 * `file:` secrets) are read again every `refreshIntervalMs`, so a key rotated in Vault is used without a
 * restart. During a Vault outage the last good values stay in use, `status()` reports `degraded` (for the
 * readiness probe), one warning is logged per interval at most, and everything recovers on its own.
 *
 * Usable without Nest: `new SecretsService(config, logger?)`, then `close()`.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import {
  describeSecretReference,
  parseSecretReference,
  readLocalSecret,
  type SecretReference,
  SecretReferenceError,
} from './secret-reference.js';
import { SECRETS_CONFIG, SecretsConfig } from './secrets.config.js';
import { type KvSecret, VaultClient, VaultError, type SecretsLogger } from './vault.client.js';
import { secretRedactor } from '../common/redaction.js';
import { SingleFlight } from '../common/single-flight.js';

/** Optional injection token for the logger (default: a Nest Logger named SecretsService). */
export const SECRETS_LOGGER = Symbol('SECRETS_LOGGER');

export type SecretListener = (value: string) => void;

export interface SecretHandle {
  /** How logs name this secret: the reference, or "a literal value". */
  readonly name: string;
  /** The last good value. */
  value(): string;
  /**
   * The upstream rejected the value (401/403): read it again now, in case it was rotated. Calls within
   * `minRefreshOnAuthFailureIntervalMs` of the last such refresh are ignored.
   */
  onAuthFailure(): void;
  /** Called with each new value; returns the unsubscribe function. */
  subscribe(listener: SecretListener): () => void;
}

export interface SecretsStatus {
  vault: 'up' | 'degraded' | 'disabled';
  /** The latest Vault failure, while degraded. Never contains secret material. */
  lastError?: string;
  /** Milliseconds since the epoch of the last successful Vault read. */
  lastSuccessAt?: number;
}

/** A reference that cannot be resolved; the message names the reference, never a value. */
export class SecretResolutionError extends Error {
  constructor(
    readonly reference: string,
    message: string,
  ) {
    super(message);
    this.name = 'SecretResolutionError';
  }
}

type VaultReference = Extract<SecretReference, { kind: 'vault' }>;

interface Entry {
  readonly reference: SecretReference;
  readonly name: string;
  value: string;
  readonly listeners: Set<SecretListener>;
  lastForcedRefreshAt: number;
  readonly handle: SecretHandle;
}

/** One Vault secret (mount + path), read once per refresh for all the keys used from it. */
interface VaultSecretSource {
  readonly mount: string;
  readonly path: string;
  readonly entries: Set<Entry>;
  reading: Promise<KvSecret> | undefined;
}

@Injectable()
export class SecretsService implements OnApplicationShutdown {
  private readonly vault: VaultClient | undefined;
  private readonly logger: SecretsLogger;
  private readonly entries = new Map<string, Entry>();
  private readonly vaultSecrets = new Map<string, VaultSecretSource>();
  /** Vault secrets whose last read failed → the failure. */
  private readonly failing = new Map<string, string>();
  private lastError: string | undefined;
  private lastSuccessAt: number | undefined;
  private lastWarningAt = -Infinity;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly refreshes = new SingleFlight<void>();
  private closed = false;

  constructor(
    @Inject(SECRETS_CONFIG) private readonly config: SecretsConfig,
    @Optional() @Inject(SECRETS_LOGGER) logger?: SecretsLogger,
  ) {
    this.logger = logger ?? new Logger(SecretsService.name);
    this.vault = config.vault ? new VaultClient(config.vault, this.logger) : undefined;
  }

  /** Reads a reference (once; later calls answer from the cache). Rejects with a SecretResolutionError. */
  async resolve(raw: string): Promise<string> {
    const cached = this.entries.get(raw);
    if (cached) return cached.value;
    const reference = parse(raw);
    const name = describeSecretReference(reference);
    if (reference.kind !== 'vault') return this.register(raw, reference, readLocal(reference)).value;
    if (!this.vault) {
      throw new SecretResolutionError(name, `cannot resolve secret ${name}: no Vault is configured (secrets.vault)`);
    }
    let value: string;
    try {
      value = valueOf(reference, await this.readVaultSecret(this.sourceOf(reference)));
    } catch (error) {
      throw new SecretResolutionError(name, `cannot resolve secret ${name}: ${messageOf(error)}`);
    }
    return this.register(raw, reference, value).value;
  }

  /**
   * The handle of a reference. Literal, `env:` and `file:` references are read on the spot; a `vault:`
   * reference must have been resolved first. Throws a SecretResolutionError.
   */
  handle(raw: string): SecretHandle {
    const cached = this.entries.get(raw);
    if (cached) return cached.handle;
    const reference = parse(raw);
    if (reference.kind === 'vault') {
      const name = describeSecretReference(reference);
      throw new SecretResolutionError(name, `secret ${name} was not resolved: call resolve() at start-up first`);
    }
    return this.register(raw, reference, readLocal(reference)).handle;
  }

  status(): SecretsStatus {
    if (!this.vault) return { vault: 'disabled' };
    const status: SecretsStatus = { vault: this.failing.size > 0 ? 'degraded' : 'up' };
    if (this.failing.size > 0 && this.lastError !== undefined) status.lastError = this.lastError;
    if (this.lastSuccessAt !== undefined) status.lastSuccessAt = this.lastSuccessAt;
    return status;
  }

  /** Reads every Vault and `file:` secret again now (the timer does this every `refreshIntervalMs`). */
  refresh(): Promise<void> {
    return this.refreshes.run('all', async () => {
      await Promise.all([...this.entries.values()].map((entry) => this.refreshEntry(entry)));
    });
  }

  /** Stops the refresh timer and the Vault token renewal. */
  close(): void {
    this.closed = true;
    clearTimeout(this.refreshTimer);
    this.vault?.close();
  }

  onApplicationShutdown(): void {
    this.close();
  }

  private register(raw: string, reference: SecretReference, value: string): Entry {
    const existing = this.entries.get(raw);
    if (existing) return existing;
    secretRedactor.add(value);
    const entry: Entry = {
      reference,
      name: describeSecretReference(reference),
      value,
      listeners: new Set(),
      lastForcedRefreshAt: -Infinity,
      handle: {
        name: describeSecretReference(reference),
        value: () => entry.value,
        onAuthFailure: () => this.onAuthFailure(entry),
        subscribe: (listener) => {
          entry.listeners.add(listener);
          return () => entry.listeners.delete(listener);
        },
      },
    };
    this.entries.set(raw, entry);
    if (reference.kind === 'vault') this.sourceOf(reference).entries.add(entry);
    if ((reference.kind === 'vault' || reference.kind === 'file') && this.refreshTimer === undefined)
      this.scheduleRefresh();
    return entry;
  }

  private onAuthFailure(entry: Entry): void {
    const now = Date.now();
    if (this.closed || now - entry.lastForcedRefreshAt < this.config.minRefreshOnAuthFailureIntervalMs) return;
    entry.lastForcedRefreshAt = now;
    void this.refreshEntry(entry);
  }

  private scheduleRefresh(): void {
    if (this.closed) return;
    this.refreshTimer = setTimeout(() => {
      void this.refresh().then(() => this.scheduleRefresh());
    }, this.config.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  /** Never rejects: failures are logged and counted in status(), and the last good value stays. */
  private async refreshEntry(entry: Entry): Promise<void> {
    const reference = entry.reference;
    if (reference.kind === 'file') {
      try {
        this.update(entry, readLocalSecret(reference));
      } catch (error) {
        this.warn(`${messageOf(error)}; keeping the last good value`);
      }
    } else if (reference.kind === 'vault') {
      const source = this.sourceOf(reference);
      let secret: KvSecret;
      try {
        secret = await this.readVaultSecret(source);
      } catch {
        return; // logged by readVaultSecret
      }
      try {
        this.update(entry, valueOf(reference, secret));
      } catch (error) {
        this.warn(`${entry.name}: ${messageOf(error)}; keeping the last good value`);
      }
    }
  }

  private update(entry: Entry, value: string): void {
    if (value === entry.value) return;
    secretRedactor.add(value);
    entry.value = value;
    this.logger.log(`Secret ${entry.name} changed; using the new value`);
    for (const listener of entry.listeners) {
      try {
        listener(value);
      } catch (error) {
        this.logger.error(
          `A listener of secret ${entry.name} failed: ${error instanceof Error ? error.name : 'error'}`,
        );
      }
    }
  }

  private sourceOf(reference: VaultReference): VaultSecretSource {
    const key = `${reference.mount}/${reference.path}`;
    let source = this.vaultSecrets.get(key);
    if (!source) {
      source = { mount: reference.mount, path: reference.path, entries: new Set(), reading: undefined };
      this.vaultSecrets.set(key, source);
    }
    return source;
  }

  /** One read per secret at a time; records the outcome for status(). */
  private readVaultSecret(source: VaultSecretSource): Promise<KvSecret> {
    if (!source.reading) {
      const key = `${source.mount}/${source.path}`;
      const reading = this.vault!.readKv2(source.mount, source.path).then(
        (secret) => {
          this.lastSuccessAt = Date.now();
          this.failing.delete(key);
          if (this.failing.size === 0 && this.lastError !== undefined) {
            this.lastError = undefined;
            this.logger.log('Vault reads succeed again');
          }
          return secret;
        },
        (error: unknown) => {
          const message = messageOf(error);
          // Only secrets in use make Vault degraded; a failed resolve() is reported to its caller.
          if (source.entries.size > 0) {
            this.failing.set(key, message);
            this.lastError = message;
            this.warn(`${message}; keeping the last good values`);
          }
          throw error;
        },
      );
      source.reading = reading;
      const clear = () => {
        if (source.reading === reading) source.reading = undefined;
      };
      reading.then(clear, clear);
    }
    return source.reading;
  }

  /** At most one warning per refresh interval, so an outage does not flood the log. */
  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarningAt < this.config.refreshIntervalMs) return;
    this.lastWarningAt = now;
    this.logger.warn(message);
  }
}

function parse(raw: string): SecretReference {
  try {
    return parseSecretReference(raw);
  } catch (error) {
    throw new SecretResolutionError(raw, `invalid secret reference ${messageOf(error)}`);
  }
}

function readLocal(reference: Exclude<SecretReference, VaultReference>): string {
  try {
    return readLocalSecret(reference);
  } catch (error) {
    throw new SecretResolutionError(describeSecretReference(reference), `cannot resolve secret ${messageOf(error)}`);
  }
}

/** `data.data[key]` of a KV v2 secret; strings, numbers and booleans are accepted. Messages omit the reference. */
function valueOf(reference: VaultReference, secret: KvSecret): string {
  const value = secret.data[reference.key];
  if (value === undefined || value === null) {
    throw new SecretReferenceError(`the secret ${reference.mount}/${reference.path} has no key ${reference.key}`);
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new SecretReferenceError('the value is not a string');
  }
  if (value === '') throw new SecretReferenceError('the value is empty');
  return String(value);
}

/** Only our own error types' messages, which are built never to contain secret material. */
function messageOf(error: unknown): string {
  if (error instanceof VaultError || error instanceof SecretReferenceError || error instanceof SecretResolutionError) {
    return error.message;
  }
  return `unexpected ${error instanceof Error ? error.name : 'error'}`;
}
