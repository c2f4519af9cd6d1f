/**
 * OAuth access tokens for Vertex AI (and the Gemini API without a key), as `Authorization: Bearer` headers:
 * - from a service account key: the JWT bearer grant done here (an RS256 assertion posted to the token URL through
 *   the shared transport), so the token URL is an ordinary setting, the call has the provider's timeouts and
 *   retries, and a rotated key is picked up from its secret;
 * - from any other credential (the workload's default credentials, or a key file of another type) through
 *   google-auth-library, which caches and refreshes its tokens itself.
 * Neither a key nor a token ever appears in an error message.
 * - https://developers.google.com/identity/protocols/oauth2/service-account (claims, grant, response)
 * - https://cloud.google.com/docs/authentication/application-default-credentials
 */
import { createPrivateKey, createSign, type KeyObject } from 'node:crypto';
import type { AuthClient, GoogleAuth } from 'google-auth-library';
import { Cancellation } from '../../common/cancellation.js';
import { ClientClosedError, GatewayError } from '../../common/errors/gateway.error.js';
import { secretRedactor } from '../../common/redaction.js';
import { SingleFlight } from '../../common/single-flight.js';
import type { UpstreamClient } from '../../upstream/upstream-client.js';
import type { Credential } from '../provider-runtime.js';
import { upstreamErrors } from '../provider-errors.js';
import type { GoogleTokenErrorBody, GoogleTokenResponse, ServiceAccountKey } from './gemini.types.js';

/** Google's token endpoint; also the `aud` of every assertion, whatever URL it is posted to (see the page above). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** The longest assertion Google accepts. */
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Refresh this long before expiry (as Google's client libraries do), at most half the token's lifetime. */
export const TOKEN_REFRESH_MARGIN_SECONDS = 300;
const FORM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/x-www-form-urlencoded',
});

export type AuthorizationHeaders = Readonly<Record<string, string>>;

/** Where the provider gets its `Authorization` header. */
export interface AccessTokenSource {
  /**
   * Headers with a current token, fetched or refreshed when due; concurrent callers share one fetch. A caller
   * whose cancellation fires stops waiting, the fetch goes on for the others.
   */
  headers(cancellation?: Cancellation): Promise<AuthorizationHeaders>;
  /**
   * Drops the token these headers carry after the API refused it, so that the next call fetches another; false
   * when there was nothing to drop (already replaced, or the library owns the token).
   */
  invalidate(headers: AuthorizationHeaders): boolean;
}

/** A key file's JSON, checked for what the grant needs; throws an Error naming only the missing field. */
export function parseServiceAccountKey(text: string): ServiceAccountKey | { type: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the credentials file is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('the credentials file is not a JSON object');
  }
  const key = value as Partial<ServiceAccountKey> & { type?: unknown };
  if (typeof key.type !== 'string') throw new Error('the credentials file has no type');
  if (key.type !== 'service_account') return { type: key.type };
  if (typeof key.client_email !== 'string' || key.client_email === '') {
    throw new Error('the service account key has no client_email');
  }
  if (typeof key.private_key !== 'string' || key.private_key === '') {
    throw new Error('the service account key has no private_key');
  }
  return key as ServiceAccountKey;
}

export function isServiceAccountKey(key: ServiceAccountKey | { type: string }): key is ServiceAccountKey {
  return key.type === 'service_account';
}

interface SigningKey {
  /** The key file's text it was parsed from: a rotated secret is a new key. */
  text: string;
  clientEmail: string;
  keyId: string | undefined;
  privateKey: KeyObject;
}

interface CachedToken {
  keyText: string;
  headers: AuthorizationHeaders;
  refreshAt: number;
}

export interface ServiceAccountTokenSourceOptions {
  provider: string;
  /** The key file's JSON, followed as its secret rotates. */
  key: Credential;
  /** A client whose errors are mapped by `toGatewayErrorFromTokenEndpoint`. */
  client: UpstreamClient;
  tokenUrl: string;
  scopes: readonly string[];
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Tokens from a service account key by the JWT bearer grant (RFC 7523), cached until shortly before expiry. */
export class ServiceAccountTokenSource implements AccessTokenSource {
  private readonly now: () => number;
  private readonly scope: string;
  private signingKey: SigningKey | undefined;
  private cached: CachedToken | undefined;
  private readonly fetches = new SingleFlight<AuthorizationHeaders>();

  constructor(private readonly options: ServiceAccountTokenSourceOptions) {
    this.now = options.now ?? Date.now;
    this.scope = options.scopes.join(' ');
  }

  headers(cancellation?: Cancellation): Promise<AuthorizationHeaders> {
    const keyText = this.options.key.value();
    const cached = this.cached;
    if (cached && cached.keyText === keyText && this.now() < cached.refreshAt) return Promise.resolve(cached.headers);
    const fetching = this.fetches.run(keyText, () => this.fetch(keyText));
    return cancellation ? abortable(fetching, cancellation) : fetching;
  }

  invalidate(headers: AuthorizationHeaders): boolean {
    if (this.cached?.headers !== headers) return false;
    this.cached = undefined;
    return true;
  }

