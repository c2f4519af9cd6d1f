/**
 * The `secrets:` section of the gateway YAML. Without `vault`, only literal, `env:` and `file:` references work.
 *
 * The Vault credentials (`token`, `roleId`, `secretId`) may themselves be literal, `env:` or `file:` references;
 * they are read again at every login, so a token file kept fresh by Vault Agent is followed.
 */
import { Nested } from '../config/config-schema.js';
import {
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';

/** Injection token for the SecretsConfig given to SecretsModule.forRoot(). */
export const SECRETS_CONFIG = Symbol('SECRETS_CONFIG');

export const VAULT_AUTH_METHODS = ['token', 'approle', 'kubernetes'] as const;
export type VaultAuthMethod = (typeof VAULT_AUTH_METHODS)[number];

export const DEFAULT_KUBERNETES_JWT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** One rule, one message: a non-empty string that is not itself a `vault:` reference. */
const CREDENTIAL = /^(?!vault:)./s;
const credential = (requiredFor?: VaultAuthMethod) => ({
  message: `$property must be a non-empty literal, env: or file: value${requiredFor ? ` (required when method is ${requiredFor})` : ''}`,
});

export class VaultAuthConfig {
  @IsIn(VAULT_AUTH_METHODS) method!: VaultAuthMethod;

  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'token')
  @Matches(CREDENTIAL, credential('token'))
  token?: string;

  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'approle')
  @Matches(CREDENTIAL, credential('approle'))
  roleId?: string;

  /** Optional: a role created with `bind_secret_id=false` logs in with the role id alone. */
  @IsOptional()
  @Matches(CREDENTIAL, credential())
  secretId?: string;

  /** The Kubernetes auth role. */
  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'kubernetes')
  @Matches(/./, { message: 'role must be a non-empty string (required when method is kubernetes)' })
  role?: string;

  /** Service-account JWT file (Kubernetes). Default DEFAULT_KUBERNETES_JWT_PATH. */
  @IsOptional() @IsString() @MinLength(1) jwtPath?: string;

  /** Auth mount path. Default `approle` / `kubernetes`; unused for `token`. */
  @IsOptional()
  @Matches(/^[^/](.*[^/])?$/, { message: 'mount must be a path that does not start or end with /' })
  mount?: string;
}

export class VaultConfig {
  /** e.g. `https://vault.internal:8200`. */
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  address!: string;

  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  @IsOptional() @IsString() @MinLength(1) namespace?: string;

  @IsDefined() @Nested(() => VaultAuthConfig) auth!: VaultAuthConfig;

  /** Per HTTP attempt. */
  @IsInt() @Min(1) requestTimeoutMs: number = 5_000;

  /** Extra attempts after network errors, timeouts and 412/429/500/502/503 answers (spec §5.6). */
  @IsInt() @Min(0) @Max(10) retries: number = 2;
}

export class SecretsConfig {
  @IsOptional() @Nested(() => VaultConfig) vault?: VaultConfig;

  /** How often Vault secrets (and `file:` secrets) are read again. */
  @IsInt() @Min(1) refreshIntervalMs: number = 60_000;

  /** A caller's onAuthFailure() refreshes its secret at most this often. */
  @IsInt() @Min(0) minRefreshOnAuthFailureIntervalMs: number = 30_000;
}
