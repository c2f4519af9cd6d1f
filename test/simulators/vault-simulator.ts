/**
 * HashiCorp Vault simulator (wire format: spec §5) for the secrets module's tests, e2e tests and the demo.
 *
 * - KV v2: `GET /v1/<mount>/data/<path>[?version=N]`, `POST|PUT /v1/<mount>/data/<path>` with `{data, options?:{cas}}`.
 * - Tokens: `X-Vault-Token` (or `Authorization: Bearer`); `GET auth/token/lookup-self`, `POST auth/token/renew-self`.
 *   Tokens expire after their TTL and cannot be renewed past their max TTL (renewal then answers a shorter lease).
 * - Logins: `POST auth/<mount>/login`, AppRole (`role_id`, `secret_id`) and Kubernetes (`role`, `jwt`).
 * - Errors: `{"errors":[…]}`; 403 "permission denied" for a missing, unknown or expired token, 404 `{"errors":[]}` for a
 *   missing secret, 400 for bad logins, 503 "Vault is sealed" while sealed.
 * - Outages: seal()/unseal() (503), or setDown(true), which drops every connection.
 * `X-Vault-Namespace` is accepted and recorded. Tokens and request ids are deterministic.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseJson, readBody, writeJson } from './sim-http.js';
import { isObject } from './sim-json.js';

export interface VaultTokenPolicy {
  /** Lease of issued tokens in seconds. Default 3600. */
  ttlSeconds?: number;
  /** No renewal extends a token beyond this many seconds after its issue. Default 32 days, as Vault's. */
  maxTtlSeconds?: number;
  /** Default true. */
  renewable?: boolean;
}

export interface VaultAppRole extends VaultTokenPolicy {
  roleId: string;
  /** Omitted: the role logs in with the role id alone (`bind_secret_id=false`). */
  secretId?: string;
  /** Auth mount path. Default `approle`. */
  mount?: string;
}

export interface VaultKubernetesRole extends VaultTokenPolicy {
  role: string;
  /** The service-account JWT this role accepts. */
  jwt: string;
  /** Auth mount path. Default `kubernetes`. */
  mount?: string;
}

export interface VaultSimulatorOptions {
  /** A token without expiry. Default `root`. */
  rootToken?: string;
  appRoles?: VaultAppRole[];
  kubernetesRoles?: VaultKubernetesRole[];
  /** KV v2 mounts that exist from the start; putSecret() adds its mount. Default `['secret']`. */
  kvMounts?: string[];
}

/** Applies to the next matching request(s), after it was recorded. */
export interface VaultFault {
  /** Answer this status with `{"errors": errors}` instead of handling the request. */
  status?: number;
  errors?: string[];
  /** Wait this long first (then answer `status`, or handle the request normally). */
  delayMs?: number;
  /** Only requests whose path (after `/v1/`) starts with this. Default: any. */
  routePrefix?: string;
  /** How many requests consume the fault. Default 1. */
  times?: number;
}

export interface VaultRecordedRequest {
  method: string;
  /** Path and query, e.g. `/v1/secret/data/llm/openai`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  hungUp: boolean;
}

interface IssuedToken {
  accessor: string;
  policies: string[];
  meta: Record<string, string> | null;
  /** The login path, e.g. `auth/approle/login`; `auth/token/create` otherwise. */
  path: string;
  issuedAt: number;
  ttlSeconds: number;
  /** Milliseconds since the epoch; undefined: never. */
  expiresAt: number | undefined;
  maxExpiresAt: number | undefined;
  renewable: boolean;
}

interface KvVersion {
  data: Record<string, unknown>;
  createdTime: string;
}

interface Exchange {
  res: ServerResponse;
  url: URL;
  /** The parsed JSON body; undefined when empty. */
  body: unknown;
}

const DEFAULT_TTL_SECONDS = 3600;
const DEFAULT_MAX_TTL_SECONDS = 32 * 24 * 3600;
const PERMISSION_DENIED = ['permission denied'];

export class VaultSimulator {
  readonly requests: VaultRecordedRequest[] = [];
  /** Requests whose client closed the connection before the response finished. */
  hungUp = 0;
  readonly rootToken: string;
  private readonly appRoles: VaultAppRole[];
  private readonly kubernetesRoles: VaultKubernetesRole[];
  private readonly kvMounts: Set<string>;
  /** `<mount>\0<path>` → versions, version N at index N-1. */
  private readonly secrets = new Map<string, KvVersion[]>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly faults: Array<{ fault: VaultFault; remaining: number }> = [];
  private server?: Server;
  private stopping = false;
  private sealed = false;
  private down = false;
  private counter = 0;

