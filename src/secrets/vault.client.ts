/**
 * A small HashiCorp Vault client (spec §5): logs in (token, AppRole or Kubernetes), keeps the token alive with
 * `renew-self` at 2/3 of its lease, logs in again when renewal fails or the token reaches its max TTL, and
 * reads KV v2 secrets. A 403 on a read logs in once and tries once more (spec §5.5).
 *
 * Error messages and log lines never contain the token, the AppRole secret id, the JWT or a secret value:
 * Vault's own error texts are passed through with every credential in use replaced by `<redacted>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger, type LoggerService } from '@nestjs/common';
import { parseSecretReference, readLocalSecret, SecretReferenceError } from './secret-reference.js';
import { DEFAULT_KUBERNETES_JWT_PATH, type VaultConfig } from './secrets.config.js';
import { secretRedactor } from '../common/redaction.js';
import { SingleFlight } from '../common/single-flight.js';

export type SecretsLogger = Pick<LoggerService, 'log' | 'warn' | 'error'>;

export type VaultErrorKind =
  | 'invalid_request' // 400 and other 4xx, e.g. bad login credentials
  | 'permission_denied' // 403: bad, expired or revoked token, or no policy
  | 'not_found' // 404
  | 'unavailable' // 503 sealed or in maintenance, 429, 412
  | 'server_error' // other 5xx
  | 'timeout'
  | 'network'
  | 'invalid_response'
  | 'closed';

const RETRYABLE_STATUSES = new Set([412, 429, 500, 502, 503]);

export class VaultError extends Error {
  constructor(
    readonly kind: VaultErrorKind,
    message: string,
    /** The HTTP status, when Vault answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'VaultError';
  }

  /** Worth another attempt (spec §5.6): network trouble, timeouts and 412/429/500/502/503. */
  get retryable(): boolean {
    if (this.kind === 'timeout' || this.kind === 'network') return true;
    return this.status !== undefined && RETRYABLE_STATUSES.has(this.status);
  }
}

/** A KV v2 secret: `data.data` and `data.metadata.version` of the read answer. */
export interface KvSecret {
  data: Record<string, unknown>;
  version: number | undefined;
}

interface TokenState {
  token: string;
  /** Milliseconds since the epoch; undefined for a token without expiry (e.g. root). */
  expiresAt: number | undefined;
  renewable: boolean;
  /** The lease asked for at each renewal: the lease the token was issued with. */
  leaseSeconds: number;
}

/** One HTTP call; `operation` names it in errors, e.g. `read secret/llm/openai`. */
interface VaultCall {
  operation: string;
  method: 'GET' | 'POST';
  /** The path after `/v1/`. */
  route: string;
  token?: string;
  body?: unknown;
}

type VaultBody = Record<string, unknown>;

const RETRY_BASE_DELAY_MS = 200;
/** After a failed renewal and re-login, try again at half the remaining lease, but not more often than this. */
const MIN_MAINTENANCE_RETRY_MS = 1_000;
const MAX_ERROR_TEXT = 300;
const REDACTED = '<redacted>';

export class VaultClient {
  private readonly baseUrl: string;
  private readonly authMount: string;
  private state: TokenState | undefined;
  private readonly logins = new SingleFlight<TokenState>();
  private maintenanceTimer: NodeJS.Timeout | undefined;
  /** The credentials read at the last login, redacted from messages. */
  private credentials: string[] = [];
  private readonly closing = new AbortController();

  constructor(
    private readonly config: VaultConfig,
    private readonly logger: SecretsLogger = new Logger(VaultClient.name),
  ) {
    this.baseUrl = `${config.address.replace(/\/+$/, '')}/v1/`;
    this.authMount = config.auth.mount ?? (config.auth.method === 'kubernetes' ? 'kubernetes' : 'approle');
  }