  private async fetch(keyText: string): Promise<AuthorizationHeaders> {
    const key = this.signingKeyFor(keyText);
    const startedAt = this.now();
    const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion: this.assertion(key, startedAt) });
    // Not tied to any one caller: the fetch is shared. The client's total timeout still bounds it.
    const response = await this.options.client.json<unknown>({
      path: this.options.tokenUrl,
      method: 'POST',
      rawBody: form.toString(),
      headers: FORM_HEADERS,
      cancellation: new Cancellation(),
    });
    const token = toGoogleTokenResponse(this.options.provider, response.data);
    secretRedactor.add(token.access_token);
    const marginSeconds = Math.min(TOKEN_REFRESH_MARGIN_SECONDS, token.expires_in / 2);
    const headers = Object.freeze({ authorization: `Bearer ${token.access_token}` });
    this.cached = { keyText, headers, refreshAt: startedAt + (token.expires_in - marginSeconds) * 1000 };
    return headers;
  }

  /** The key is parsed once per key text; a rotated secret that no longer parses is the gateway's credential failing. */
  private signingKeyFor(text: string): SigningKey {
    if (this.signingKey?.text === text) return this.signingKey;
    let key: ServiceAccountKey | { type: string };
    let privateKey: KeyObject;
    try {
      key = parseServiceAccountKey(text);
      if (!isServiceAccountKey(key)) throw new Error('not a service account key');
      secretRedactor.add(key.private_key);
      privateKey = createPrivateKey(key.private_key);
    } catch {
      throw upstreamErrors.authFailed(this.options.provider);
    }
    this.signingKey = { text, clientEmail: key.client_email, keyId: key.private_key_id, privateKey };
    return this.signingKey;
  }

  private assertion(key: SigningKey, nowMs: number): string {
    const iat = Math.floor(nowMs / 1000);
    const header = key.keyId ? { alg: 'RS256', typ: 'JWT', kid: key.keyId } : { alg: 'RS256', typ: 'JWT' };
    const claims = {
      iss: key.clientEmail,
      scope: this.scope,
      aud: GOOGLE_TOKEN_URL,
      iat,
      exp: iat + ASSERTION_LIFETIME_SECONDS,
    };
    const signingInput = `${base64Url(JSON.stringify(header))}.${base64Url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key.privateKey).toString('base64url');
    return `${signingInput}.${signature}`;
  }
}

function base64Url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** A token answer, or the GatewayError its body stands for. */
export function toGoogleTokenResponse(provider: string, body: unknown): GoogleTokenResponse {
  if (isTokenError(body)) throw upstreamErrors.authFailed(provider);
  const token = body as Partial<GoogleTokenResponse> | null;
  if (
    typeof token?.access_token !== 'string' ||
    token.access_token === '' ||
    typeof token.expires_in !== 'number' ||
    !(token.expires_in > 0)
  ) {
    throw upstreamErrors.invalidResponse(provider, 'the token endpoint answered without an access token');
  }
  return { access_token: token.access_token, expires_in: token.expires_in };
}

function isTokenError(body: unknown): body is GoogleTokenErrorBody {
  return body !== null && typeof body === 'object' && typeof (body as GoogleTokenErrorBody).error === 'string';
}

/**
 * Non-2xx answers of the token endpoint: OAuth errors (`invalid_grant` for a bad key or clock, `invalid_scope`,
 * `unauthorized_client`) and any other 4xx mean the configured key or token URL is wrong, a non-retryable 502;
 * 429 and 5xx are the endpoint's own trouble and retryable.
 */
export function toGatewayErrorFromTokenEndpoint(provider: string, status: number, body: unknown): GatewayError {
  if (status === 429) return upstreamErrors.rateLimited(provider, 'the token endpoint is rate limiting');
  if (status >= 500) return upstreamErrors.serverError(provider, 'the token endpoint failed', status);
  if (isTokenError(body) || status >= 400) return upstreamErrors.authFailed(provider);
  return upstreamErrors.invalidResponse(provider, 'the token endpoint gave an unexpected answer');
}

/**
 * Tokens from google-auth-library (`GoogleAuth`: the workload's default credentials, or a key file that is not a
 * service account key). The library refreshes a token before it expires and shares concurrent refreshes; the
 * client is made on first use so that start-up does not need the metadata server.
 */
export class GoogleAuthTokenSource implements AccessTokenSource {
  private client: Promise<AuthClient> | undefined;
  private currentToken: string | undefined;
  private current: AuthorizationHeaders = Object.freeze({});
  private readonly fetches = new SingleFlight<AuthorizationHeaders>();

  constructor(
    private readonly provider: string,
    private readonly auth: GoogleAuth,
  ) {}

  headers(cancellation?: Cancellation): Promise<AuthorizationHeaders> {
    const fetching = this.fetches.run('token', () => this.fetch());
    return cancellation ? abortable(fetching, cancellation) : fetching;
  }

  invalidate(): boolean {
    return false;
  }

  private async fetch(): Promise<AuthorizationHeaders> {
    let token: string | null | undefined;
    try {
      const client = await (this.client ??= this.auth.getClient());
      token = (await client.getAccessToken()).token;
    } catch (error) {
      this.client = undefined;
      throw libraryError(this.provider, error);
    }
    if (!token) throw upstreamErrors.authFailed(this.provider);
    if (token !== this.currentToken) {
      secretRedactor.add(token);
      this.currentToken = token;
      this.current = Object.freeze({ authorization: `Bearer ${token}` });
    }
    return this.current;
  }
}

/** The library's failures: its HTTP status when it has one; network trouble is retryable, the rest a bad credential. */
function libraryError(provider: string, error: unknown): GatewayError {
  const status = (error as { response?: { status?: unknown } } | null)?.response?.status;
  if (typeof status === 'number' && (status === 429 || status >= 500)) {
    return upstreamErrors.serverError(provider, 'the default credentials could not be refreshed', status);
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    return upstreamErrors.serverError(provider, 'the default credentials could not be refreshed');
  }
  return upstreamErrors.authFailed(provider);
}

function abortable<T>(promise: Promise<T>, cancellation: Cancellation): Promise<T> {
  const reason = () => (cancellation.reason instanceof GatewayError ? cancellation.reason : new ClientClosedError());
  if (cancellation.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const stop = cancellation.onCancel(() => reject(reason()));
    promise.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error);
      },
    );
  });
}
