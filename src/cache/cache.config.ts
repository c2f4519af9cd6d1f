/**
 * The `cache` section of the gateway config, validated with class-validator like the rest of GatewayConfig.
 */
import { Nested } from '../config/config-schema.js';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Min,
  ValidateBy,
  buildMessage,
  type ValidationOptions,
} from 'class-validator';
import { CACHE_MODES, type CacheMode, SHARED_NAMESPACE } from './cache-key.js';

export class CacheL1Config {
  @IsInt() @Min(1) maxEntries: number = 1_000;
  /** Bound on the total length of the stored JSON strings. */
  @IsInt() @Min(1) maxBytes: number = 64 * 1024 * 1024;
}

export class CacheRedisConfig {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`; the password is never logged. */
  @Matches(/^rediss?:\/\/\S+$/, { message: 'url must be a redis:// or rediss:// URL' })
  url!: string;

  @IsString() keyPrefix: string = 'llmgw:cache:';
  @IsInt() @Min(1) connectTimeoutMs: number = 1_000;
  /** A lookup that takes longer is abandoned and the request proceeds as a miss. */
  @IsInt() @Min(1) commandTimeoutMs: number = 200;
  /** Reconnection backs off exponentially from 50 ms up to this. */
  @IsInt() @Min(1) reconnectMaxDelayMs: number = 2_000;
}

/** A mapping of model name to a positive whole number of seconds. */
function IsTtlTable(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isTtlTable',
      validator: {
        validate: (value: unknown) =>
          value !== null &&
          typeof value === 'object' &&
          !Array.isArray(value) &&
          Object.values(value).every((ttl) => Number.isInteger(ttl) && ttl > 0),
        defaultMessage: buildMessage((each) => `${each}$property must map model names to positive whole seconds`),
      },
    },
    options,
  );
}

/** `${VAR}` substitution yields strings; numeric strings in the TTL table become numbers (others fail validation). */
function toNumberValues(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const entries = Object.entries(value as Record<string, unknown>).map(([model, ttl]) => [
    model,
    typeof ttl === 'string' ? Number(ttl) : ttl,
  ]);
  return Object.fromEntries(entries);
}

export class CacheConfig {
  @IsBoolean() enabled: boolean = false;
  @IsIn(CACHE_MODES) mode: CacheMode = 'deterministic';
  @IsInt() @Min(1) defaultTtlSeconds: number = 3_600;

  /** Per public model name; overrides `defaultTtlSeconds`. */
  @IsOptional()
  @Transform(({ value }) => toNumberValues(value))
  @IsTtlTable()
  ttlSecondsByModel?: Record<string, number>;

  /** false: each gateway key has its own entries; true: all keys share them. */
  @IsBoolean() shared: boolean = false;

  @Nested(() => CacheL1Config) l1: CacheL1Config = new CacheL1Config();

  /** Absent: the cache is in-process only. */
  @IsOptional() @Nested(() => CacheRedisConfig) redis?: CacheRedisConfig;

  /** Redis errors are logged at most once per interval. */
  @IsInt() @Min(0) errorLogIntervalMs: number = 30_000;
}

/** TTL in milliseconds for a completion of the given public model. */
export function cacheTtlMs(config: CacheConfig, model: string): number {
  const byModel = config.ttlSecondsByModel;
  const seconds = byModel && Object.hasOwn(byModel, model) ? byModel[model] : config.defaultTtlSeconds;
  return seconds * 1_000;
}

/** Namespace for {@link cacheKeyFor}: the gateway key id, or the shared namespace when the cache is shared. */
export function cacheNamespace(config: CacheConfig, gatewayKeyId: string): string {
  return config.shared ? SHARED_NAMESPACE : gatewayKeyId;
}
