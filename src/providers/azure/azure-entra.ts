/**
 * Microsoft Entra ID tokens for Azure OpenAI, through @azure/identity: an app registration's client secret
 * (ClientSecretCredential), or the default credential chain (DefaultAzureCredential: environment, workload identity,
 * managed identity, developer logins). Tokens for the Cognitive Services scope are cached, refreshed in the
 * background before they expire, fetched by one caller at a time, and turned into the `Authorization` header the
 * transport signs each attempt with.
 *
 * Follows https://learn.microsoft.com/azure/ai-foundry/openai/how-to/managed-identity (scope
 * `https://cognitiveservices.azure.com/.default`, `Authorization: Bearer`) and @azure/identity's
 * TokenCredential contract (`expiresOnTimestamp`, `refreshAfterTimestamp`).
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import {
  type AccessToken,
  ClientSecretCredential,
  DefaultAzureCredential,
  type TokenCredential,
  type TokenCredentialOptions,
} from '@azure/identity';
import { Logger, type LoggerService } from '@nestjs/common';
import { IsBoolean, IsOptional, IsString, IsUrl, MinLength, ValidateIf } from 'class-validator';
import type { Cancellation } from '../../common/cancellation.js';
import { ClientClosedError, GatewayError } from '../../common/errors/gateway.error.js';
import { redact, secretRedactor } from '../../common/redaction.js';
import { SingleFlight } from '../../common/single-flight.js';
import type { Credential } from '../provider-runtime.js';
import { upstreamErrors } from '../provider-errors.js';

export const COGNITIVE_SERVICES_SCOPE = 'https://cognitiveservices.azure.com/.default';

/**
 * `options.entra` of an `azure` provider. With `clientSecret`: that app registration (tenant and client id
 * required). Without: the default credential chain, `clientId` then naming a user-assigned managed identity or the
 * workload identity's app.
 */
export class AzureEntraOptions {
  @ValidateIf((options: AzureEntraOptions) => options.clientSecret !== undefined || options.tenantId !== undefined)
  @IsString()
  @MinLength(1)
  tenantId?: string;

  @ValidateIf((options: AzureEntraOptions) => options.clientSecret !== undefined || options.clientId !== undefined)
  @IsString()
  @MinLength(1)
  clientId?: string;

  /** The app registration's client secret, a secret reference like any credential. */
  @IsOptional() @IsString() clientSecret?: string;

  /** Default `https://login.microsoftonline.com` (or AZURE_AUTHORITY_HOST); sovereign clouds have their own. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['https'] })
  authorityHost?: string;

  /** For authority hosts Entra's instance discovery does not know (Azure Stack, private clouds, test doubles). */
  @IsOptional() @IsBoolean() disableInstanceDiscovery?: boolean;

  /**
   * A PEM file of CA certificates trusted for the authority host besides the system's (a TLS-inspecting egress
   * proxy, a private cloud). Certificates are always checked.
   */
  @IsOptional() @IsString() @MinLength(1) caFile?: string;

  /** Default `https://cognitiveservices.azure.com/.default`; Azure Government uses `https://cognitiveservices.azure.us/.default`. */
  @IsOptional() @IsString() @MinLength(1) scope: string = COGNITIVE_SERVICES_SCOPE;
}

/**
 * The credential to ask for tokens. A client secret read from a rotating reference gives a new credential when its
 * value changes (ClientSecretCredential holds the value it was built with).
 */
export function entraCredential(
  options: AzureEntraOptions,
  clientSecret: Credential | undefined,
): () => TokenCredential {
  const common: TokenCredentialOptions & { disableInstanceDiscovery?: boolean } = {
    ...(options.authorityHost !== undefined && { authorityHost: options.authorityHost }),
    ...(options.disableInstanceDiscovery !== undefined && {
      disableInstanceDiscovery: options.disableInstanceDiscovery,
    }),
    ...(options.caFile !== undefined && { additionalPolicies: [trustingCa(readFileSync(options.caFile, 'utf8'))] }),
  };
  if (clientSecret === undefined) {
    const chain = new DefaultAzureCredential({
      ...common,
      ...(options.tenantId !== undefined && { tenantId: options.tenantId }),
      ...(options.clientId !== undefined && { managedIdentityClientId: options.clientId }),
    });
    return () => chain;
  }
  const tenantId = options.tenantId!;
  const clientId = options.clientId!;
  let builtWith: string | undefined;
  let credential: TokenCredential | undefined;
  return () => {
    const secret = clientSecret.value();
    if (credential === undefined || secret !== builtWith) {
      builtWith = secret;
      credential = new ClientSecretCredential(tenantId, clientId, secret, common);
    }
    return credential;
  };
}

type PipelinePolicyConfig = NonNullable<TokenCredentialOptions['additionalPolicies']>[number];

/** Trusts `ca` besides the system CAs on the credential's own HTTP client; one settings object, so one agent. */
function trustingCa(ca: string): PipelinePolicyConfig {
  const tlsSettings = { ca: [...rootCertificates, ca] };
  return {
    position: 'perCall',
    policy: {
      name: 'gateway-entra-ca',
      sendRequest: (request, next) => {
        request.tlsSettings = tlsSettings;
        return next(request);
      },
    },
  };
}

export interface EntraTokenCacheOptions {
  /** Display name for error messages. */
  provider: string;
  scope: string;
  credential: () => TokenCredential;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  logger?: Pick<LoggerService, 'warn'>;
  /** Entra refused the credential (a rotated-away client secret): the provider's secrets are read again now. */
  onRefused?: () => void;
}

interface CachedToken {
  headers: Record<string, string>;
  /** From then on, the next caller starts a background refresh. */
  refreshAt: number;
  /** Past this the token is not sent any more: callers wait for a new one. */
  usableUntil: number;
}