  /** `GET /v1/<mount>/data/<path>` (latest version). */
  async readKv2(mount: string, path: string): Promise<KvSecret> {
    const operation = `read ${mount}/${path}`;
    const body = await this.authenticated({ operation, method: 'GET', route: `${mount}/data/${path}` });
    const data = body?.data;
    if (!isRecord(data) || !isRecord(data.data)) {
      throw new VaultError(
        'invalid_response',
        `Vault ${operation}: the answer has no data.data (is ${mount} a KV v2 mount?)`,
      );
    }
    const version =
      isRecord(data.metadata) && typeof data.metadata.version === 'number' ? data.metadata.version : undefined;
    return { data: data.data, version };
  }

  /** Stops renewal and aborts calls in flight. The token is left to expire. */
  close(): void {
    this.closing.abort();
    clearTimeout(this.maintenanceTimer);
    this.state = undefined;
  }

  private async authenticated(call: VaultCall): Promise<VaultBody | undefined> {
    const state = await this.currentToken();
    try {
      return await this.request({ ...call, token: state.token });
    } catch (error) {
      if (!(error instanceof VaultError) || error.kind !== 'permission_denied') throw error;
      // An expired or revoked token, or a missing policy: log in once and try once more.
      const fresh = this.state === state ? await this.login() : await this.currentToken();
      return this.request({ ...call, token: fresh.token });
    }
  }

  private currentToken(): Promise<TokenState> {
    const state = this.state;
    if (state && (state.expiresAt === undefined || Date.now() < state.expiresAt)) return Promise.resolve(state);
    return this.login();
  }

  /** One login at a time, however many callers wait for it. */
  private login(): Promise<TokenState> {
    return this.logins.run('login', async () => {
      const state = await this.obtainToken();
      this.adopt(state);
      return state;
    });
  }

  private async obtainToken(): Promise<TokenState> {
    const auth = this.config.auth;
    const startedAt = Date.now();
    switch (auth.method) {
      case 'token': {
        const token = this.readCredentials('token lookup-self', auth.token)[0]!;
        const body = await this.request({
          operation: 'token lookup-self',
          method: 'GET',
          route: 'auth/token/lookup-self',
          token,
        });
        const data = body?.data;
        if (!isRecord(data) || typeof data.ttl !== 'number') {
          throw new VaultError('invalid_response', 'Vault token lookup-self: the answer has no data.ttl');
        }
        // ttl is whole seconds left: 0 means "about to expire" unless expire_time is null (no expiry, e.g. root).
        if (data.ttl === 0 && data.expire_time !== null && data.expire_time !== undefined) {
          throw new VaultError('permission_denied', 'Vault token lookup-self: the configured token has expired');
        }
        const creationTtl =
          typeof data.creation_ttl === 'number' && data.creation_ttl > 0 ? data.creation_ttl : data.ttl;
        return toTokenState(token, data.ttl, data.renewable === true, creationTtl, startedAt);
      }
      case 'approle': {
        const [roleId, secretId] = this.readCredentials('approle login', auth.roleId, auth.secretId);
        return this.loginAt(
          'approle login',
          { role_id: roleId, ...(secretId === undefined ? {} : { secret_id: secretId }) },
          startedAt,
        );
      }
      case 'kubernetes': {
        const [jwt] = this.readCredentials('kubernetes login', `file:${auth.jwtPath ?? DEFAULT_KUBERNETES_JWT_PATH}`);
        return this.loginAt('kubernetes login', { role: auth.role, jwt }, startedAt);
      }
    }
  }

  /** `POST /v1/auth/<mount>/login` (spec §5.5); the answer's `auth` carries the token and its lease. */
  private async loginAt(operation: string, payload: Record<string, unknown>, startedAt: number): Promise<TokenState> {
    const body = await this.request({
      operation,
      method: 'POST',
      route: `auth/${this.authMount}/login`,
      body: payload,
    });
    const auth = body?.auth;
    if (!isRecord(auth) || typeof auth.client_token !== 'string' || auth.client_token === '') {
      throw new VaultError('invalid_response', `Vault ${operation}: the answer has no auth.client_token`);
    }
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    return toTokenState(auth.client_token, lease, auth.renewable === true, lease, startedAt);
  }

