/**
 * The `secrets:` section of the gateway YAML. Without `vault`, only literal, `env:` and `file:` references work.
 *
 * The Vault credentials (`token`, `roleId`, `secretId`) may themselves be literal, `env:` or `file:` references;
 * they are read again at every login, so a token file kept fresh by Vault Agent is followed.
 */
import { Type } from 'class-transformer';
import {
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
  ValidateNested,
} from 'class-validator';

/** Injection token for the SecretsConfig given to SecretsModule.forRoot(). */
export const SECRETS_CONFIG = Symbol('SECRETS_CONFIG');

export const VAULT_AUTH_METHODS = ['token', 'approle', 'kubernetes'] as const;
export type VaultAuthMethod = (typeof VAULT_AUTH_METHODS)[number];

export const DEFAULT_KUBERNETES_JWT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';

const NOT_A_VAULT_REFERENCE = /^(?!vault:)/;
const notAVaultReference = { message: '$property cannot itself be a vault: reference (use a literal, env: or file:)' };

export class VaultAuthConfig {
  @IsIn(VAULT_AUTH_METHODS) method!: VaultAuthMethod;

  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'token')
  @IsString() @MinLength(1) @Matches(NOT_A_VAULT_REFERENCE, notAVaultReference)
  token?: string;

  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'approle')
  @IsString() @MinLength(1) @Matches(NOT_A_VAULT_REFERENCE, notAVaultReference)
  roleId?: string;

  /** Optional: a role created with `bind_secret_id=false` logs in with the role id alone. */
  @IsOptional() @IsString() @MinLength(1) @Matches(NOT_A_VAULT_REFERENCE, notAVaultReference)
  secretId?: string;

  /** The Kubernetes auth role. */
  @ValidateIf((auth: VaultAuthConfig) => auth.method === 'kubernetes')
  @IsString() @MinLength(1)
  role?: string;

  /** Service-account JWT file (Kubernetes). Default DEFAULT_KUBERNETES_JWT_PATH. */
  @IsOptional() @IsString() @MinLength(1) jwtPath?: string;

  /** Auth mount path. Default `approle` / `kubernetes`; unused for `token`. */
  @IsOptional() @IsString() @Matches(/^[^/](.*[^/])?$/, { message: 'mount must not start or end with /' })
  mount?: string;
}

export class VaultConfig {
  /** e.g. `https://vault.internal:8200`. */
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  address!: string;

  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
  @IsOptional() @IsString() @MinLength(1) namespace?: string;

  @ValidateNested() @Type(() => VaultAuthConfig) auth!: VaultAuthConfig;

  /** Per HTTP attempt. */
  @IsInt() @Min(1) requestTimeoutMs: number = 5_000;

  /** Extra attempts after network errors, timeouts and 412/429/500/502/503 answers (spec §5.6). */
  @IsInt() @Min(0) @Max(10) retries: number = 2;
}

export class SecretsConfig {
  @IsOptional() @ValidateNested() @Type(() => VaultConfig) vault?: VaultConfig;

  /** How often Vault secrets (and `file:` secrets) are read again. */
  @IsInt() @Min(1) refreshIntervalMs: number = 60_000;

  /** A caller's onAuthFailure() refreshes its secret at most this often. */
  @IsInt() @Min(0) minRefreshOnAuthFailureIntervalMs: number = 30_000;
}
