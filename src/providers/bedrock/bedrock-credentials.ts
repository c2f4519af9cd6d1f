/**
 * AWS credentials for the `bedrock` provider and the SigV4 signature of each upstream attempt, both with AWS's own
 * packages: `@aws-sdk/credential-providers` finds and refreshes the credentials, `@smithy/signature-v4` signs.
 *
 * - Static keys (`options.accessKeyId` / `secretAccessKey` / `sessionToken`) are secret references, read through the
 *   runtime at every signature, so a key rotated in Vault or in its file is used at once.
 * - Otherwise the SDK's default Node chain (https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html):
 *   environment, shared config and credentials files (`options.profile`), web identity (EKS IRSA,
 *   https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html), container credentials
 *   (ECS, EKS Pod Identity) and EC2 instance metadata. The chain memoises what it found and fetches anew five minutes
 *   before expiry without blocking callers, one fetch at a time; a credential Bedrock refused is fetched anew at once.
 */
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { GatewayError } from '../../common/errors/gateway.error.js';
import { secretRedactor } from '../../common/redaction.js';
import type { SignableRequest } from '../../upstream/upstream-client.js';
import type { Credential } from '../provider-runtime.js';

/** The signing name of Bedrock Runtime (https://docs.aws.amazon.com/bedrock/latest/APIReference/welcome.html). */
const SIGNING_SERVICE = 'bedrock';

export interface AwsCredentialSource {
  /** The credentials to sign with now. */
  current(): Promise<AwsCredentialIdentity>;
  /** Bedrock refused the last credentials (expired, unknown or bad signature): the next call fetches anew. */
  rejected(): void;
  /** Whether fetching anew at once can give other credentials to replay the call with (false for static keys). */
  readonly refreshable: boolean;
}

export interface StaticKeyCredentials {
  accessKeyId: Credential;
  secretAccessKey: Credential;
  sessionToken?: Credential;
}

/** Keys from secret references; the identity object is rebuilt only when one of the values changed. */
export function staticCredentialSource(
  keys: StaticKeyCredentials,
  /** Reads the keys' secrets again now (Bedrock refuses keys with a 403 the transport does not treat as a 401). */
  reread: () => void = () => undefined,
): AwsCredentialSource {
  let identity: AwsCredentialIdentity | undefined;
  return {
    refreshable: false,
    rejected: reread,
    async current() {
      const accessKeyId = keys.accessKeyId.value();
      const secretAccessKey = keys.secretAccessKey.value();
      const sessionToken = keys.sessionToken?.value();
      if (
        identity === undefined ||
        identity.accessKeyId !== accessKeyId ||
        identity.secretAccessKey !== secretAccessKey ||
        identity.sessionToken !== sessionToken
      ) {
        identity = sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
      }
      return identity;
    },
  };
}

type RefreshableProvider = (options?: { forceRefresh?: boolean }) => Promise<AwsCredentialIdentity>;

/**
 * The SDK's default chain; `region` is the STS region for web identity and role assumption. Every credential set it
 * hands out is registered with the redactor.
 */
export function defaultChainCredentialSource(
  options: { profile?: string; region: string },
  provider: RefreshableProvider = fromNodeProviderChain({
    profile: options.profile,
    clientConfig: { region: options.region },
  }),
): AwsCredentialSource {
  let forceRefresh = false;
  let registered: AwsCredentialIdentity | undefined;
  return {
    refreshable: true,
    rejected() {
      forceRefresh = true;
    },
    async current() {
      const refresh = forceRefresh;
      forceRefresh = false;
      const identity = await provider(refresh ? { forceRefresh: true } : undefined);
      if (identity !== registered) {
        registered = identity;
        secretRedactor.add(identity.secretAccessKey);
        secretRedactor.addEphemeral(identity.sessionToken);
      }
      return identity;
    },
  };
}

/**
 * `signRequest` for the shared transport: SigV4 over the request as it leaves (method, path, every header, body),
 * on every attempt. Returns only the headers the signature adds; undici sends `host` itself, with the value signed.
 * No credentials to be had (an empty chain, an STS refusal) is the provider's auth failure, not a network error.
 */
export function createSigV4Signer(
  source: AwsCredentialSource,
  region: string,
  provider: string,
): (request: SignableRequest) => Promise<Record<string, string>> {
  const credentials: AwsCredentialIdentityProvider = async () => {
    try {
      return await source.current();
    } catch (error) {
      throw new GatewayError(
        502,
        'server_error',
        `${provider}: no AWS credentials could be obtained (${error instanceof Error ? error.message : String(error)})`,
        { code: 'upstream_auth_error', retryable: false, fromUpstream: true, cause: error },
      );
    }
  };
  // No x-amz-content-sha256 header: Bedrock does not ask for it, and the payload hash is in the signature anyway.
  const signer = new SignatureV4({
    credentials,
    region,
    service: SIGNING_SERVICE,
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  return async ({ method, url, headers, body }) => {
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: url.pathname,
      query: {},
      headers: { ...headers, host: url.host },
      body,
    });
    const added: Record<string, string> = {
      authorization: signed.headers.authorization,
      'x-amz-date': signed.headers['x-amz-date'],
    };
    const token = signed.headers['x-amz-security-token'];
    if (token !== undefined) added['x-amz-security-token'] = token;
    return added;
  };
}
