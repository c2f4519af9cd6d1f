/** Bodies of the admin endpoints the UI added (validated by parseInput like the rest of the admin API). */
import { IsInt, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';

export class DeploymentTestDto {
  /** A deployment id as GET /admin/routing lists it: `<provider>/<upstream model>`. */
  @IsString() @MinLength(1) deployment!: string;
  /** What to say; "Reply with OK." when absent. */
  @IsOptional() @IsString() @MinLength(1) prompt?: string;
  @IsOptional() @IsInt() @Min(1) @Max(64) maxTokens?: number;
}
