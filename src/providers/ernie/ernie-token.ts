/**
 * The ERNIE v1 OAuth access token (spec §2a "Auth"): fetched from API Key + Secret Key, cached until well
 * before it expires, fetched by one caller at a time however many wait for it, and dropped when Baidu says it
 * is no longer valid. Neither the secret nor the token ever appears in an error message.
 */
import { Cancellation } from '../../common/cancellation.js';
import { ClientClosedError, GatewayError } from '../../common/errors/gateway.error.js';
import type { UpstreamClient } from '../../upstream/upstream-client.js';
import { upstreamErrors } from '../provider-errors.js';
import type { ErnieTokenErrorBody, ErnieTokenResponse } from './ernie.types.js';
import { secretRedactor } from '../../common/redaction.js';
import { SingleFlight } from '../../common/single-flight.js';

/** Asks the token endpoint for a new token; rejects with a GatewayError. */
export type ErnieTokenFetcher = () => Promise<ErnieTokenResponse>;

export interface ErnieTokenManagerOptions {
  fetchToken: ErnieTokenFetcher;
  /**
   * Refresh this long before expiry. Default one day: Baidu tokens live 30 days, so a day early costs nothing
   * and leaves a day's slack for clock skew and token-endpoint trouble.
   */
  refreshMarginSeconds?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export const DEFAULT_TOKEN_REFRESH_MARGIN_SECONDS = 86_400;

interface CachedToken {
  token: string;
  refreshAt: number;
}

export class ErnieTokenManager {
  private readonly fetchToken: ErnieTokenFetcher;
  private readonly marginSeconds: number;
  private readonly now: () => number;
  private cached: CachedToken | undefined;
  private readonly fetches = new SingleFlight<string>();

  constructor(options: ErnieTokenManagerOptions) {
    this.fetchToken = options.fetchToken;
    this.marginSeconds = options.refreshMarginSeconds ?? DEFAULT_TOKEN_REFRESH_MARGIN_SECONDS;
    this.now = options.now ?? Date.now;
  }

  /**
   * The current token, fetching one if there is none or it is due for refresh. Concurrent callers share one
   * fetch. A caller whose `signal` aborts stops waiting; the fetch itself goes on for the others.
   */
  getToken(signal?: AbortSignal): Promise<string> {
    const cached = this.cached;
    if (cached && this.now() < cached.refreshAt) return Promise.resolve(cached.token);
    const fetching = this.fetches.run('token', () => this.fetch());
    return signal ? abortable(fetching, signal) : fetching;
  }

  /**
   * Forgets `token` after Baidu rejected it (codes 100/110/111), so the next getToken() fetches a new one.
   * A token that was already replaced is left alone: many requests failing with the same old token cause
   * one refresh, not one each.
   */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetch(): Promise<string> {
    const startedAt = this.now();
    const response = await this.fetchToken();
    secretRedactor.addEphemeral(response.access_token);
    // Capped at half the lifetime so that a short-lived token is still used for a while instead of being
    // stale on arrival (which would mean a fetch per request).
    const marginSeconds = Math.min(this.marginSeconds, response.expires_in / 2);
    this.cached = { token: response.access_token, refreshAt: startedAt + (response.expires_in - marginSeconds) * 1000 };
    return response.access_token;
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const reason = () => (signal.reason instanceof GatewayError ? signal.reason : new ClientClosedError());
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

export interface ErnieTokenEndpoint {
  /** Display name for error messages. */
  provider: string;
  tokenUrl: string;
  apiKey: string;
  secretKey: string;
}

/**
 * Fetches tokens over `client` (which must map errors with `toGatewayErrorFromTokenEndpoint`):
 * `POST <tokenUrl>?grant_type=client_credentials&client_id=…&client_secret=…` with an empty body.
 */
export function createErnieTokenFetcher(client: UpstreamClient, endpoint: ErnieTokenEndpoint): ErnieTokenFetcher {
  return async () => {
    // Built per fetch: the keys may have been rotated since the last one.
    const url = new URL(endpoint.tokenUrl);
    url.searchParams.set('grant_type', 'client_credentials');
    url.searchParams.set('client_id', endpoint.apiKey);
    url.searchParams.set('client_secret', endpoint.secretKey);
    const path = url.toString();
    // Not tied to any one caller's signal: the fetch is shared. The client's total timeout still bounds it.
    const response = await client.json<unknown>({ path, method: 'POST', cancellation: new Cancellation() });
    return toErnieTokenResponse(endpoint.provider, response.data);
  };
}

/** A token answer, or the GatewayError its body stands for (Baidu may answer OAuth errors with any status). */
export function toErnieTokenResponse(provider: string, body: unknown): ErnieTokenResponse {
  if (isTokenError(body)) throw upstreamErrors.authFailed(provider);
  const token = body as Partial<ErnieTokenResponse> | null;
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

function isTokenError(body: unknown): body is ErnieTokenErrorBody {
  return body !== null && typeof body === 'object' && typeof (body as ErnieTokenErrorBody).error === 'string';
}

/**
 * Non-2xx answers of the token endpoint. OAuth errors (`invalid_client`, `invalid_request`) and any other 4xx
 * mean the configured credentials or token URL are wrong: a non-retryable 502, never the caller's 401.
 */
export function toGatewayErrorFromTokenEndpoint(provider: string, status: number, body: unknown): GatewayError {
  if (isTokenError(body)) return upstreamErrors.authFailed(provider);
  if (status === 429) return upstreamErrors.rateLimited(provider, 'the token endpoint is rate limiting');
  if (status >= 500) return upstreamErrors.serverError(provider, 'the token endpoint failed', status);
  return upstreamErrors.authFailed(provider);
}
