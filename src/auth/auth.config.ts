/** Gateway API keys: who may call, which models, at what rate, within what token budget. */
import { Nested, NestedArray } from '../config/config-schema.js';
import { IsArray, IsBoolean, IsInt, IsOptional, IsString, Matches, Min, MinLength, ValidateIf } from 'class-validator';
import { Limits } from '../rate-limit/rate-limit.config.js';

export class TokenBudgetConfig {
  /** Prompt + completion tokens per UTC day. */
  @IsOptional() @IsInt() @Min(1) tokensPerDay?: number;
  /** Prompt + completion tokens per UTC month. */
  @IsOptional() @IsInt() @Min(1) tokensPerMonth?: number;
}

export class ApiKeyConfig {
  /** Names the key in logs, metrics and headers; never the secret. */
  @Matches(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'id may contain only letters, digits, _ . - (at most 64)' })
  id!: string;

  /** The key itself (a literal, env:NAME, file:/path or vault:mount/path#field); only its hash is kept. */
  @ValidateIf((key: ApiKeyConfig) => key.keyHash === undefined)
  @IsString()
  @MinLength(16, { message: 'key must be at least 16 characters' })
  key?: string;

  /** Or the key's SHA-256 as `sha256:<64 hex>`, so the config never holds the key. */
  @ValidateIf((key: ApiKeyConfig) => key.key === undefined)
  @Matches(/^sha256:[0-9a-f]{64}$/, { message: 'keyHash must be sha256:<64 lowercase hex digits>' })
  keyHash?: string;

  /** Public models this key may use; absent means all. */
  @IsOptional() @IsArray() @IsString({ each: true }) models?: string[];

  /** Replaces `rateLimit.defaultPerKey` for this key. */
  @IsOptional() @Nested(() => Limits) limits?: Limits;

  @IsOptional() @Nested(() => TokenBudgetConfig) budget?: TokenBudgetConfig;

  /** May call /admin endpoints. */
  @IsBoolean() admin: boolean = false;
}

export class AuthConfig {
  /** Turning auth off must be explicit; start-up then logs a warning. */
  @IsBoolean() enabled: boolean = true;

  @IsArray() @NestedArray(() => ApiKeyConfig) keys: ApiKeyConfig[] = [];
}