  /**
   * Reads `token` / `roleId` / `secretId` (literal, env: or file:) or the JWT file afresh; undefined stays
   * undefined. An unreadable credential is an `invalid_request` VaultError of `operation`.
   */
  private readCredentials(operation: string, ...values: Array<string | undefined>): Array<string | undefined> {
    try {
      const read = values.map((value) => {
        if (value === undefined) return undefined;
        const reference = parseSecretReference(value);
        if (reference.kind === 'vault')
          throw new SecretReferenceError('the Vault credentials cannot be vault: references');
        return readLocalSecret(reference);
      });
      this.credentials = read.filter((value): value is string => value !== undefined);
      for (const credential of this.credentials) secretRedactor.add(credential);
      return read;
    } catch (error) {
      if (!(error instanceof SecretReferenceError)) throw error;
      throw new VaultError('invalid_request', `Vault ${operation}: cannot read the credentials: ${error.message}`);
    }
  }

  /** Makes `state` the token in use and schedules its renewal at 2/3 of the remaining lease. */
  private adopt(state: TokenState): void {
    secretRedactor.addEphemeral(state.token);
    this.state = state;
    clearTimeout(this.maintenanceTimer);
    if (state.expiresAt !== undefined) this.scheduleMaintenance(state, ((state.expiresAt - Date.now()) * 2) / 3);
  }

  private scheduleMaintenance(state: TokenState, delayMs: number): void {
    if (this.closing.signal.aborted) return;
    this.maintenanceTimer = setTimeout(() => void this.maintain(state), Math.max(0, delayMs));
    this.maintenanceTimer.unref();
  }

  /**
   * Renews the token, or logs in again when it cannot be renewed (any further). When neither works, tries
   * again at half the remaining lease while the token lasts. Never rejects.
   */
  private async maintain(state: TokenState): Promise<void> {
    if (this.state !== state) return;
    let reason = 'is not renewable';
    let renewalFailed = false;
    if (state.renewable) {
      try {
        const startedAt = Date.now();
        const body = await this.request({
          operation: 'token renew-self',
          method: 'POST',
          route: 'auth/token/renew-self',
          token: state.token,
          body: { increment: `${state.leaseSeconds}s` },
        });
        if (this.state !== state) return;
        const auth = isRecord(body?.auth) ? body.auth : {};
        const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
        const renewed = { ...state, expiresAt: startedAt + lease * 1000, renewable: auth.renewable !== false };
        // A lease shorter than asked means the max TTL is near: the token cannot live much longer.
        if (lease >= state.leaseSeconds) return this.adopt(renewed);
        this.state = state = renewed;
        reason = 'is close to its max TTL';
      } catch (error) {
        if (this.state !== state) return;
        reason = `could not be renewed (${messageOf(error)})`;
        renewalFailed = true;
      }
    }
    if (this.config.auth.method === 'token' && this.sameConfiguredToken(state)) {
      // A configured token cannot be replaced by logging in; only a failed renewal is worth another try.
      this.logger.warn(
        `The configured Vault token ${reason}; it expires in ${Math.round(remainingMs(state) / 1000)} s`,
      );
      if (!renewalFailed) return;
    } else {
      this.logger.log(`Vault token ${reason}; logging in again`);
      try {
        await this.login();
        return;
      } catch (error) {
        this.logger.warn(`Vault login failed: ${messageOf(error)}; the current token stays in use while it lasts`);
      }
    }
    const retryInMs = remainingMs(state) / 2;
    if (this.state === state && retryInMs >= MIN_MAINTENANCE_RETRY_MS) this.scheduleMaintenance(state, retryInMs);
  }

  /** Whether the `token` credential still reads as the token in use (no Vault Agent rotation, say). */
  private sameConfiguredToken(state: TokenState): boolean {
    try {
      return this.readCredentials('token lookup-self', this.config.auth.token)[0] === state.token;
    } catch {
      return true;
    }
  }