  constructor(options: VaultSimulatorOptions = {}) {
    this.rootToken = options.rootToken ?? 'root';
    this.appRoles = options.appRoles ?? [];
    this.kubernetesRoles = options.kubernetesRoles ?? [];
    this.kvMounts = new Set(options.kvMounts ?? ['secret']);
    this.tokens.set(this.rootToken, {
      accessor: this.nextId('accessor'),
      policies: ['root'],
      meta: null,
      path: 'auth/token/root',
      issuedAt: Date.now(),
      ttlSeconds: 0,
      expiresAt: undefined,
      maxExpiresAt: undefined,
      renewable: false,
    });
  }

  /** Starts listening; returns the address, e.g. `http://127.0.0.1:41234`. */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on('connection', (socket) => {
      if (this.down) socket.destroy();
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  /** Writes a new version of a KV v2 secret (creating the mount if needed); returns the version. */
  putSecret(mount: string, path: string, data: Record<string, unknown>): number {
    this.kvMounts.add(mount);
    const key = `${mount}\0${path}`;
    const versions = this.secrets.get(key) ?? [];
    versions.push({ data: { ...data }, createdTime: new Date().toISOString() });
    this.secrets.set(key, versions);
    return versions.length;
  }

  /** Issues a token as `vault token create` would. */
  createToken(policy: VaultTokenPolicy = {}): string {
    return this.issueToken('auth/token/create', null, policy);
  }

  /** Every token but the root token stops working (403), as after `vault token revoke`. */
  revokeTokens(): void {
    for (const token of this.tokens.keys()) if (token !== this.rootToken) this.tokens.delete(token);
  }

  /** While sealed, every request answers 503 `{"errors":["Vault is sealed"]}`. */
  seal(): void {
    this.sealed = true;
  }

  unseal(): void {
    this.sealed = false;
  }

  /** While down, open connections are dropped and new ones are closed at once (clients see a network error). */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.server?.closeAllConnections();
  }

  enqueueFault(fault: VaultFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Requests received for `path` (e.g. `/v1/auth/approle/login`; the query is ignored), optionally of one method. */
  count(path: string, method?: string): number {
    return this.requests.filter((r) => r.path.split('?')[0] === path && (method === undefined || r.method === method))
      .length;
  }

  /** Clears faults, records and counters; secrets and tokens stay. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.hungUp = 0;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const record: VaultRecordedRequest = {
      method: req.method ?? 'GET',
      path: `${url.pathname}${url.search}`,
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    this.requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished && !this.stopping && !this.down) {
        record.hungUp = true;
        this.hungUp++;
      }
    });
    this.handle(req, res, url, record).catch(() => {
      if (res.headersSent) res.destroy();
      else if (!res.destroyed) sendErrors(res, 500, ['internal error']);
    });
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: VaultRecordedRequest,
  ): Promise<void> {
    const text = await readBody(req);
    const body = parseJson(text);
    record.body = body.valid ? body.value : text;
    const route = url.pathname.startsWith('/v1/') ? url.pathname.slice('/v1/'.length) : '';
    const exchange: Exchange = { res, url, body: body.valid ? body.value : undefined };

    const fault = this.takeFault(route);
    if (fault?.delayMs) await sleep(fault.delayMs);
    if (res.destroyed) return;
    if (fault?.status !== undefined) return sendErrors(res, fault.status, fault.errors ?? []);
    if (this.sealed) return sendErrors(res, 503, ['Vault is sealed']);
    if (!route) return sendErrors(res, 404, []);
    if (!body.valid) return sendErrors(res, 400, ['failed to parse JSON input']);

    const method = req.method === 'PUT' ? 'POST' : req.method;
    const login = /^auth\/(.+)\/login$/.exec(route);
    if (login && method === 'POST') return this.login(exchange, login[1]);

    const tokenValue = tokenOf(req.headers);
    const token = tokenValue === undefined ? undefined : this.tokens.get(tokenValue);
    if (!tokenValue || !token) return sendErrors(res, 403, PERMISSION_DENIED);
    if (token.expiresAt !== undefined && Date.now() >= token.expiresAt) {
      this.tokens.delete(tokenValue);
      return sendErrors(res, 403, PERMISSION_DENIED);
    }

    if (route === 'auth/token/lookup-self') {
      return method === 'GET'
        ? writeJson(res, 200, this.envelope({ data: lookupData(tokenValue, token) }))
        : methodNotAllowed(res);
    }
    if (route === 'auth/token/renew-self')
      return method === 'POST' ? this.renew(exchange, tokenValue, token) : methodNotAllowed(res);

    const kv = /^([^/]+)\/data\/(.+)$/.exec(route);
    if (kv && this.kvMounts.has(kv[1])) {
      if (method === 'GET') return this.readSecret(exchange, kv[1], kv[2]);
      if (method === 'POST') return this.writeSecret(exchange, kv[1], kv[2]);
      return methodNotAllowed(res);
    }
    sendErrors(res, 404, [`no handler for route "${route}". route entry not found.`]);
  }

  private login({ res, body }: Exchange, mount: string): void {
    const request = isObject(body) ? body : {};
    const appRoles = this.appRoles.filter((r) => (r.mount ?? 'approle') === mount);
    const kubernetesRoles = this.kubernetesRoles.filter((r) => (r.mount ?? 'kubernetes') === mount);
    if (appRoles.length > 0) {
      if (typeof request.role_id !== 'string' || request.role_id === '')
        return sendErrors(res, 400, ['missing role_id']);
      const role = appRoles.find((r) => r.roleId === request.role_id);
      if (role?.secretId !== undefined && typeof request.secret_id !== 'string')
        return sendErrors(res, 400, ['missing secret_id']);
      if (!role || (role.secretId !== undefined && role.secretId !== request.secret_id)) {
        return sendErrors(res, 400, ['invalid role or secret ID']);
      }
      return this.sendLogin(res, `auth/${mount}/login`, { role_name: `role-${role.roleId.slice(0, 8)}` }, role);
    }
    if (kubernetesRoles.length > 0) {
      if (typeof request.role !== 'string' || request.role === '') return sendErrors(res, 400, ['missing role']);
      if (typeof request.jwt !== 'string' || request.jwt === '') return sendErrors(res, 400, ['missing jwt']);
      const role = kubernetesRoles.find((r) => r.role === request.role);
      if (!role) return sendErrors(res, 400, [`invalid role name "${request.role}"`]);
      if (role.jwt !== request.jwt) return sendErrors(res, 400, ['invalid JWT']);
      const meta = { role: role.role, service_account_name: 'llm-gateway', service_account_namespace: 'default' };
      return this.sendLogin(res, `auth/${mount}/login`, meta, role);
    }
    sendErrors(res, 404, [`no handler for route "auth/${mount}/login". route entry not found.`]);
  }

  private sendLogin(res: ServerResponse, path: string, meta: Record<string, string>, policy: VaultTokenPolicy): void {
    const token = this.issueToken(path, meta, policy);
    const issued = this.tokens.get(token)!;
    writeJson(
      res,
      200,
      this.envelope({
        auth: {
          client_token: token,
          accessor: issued.accessor,
          policies: issued.policies,
          token_policies: issued.policies,
          metadata: meta,
          lease_duration: issued.ttlSeconds,
          renewable: issued.renewable,
          entity_id: '',
          token_type: 'service',
          orphan: true,
        },
      }),
    );
  }

  private renew({ res, body }: Exchange, value: string, token: IssuedToken): void {
    if (!token.renewable || token.expiresAt === undefined) return sendErrors(res, 400, ['lease is not renewable']);
    const requested =
      isObject(body) && body.increment !== undefined ? parseDurationSeconds(body.increment) : token.ttlSeconds;
    if (requested === undefined) return sendErrors(res, 400, ['invalid increment']);
    const now = Date.now();
    const expiresAt = Math.min(now + requested * 1000, token.maxExpiresAt ?? Infinity);
    token.expiresAt = expiresAt;
    const lease = Math.floor((expiresAt - now) / 1000);
    const warnings =
      lease < requested
        ? [`TTL of "${requested}s" exceeded the effective max_ttl of "${lease}s"; TTL value is capped accordingly`]
        : null;
    writeJson(
      res,
      200,
      this.envelope({
        auth: {
          client_token: value,
          accessor: token.accessor,
          policies: token.policies,
          token_policies: token.policies,
          metadata: token.meta,
          lease_duration: lease,
          renewable: true,
        },
        warnings,
      }),
    );
  }

  private readSecret({ res, url }: Exchange, mount: string, path: string): void {
    const versions = this.secrets.get(`${mount}\0${path}`);
    const asked = Number(url.searchParams.get('version') ?? 0);
    const version = asked > 0 ? asked : (versions?.length ?? 0);
    const entry = versions?.[version - 1];
    if (!entry) return sendErrors(res, 404, []);
    writeJson(res, 200, this.envelope({ data: { data: entry.data, metadata: metadataOf(entry, version) } }));
  }

  private writeSecret({ res, body }: Exchange, mount: string, path: string): void {
    if (!isObject(body) || !isObject(body.data)) return sendErrors(res, 400, ['no data provided']);
    const current = this.secrets.get(`${mount}\0${path}`)?.length ?? 0;
    const cas = isObject(body.options) ? body.options.cas : undefined;
    if (cas !== undefined && cas !== current) {
      return sendErrors(res, 400, ['check-and-set parameter did not match the current version']);
    }
    const version = this.putSecret(mount, path, body.data);
    const entry = this.secrets.get(`${mount}\0${path}`)![version - 1];
    writeJson(res, 200, this.envelope({ data: metadataOf(entry, version) }));
  }

  private issueToken(path: string, meta: Record<string, string> | null, policy: VaultTokenPolicy): string {
    const serial = ++this.counter;
    const token = `hvs.CAESI${digest(`token:${serial}`).slice(0, 24)}`;
    const now = Date.now();
    const ttlSeconds = policy.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    this.tokens.set(token, {
      accessor: this.nextId('accessor'),
      policies: ['default', 'llm-gateway'],
      meta,
      path,
      issuedAt: now,
      ttlSeconds,
      expiresAt: now + ttlSeconds * 1000,
      maxExpiresAt: now + (policy.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS) * 1000,
      renewable: policy.renewable ?? true,
    });
    return token;
  }

  /** The generic response envelope (spec §5.1). */
  private envelope(fields: { data?: unknown; auth?: unknown; warnings?: string[] | null }): Record<string, unknown> {
    return {
      request_id: this.nextId('request'),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: fields.data ?? null,
      wrap_info: null,
      warnings: fields.warnings ?? null,
      auth: fields.auth ?? null,
      mount_type: '',
    };
  }

  /** A deterministic UUID-shaped id. */
  private nextId(kind: string): string {
    const hex = digest(`${kind}:${++this.counter}`);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  }

  private takeFault(route: string): VaultFault | undefined {
    const index = this.faults.findIndex(
      ({ fault }) => fault.routePrefix === undefined || route.startsWith(fault.routePrefix),
    );
    if (index < 0) return undefined;
    const slot = this.faults[index];
    if (--slot.remaining <= 0) this.faults.splice(index, 1);
    return slot.fault;
  }
}

function lookupData(value: string, token: IssuedToken): Record<string, unknown> {
  const now = Date.now();
  const ttl = token.expiresAt === undefined ? 0 : Math.max(0, Math.floor((token.expiresAt - now) / 1000));
  return {
    accessor: token.accessor,
    creation_time: Math.floor(token.issuedAt / 1000),
    creation_ttl: token.ttlSeconds,
    display_name: token.path === 'auth/token/root' ? 'root' : token.path.split('/')[1],
    entity_id: '',
    expire_time: token.expiresAt === undefined ? null : new Date(token.expiresAt).toISOString(),
    explicit_max_ttl: 0,
    id: value,
    issue_time: new Date(token.issuedAt).toISOString(),
    meta: token.meta,
    num_uses: 0,
    orphan: true,
    path: token.path,
    policies: token.policies,
    renewable: token.renewable,
    ttl,
    type: 'service',
  };
}

function metadataOf(entry: KvVersion, version: number): Record<string, unknown> {
  return { created_time: entry.createdTime, custom_metadata: null, deletion_time: '', destroyed: false, version };
}

function tokenOf(headers: IncomingHttpHeaders): string | undefined {
  const header = headers['x-vault-token'];
  if (typeof header === 'string' && header !== '') return header;
  const authorization = headers.authorization;
  return authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
}

/** `3600`, `"3600"`, `"3600s"`, `"30m"`, `"1h"`. */
function parseDurationSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value : undefined;
  const match = typeof value === 'string' ? /^(\d+)([smh]?)$/.exec(value) : null;
  if (!match) return undefined;
  return Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600 } as Record<string, number>)[match[2]];
}

function sendErrors(res: ServerResponse, status: number, errors: string[]): void {
  writeJson(res, status, { errors });
}

function methodNotAllowed(res: ServerResponse): void {
  sendErrors(res, 405, ['unsupported operation']);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
