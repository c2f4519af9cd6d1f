import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, Min } from 'class-validator';
import { IsEmbeddingInput } from '../common/validation/openai-validators.js';

export class EmbeddingRequestDto {
  @IsString() @IsNotEmpty() model!: string;
  @IsEmbeddingInput() input!: string | string[] | number[] | number[][];
  /** No embedding model has more dimensions; the bound keeps an absurd integer from being forwarded. */
  @IsOptional() @IsInt() @Min(1) @Max(65_536) dimensions?: number;
  @IsOptional() @IsIn(['float', 'base64']) encoding_format?: 'float' | 'base64';
  @IsOptional() @IsString() user?: string;
}
