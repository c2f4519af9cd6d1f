/** Bodies and query strings of the admin API (validated by parseInput, see admin-input.ts). */
import {
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
} from 'class-validator';
import { Nested } from '../../config/config-schema.js';

export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const ID_MESSAGE = 'may contain only letters, digits, _ . - (at most 64)';
const USD = { allowNaN: false, allowInfinity: false, maxDecimalPlaces: 9 } as const;

/** Per day and month (UTC), in tokens and in USD; null clears one in an update. */
export class BudgetDto {
  @IsOptional() @IsInt() @Min(1) tokensPerDay?: number | null;
  @IsOptional() @IsInt() @Min(1) tokensPerMonth?: number | null;
  @IsOptional() @IsNumber(USD) @Min(0.000000001) usdPerDay?: number | null;
  @IsOptional() @IsNumber(USD) @Min(0.000000001) usdPerMonth?: number | null;
}

export class LimitsDto {
  @IsOptional() @IsInt() @Min(1) requestsPerMinute?: number | null;
  @IsOptional() @IsInt() @Min(1) burst?: number | null;
  @IsOptional() @IsInt() @Min(1) tokensPerMinute?: number | null;
}

/** What create and update share; on update every field is optional and null clears it. */
class KeyFieldsDto {
  @IsOptional() @Matches(ID_PATTERN, { message: `teamId ${ID_MESSAGE}` }) teamId?: string | null;
  /** Public models the key may use; absent or null: every model (within its team's list). */
  @IsOptional() @IsArray() @IsString({ each: true }) @MinLength(1, { each: true }) models?: string[] | null;
  @IsOptional() @Nested(() => LimitsDto) limits?: LimitsDto | null;
  @IsOptional() @Nested(() => BudgetDto) budget?: BudgetDto | null;
  @IsOptional() @IsISO8601({ strict: true }) expiresAt?: string | null;
  @IsOptional() @IsObject() metadata?: Record<string, unknown> | null;
  /** Keep this key's request and response bodies in the request log (redacted, capped); off by default. */
  @IsOptional() @IsBoolean() logBodies?: boolean | null;
}

export class CreateKeyDto extends KeyFieldsDto {
  /** Generated when absent. */
  @IsOptional() @Matches(ID_PATTERN, { message: `id ${ID_MESSAGE}` }) id?: string;
}

export class UpdateKeyDto extends KeyFieldsDto {}

export class RotateKeyDto {
  /** How long the old secret keeps working; `database.rotationGraceSeconds` when absent. */
  @IsOptional() @IsInt() @Min(0) @Max(30 * 86_400) graceSeconds?: number;
}

class TeamFieldsDto {
  @IsOptional() @IsArray() @IsString({ each: true }) @MinLength(1, { each: true }) models?: string[] | null;
  @IsOptional() @Nested(() => BudgetDto) budget?: BudgetDto | null;
  @IsOptional() @IsObject() metadata?: Record<string, unknown> | null;
}

export class CreateTeamDto extends TeamFieldsDto {
  @Matches(ID_PATTERN, { message: `id ${ID_MESSAGE}` }) id!: string;
  @IsString() @MinLength(1) name!: string;
}

export class UpdateTeamDto extends TeamFieldsDto {
  @IsOptional() @IsString() @MinLength(1) name?: string;
}

/** Cursor pagination, shared by every list. */
class PageQuery {
  @IsOptional() @IsInt() @Min(1) @Max(500) limit: number = 50;
  /** The `nextCursor` of the previous page. */
  @IsOptional() @IsString() cursor?: string;
}

export class ListKeysQuery extends PageQuery {
  @IsOptional() @Matches(ID_PATTERN, { message: `team ${ID_MESSAGE}` }) team?: string;
  /** Whether to include revoked keys (default false). */
  @IsOptional() @IsIn(['true', 'false']) revoked?: 'true' | 'false';
}

export class ListTeamsQuery extends PageQuery {}

export class UsageQuery {
  @IsOptional() @IsString() key?: string;
  @IsOptional() @IsString() team?: string;
  @IsOptional() @IsString() model?: string;
  /** First and last UTC day included (YYYY-MM-DD); default the last 30 days. */
  @IsOptional() @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'from must be a day, YYYY-MM-DD' }) from?: string;
  @IsOptional() @Matches(/^\d{4}-\d{2}-\d{2}$/, { message: 'to must be a day, YYYY-MM-DD' }) to?: string;
  /** Rows per day and this dimension. */
  @IsIn(['key', 'team', 'model']) groupBy: 'key' | 'team' | 'model' = 'key';
}

export class RequestLogQuery extends PageQuery {
  @IsOptional() @IsString() key?: string;
  @IsOptional() @IsString() team?: string;
  @IsOptional() @IsString() model?: string;
  @IsOptional() @IsInt() @Min(100) @Max(599) status?: number;
  @IsOptional() @IsISO8601({ strict: true }) from?: string;
  @IsOptional() @IsISO8601({ strict: true }) to?: string;
}

export class AuditLogQuery extends PageQuery {
  @IsOptional() @IsIn(['key', 'team']) targetType?: 'key' | 'team';
  @IsOptional() @IsString() targetId?: string;
  @IsOptional() @IsString() actor?: string;
}
