/**
 * Rate-limit settings as validated classes (same plainToInstance + validateSync flow as the gateway config).
 *
 * ```yaml
 * rateLimit:
 *   enabled: true
 *   redis: { url: "redis://redis:6379", keyPrefix: "llmgw:rl:" }
 *   failureMode: failOpen
 *   global: { requestsPerMinute: 6000, tokensPerMinute: 2000000 }
 *   perModel: { gpt-4o: { requestsPerMinute: 500, burst: 50, tokensPerMinute: 300000 } }
 *   defaultPerKey: { requestsPerMinute: 60, burst: 10, tokensPerMinute: 100000 }
 * ```
 */
import { Nested, NestedMap } from '../config/config-schema.js';
import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Min,
  registerDecorator,
  ValidateIf,
  validateSync,
} from 'class-validator';
import { formatValidationErrors } from '../common/validation/format-errors.js';

export const DEFAULT_RATE_LIMIT_KEY_PREFIX = 'llmgw:rl:';

export const FAILURE_MODES = ['failOpen', 'failClosed'] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

/** Limits of one scope; any field left out is not limited. */
export class Limits {
  /** Sustained request rate. Required when `burst` is set. */
  @ValidateIf((limits: Limits) => limits.requestsPerMinute !== undefined || limits.burst !== undefined)
  @IsInt()
  @Min(1)
  requestsPerMinute?: number;

  /** Requests that may arrive at once (bucket capacity); defaults to `requestsPerMinute`. */
  @IsOptional() @IsInt() @Min(1) burst?: number;

  /** Prompt + completion tokens per minute; a request reserves its `max_tokens` estimate up front. */
  @IsOptional() @IsInt() @Min(1) tokensPerMinute?: number;
}

export class RateLimitRedisConfig {
  @IsString()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'url must be a redis:// or rediss:// URL' })
  url!: string;

  /** Keys are `<keyPrefix>{<bucket>}`. */
  @IsString() keyPrefix: string = DEFAULT_RATE_LIMIT_KEY_PREFIX;

  /** A Redis call slower than this counts as a failure and the failure mode applies. */
  @IsInt() @Min(1) commandTimeoutMs: number = 100;

  @IsInt() @Min(1) connectTimeoutMs: number = 2_000;
}

/** The admin API's limit per caller (admin key, or address on loopback), always on: `@nestjs/throttler`'s guard. */
export class AdminRateLimit {
  @IsInt() @Min(1) requestsPerMinute: number = 300;
}

export class RateLimitConfig {
  /** Limits on the API routes (per key, per model, global); the admin API's own limit is `admin`. */
  @IsBoolean() enabled: boolean = false;

  @Nested(() => AdminRateLimit) admin: AdminRateLimit = new AdminRateLimit();

  /** Without Redis, buckets live in memory and each replica enforces the limits on its own. */
  @IsOptional()
  @Nested(() => RateLimitRedisConfig)
  redis?: RateLimitRedisConfig;

  /** What to do when Redis cannot be reached: allow from per-replica memory, or reject with 503. */
  @IsIn(FAILURE_MODES) failureMode: FailureMode = 'failOpen';

  @IsOptional()
  @Nested(() => Limits)
  global?: Limits;

  /** Keyed by the public model name. */
  @IsOptional()
  @IsObject()
  @NestedMap(() => Limits)
  @Transform(({ value }: { value: unknown }) => toLimitsRecord(value))
  @ValidateRecordOfLimits()
  perModel?: Record<string, Limits>;

  /** For gateway keys that carry no limits of their own. */
  @IsOptional()
  @Nested(() => Limits)
  defaultPerKey?: Limits;
}

function toLimitsRecord(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([model, limits]) => [
      model,
      plainToInstance(Limits, limits, { exposeDefaultValues: true }),
    ]),
  );
}

/** ValidateNested does not walk plain-object records; this validates each value and names the model in the message. */
function ValidateRecordOfLimits() {
  return (target: object, propertyName: string) => {
    // Not an object at all is reported by IsObject.
    const problems = (value: unknown): string[] =>
      value === null || typeof value !== 'object'
        ? []
        : Object.entries(value).flatMap(([model, limits]) =>
            limits instanceof Limits
              ? formatValidationErrors(validateSync(limits, { forbidUnknownValues: false }), model)
              : [`${model}: must be a mapping of limits`],
          );
    registerDecorator({
      name: 'validateRecordOfLimits',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => problems(value).length === 0,
        defaultMessage: (args) => problems(args?.value).join('; '),
      },
    });
  };
}