  /** One call with retries (spec §5.6) on network errors, timeouts and 412/429/500/502/503. */
  private async request(call: VaultCall): Promise<VaultBody | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(call);
      } catch (error) {
        if (!(error instanceof VaultError) || !error.retryable || attempt >= this.config.retries) throw error;
        try {
          await sleep(RETRY_BASE_DELAY_MS * 2 ** attempt, undefined, { signal: this.closing.signal });
        } catch {
          throw closedError(call.operation);
        }
      }
    }
  }

  private async attempt({ operation, method, route, token, body: payload }: VaultCall): Promise<VaultBody | undefined> {
    if (this.closing.signal.aborted) throw closedError(operation);
    const headers: Record<string, string> = { 'x-vault-request': 'true' };
    if (this.config.namespace) headers['x-vault-namespace'] = this.config.namespace;
    if (token !== undefined) headers['x-vault-token'] = token;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const url = this.baseUrl + route.split('/').map(encodeURIComponent).join('/');
    const signal = AbortSignal.any([AbortSignal.timeout(this.config.requestTimeoutMs), this.closing.signal]);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal,
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (this.closing.signal.aborted) throw closedError(operation);
      if (error instanceof Error && error.name === 'TimeoutError') {
        throw new VaultError('timeout', `Vault ${operation}: no answer within ${this.config.requestTimeoutMs} ms`);
      }
      throw new VaultError(
        'network',
        `Vault ${operation}: cannot reach ${new URL(url).origin} (${networkErrorCode(error)})`,
      );
    }
    const body = parseJson(text);
    if (status >= 200 && status < 300) {
      if (text === '' || status === 204) return undefined;
      if (!isRecord(body))
        throw new VaultError('invalid_response', `Vault ${operation}: the answer is not a JSON object`, status);
      return body;
    }
    throw this.toVaultError(operation, status, body, token);
  }

  /** Maps `{"errors":[…]}` answers (spec §5.6); Vault's texts are kept, with credentials redacted. */
  private toVaultError(operation: string, status: number, body: unknown, token: string | undefined): VaultError {
    const errors = isRecord(body) && Array.isArray(body.errors) ? body.errors.filter((e) => typeof e === 'string') : [];
    const detail = this.redact(errors.join('; ')).slice(0, MAX_ERROR_TEXT) || defaultErrorText(status);
    const kind: VaultErrorKind =
      status === 403
        ? 'permission_denied'
        : status === 404
          ? 'not_found'
          : status === 412 || status === 429 || status === 503
            ? 'unavailable'
            : status >= 500
              ? 'server_error'
              : 'invalid_request';
    const message = `Vault ${operation}: ${detail} (HTTP ${status})`;
    return new VaultError(kind, token === undefined ? message : message.replaceAll(token, REDACTED), status);
  }

  private redact(text: string): string {
    const sensitive = [...this.credentials, this.state?.token].filter((value): value is string => !!value);
    return sensitive.reduce((result, value) => result.replaceAll(value, REDACTED), text);
  }
}

function remainingMs(state: TokenState): number {
  return state.expiresAt === undefined ? 0 : Math.max(0, state.expiresAt - Date.now());
}

function toTokenState(
  token: string,
  ttlSeconds: number,
  renewable: boolean,
  leaseSeconds: number,
  startedAt: number,
): TokenState {
  return {
    token,
    expiresAt: ttlSeconds > 0 ? startedAt + ttlSeconds * 1000 : undefined,
    renewable: renewable && ttlSeconds > 0,
    leaseSeconds,
  };
}

function defaultErrorText(status: number): string {
  if (status === 403) return 'permission denied';
  if (status === 404) return 'not found';
  if (status === 503) return 'sealed or unavailable';
  return 'request failed';
}

function closedError(operation: string): VaultError {
  return new VaultError('closed', `Vault ${operation}: the client was closed`);
}

/** `ECONNREFUSED`, `UND_ERR_SOCKET`…: fetch wraps the socket error in `cause`. */
function networkErrorCode(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === 'string' ? cause.code : 'network error';
}

function messageOf(error: unknown): string {
  return error instanceof VaultError ? error.message : 'unexpected error';
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
