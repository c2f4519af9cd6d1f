/**
 * What a provider is given to run, besides its config and options: its credentials, resolved from secret
 * references and kept current, and the shared upstream transport. Providers never read secrets or wire metrics
 * themselves; the registry builds one runtime per configured provider (see provider-registry.ts).
 */
import type { ProviderConfig } from '../config/gateway-config.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { SecretHandle, SecretsService } from '../secrets/secrets.service.js';
import { UpstreamClient, type UpstreamClientOptions, type UpstreamErrorMapper } from '../upstream/upstream-client.js';

/** A credential that follows its secret: a key rotated in Vault (or in its file) is used without a restart. */
export interface Credential {
  value(): string;
}

export interface UpstreamSettings extends Pick<UpstreamClientOptions, 'authHeaders' | 'random' | 'signRequest'> {
  /** Headers on every request of this client, after the provider's configured `headers`. */
  headers?: Record<string, string>;
  /** Another base URL than the provider's (a token endpoint on another host, say). */
  baseUrl?: string;
  /** Leave out the provider's configured `headers` (they are meant for its model API, not for this endpoint). */
  withoutConfiguredHeaders?: boolean;
}

export interface ProviderRuntime {
  /** Resolves a secret reference (literal, `env:`, `file:`, `vault:`); rejects with a message naming the reference. */
  credential(reference: string): Promise<Credential>;
  /**
   * A transport to this provider's upstream with its pool, timeouts and retries. An answer 401 makes every
   * credential of the provider read its secret again; transport retries are counted in the provider's metrics.
   */
  upstream(mapError: UpstreamErrorMapper, settings?: UpstreamSettings): UpstreamClient;
  /**
   * The upstream refused this provider's credentials in a way the transport cannot see (a 403 with a credential
   * error type, a refusal inside a stream): every credential reads its secret again now.
   */
  credentialsRejected(): void;
}

export function createProviderRuntime(
  config: ProviderConfig,
  secrets: SecretsService,
  metrics: GatewayMetrics | undefined,
): ProviderRuntime {
  const handles: SecretHandle[] = [];
  const retries = metrics?.provider(config.name)?.retries;
  const onCredentialRejected = () => {
    for (const handle of handles) handle.onAuthFailure();
  };
  const onTransportRetry = retries ? () => retries.inc() : undefined;
  return {
    credentialsRejected: onCredentialRejected,
    async credential(reference) {
      await secrets.resolve(reference);
      const handle = secrets.handle(reference);
      handles.push(handle);
      return { value: () => handle.value() };
    },
    upstream(mapError, settings = {}) {
      const configured = settings.withoutConfiguredHeaders ? {} : config.headers;
      return new UpstreamClient(
        {
          ...config,
          baseUrl: settings.baseUrl ?? config.baseUrl,
          headers: { ...configured, ...settings.headers },
        },
        mapError,
        {
          authHeaders: settings.authHeaders,
          random: settings.random,
          signRequest: settings.signRequest,
          onCredentialRejected,
          onTransportRetry,
        },
      );
    },
  };
}