/** Refresh this long before expiry at most (MSAL's own cache renews within five minutes of expiry). */
const REFRESH_MARGIN_MS = 5 * 60_000;
/** Stop sending a token this long before it expires at most: clock skew and time in flight. */
const EXPIRY_SLACK_MS = 30_000;
/** After a failed background refresh, the next attempt waits this long (the current token still serves). */
const REFRESH_RETRY_MS = 5_000;
/** A token request taking longer has failed (Entra answers in well under a second). */
export const ENTRA_TOKEN_TIMEOUT_MS = 15_000;

export class EntraTokenCache {
  private readonly onRefused: (() => void) | undefined;
  private readonly provider: string;
  private readonly scope: string;
  private readonly credential: () => TokenCredential;
  private readonly now: () => number;
  private readonly logger: Pick<LoggerService, 'warn'>;
  private readonly fetches = new SingleFlight<CachedToken>();
  private cached: CachedToken | undefined;

  constructor(options: EntraTokenCacheOptions) {
    this.provider = options.provider;
    this.scope = options.scope;
    this.credential = options.credential;
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? new Logger(EntraTokenCache.name);
    this.onRefused = options.onRefused;
  }

  /**
   * The `Authorization` header for the next attempt: the cached token's (the same object while the token lasts),
   * starting a background refresh once it is due, or a new token when none is usable.
   */
  headers(): Promise<Record<string, string>> {
    const cached = this.cached;
    if (cached !== undefined) {
      const now = this.now();
      if (now < cached.refreshAt) return Promise.resolve(cached.headers);
      if (now < cached.usableUntil) {
        this.refreshInBackground(cached);
        return Promise.resolve(cached.headers);
      }
    }
    return this.fetch().then((token) => token.headers);
  }

  /**
   * Undefined when a token is usable now (the usual case: nothing to await); otherwise resolves once one is, or
   * rejects when the request is cancelled first (the fetch goes on for the others).
   */
  untilUsable(cancellation: Cancellation): Promise<void> | undefined {
    const cached = this.cached;
    if (cached !== undefined && this.now() < cached.usableUntil) return undefined;
    return untilCancelled(this.fetch(), cancellation).then(() => undefined);
  }

  /** Forgets the token after Azure refused it (401): the next caller asks the credential again. */
  invalidate(): void {
    this.cached = undefined;
  }

  private refreshInBackground(current: CachedToken): void {
    // The failure was logged by fetch(); the current token serves until a later attempt succeeds.
    this.fetch().catch(() => {
      if (this.cached === current) current.refreshAt = Math.min(current.usableUntil, this.now() + REFRESH_RETRY_MS);
    });
  }

  private fetch(): Promise<CachedToken> {
    return this.fetches.run('token', async () => {
      const requestedAt = this.now();
      let token: AccessToken | null;
      try {
        token = await withTimeout(
          (abortSignal) => this.credential().getToken(this.scope, { abortSignal }),
          ENTRA_TOKEN_TIMEOUT_MS,
        );
      } catch (error) {
        this.logger.warn(`${this.provider}: the Entra ID token request failed: ${describeError(error)}`);
        throw this.toGatewayError(error);
      }
      if (!token?.token) throw upstreamErrors.authFailed(this.provider);
      secretRedactor.addEphemeral(token.token);
      const expiresAt = token.expiresOnTimestamp;
      const lifetime = Math.max(0, expiresAt - requestedAt);
      const usableUntil = expiresAt - Math.min(EXPIRY_SLACK_MS, lifetime / 4);
      const refreshAt = Math.min(
        token.refreshAfterTimestamp ?? expiresAt - Math.min(REFRESH_MARGIN_MS, lifetime / 2),
        usableUntil,
      );
      const cached = { headers: { authorization: `Bearer ${token.token}` }, refreshAt, usableUntil };
      this.cached = cached;
      return cached;
    });
  }

  /**
   * A token that cannot be had: a timeout or Entra failing (429, 5xx) is transient and moves routing on; anything
   * else (a wrong secret or tenant, no identity available) is the gateway's credential refused, never retried.
   */
  private toGatewayError(error: unknown): GatewayError {
    if (error instanceof GatewayError) return error;
    if (error instanceof TokenTimeout) {
      return upstreamErrors.timeout(this.provider, 'the Entra ID token request timed out');
    }
    const status = (error as { statusCode?: unknown } | null)?.statusCode;
    if (typeof status === 'number' && (status === 429 || status >= 500)) {
      return upstreamErrors.serverError(this.provider, `the Entra ID token endpoint answered ${status}`, 503);
    }
    this.onRefused?.();
    return upstreamErrors.authFailed(this.provider);
  }
}

class TokenTimeout extends Error {}

/** Runs `task` with a signal aborted after `ms`, and stops waiting then even if the task ignores the signal. */
async function withTimeout<T>(task: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const timeout = new TokenTimeout(`no token within ${ms} ms`);
      controller.abort(timeout);
      reject(timeout);
    }, ms);
  });
  try {
    return await Promise.race([task(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The promise, or the request's end (the client gone, its deadline) if that comes first; the router names which. */
function untilCancelled<T>(promise: Promise<T>, cancellation: Cancellation): Promise<T> {
  if (cancellation.aborted) return Promise.reject(new ClientClosedError());
  return new Promise<T>((resolve, reject) => {
    const stopListening = cancellation.onCancel(() => reject(new ClientClosedError()));
    promise.then(
      (value) => {
        stopListening();
        resolve(value);
      },
      (error: unknown) => {
        stopListening();
        reject(error);
      },
    );
  });
}

function describeError(error: unknown): string {
  return redact(error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 500);
}
