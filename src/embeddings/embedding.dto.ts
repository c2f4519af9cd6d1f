import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Min } from 'class-validator';
import { IsEmbeddingInput } from '../common/validation/openai-validators.js';

export class EmbeddingRequestDto {
  @IsString() @IsNotEmpty() model!: string;
  @IsEmbeddingInput() input!: string | string[] | number[] | number[][];
  @IsOptional() @IsInt() @Min(1) dimensions?: number;
  @IsOptional() @IsIn(['float', 'base64']) encoding_format?: 'float' | 'base64';
  @IsOptional() @IsString() user?: string;
}
