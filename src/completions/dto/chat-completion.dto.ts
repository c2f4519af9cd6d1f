/**
 * Validation of `POST /v1/chat/completions` bodies with OpenAI's types and ranges. Only known fields are
 * checked; unknown fields stay in the body and are forwarded to OpenAI-compatible upstreams.
 */
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { IsMessageContent, IsOnlyWithStream, IsStopSequences, IsToolChoice } from '../../common/validation/openai-validators.js';

export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;

export class ToolCallFunctionDto {
  @IsString() name!: string;
  @IsString() arguments!: string;
}

export class ToolCallDto {
  @IsString() @IsNotEmpty() id!: string;
  @IsIn(['function']) type!: 'function';
  @ValidateNested() @Type(() => ToolCallFunctionDto) function!: ToolCallFunctionDto;
}

export class ChatMessageDto {
  @IsIn(MESSAGE_ROLES, { message: `role must be one of: ${MESSAGE_ROLES.join(', ')}` })
  role!: (typeof MESSAGE_ROLES)[number];

  @IsMessageContent() content?: unknown;

  @IsOptional() @IsString() name?: string;

  @ValidateIf((message: ChatMessageDto) => message.role === 'tool')
  @IsString({ message: 'tool_call_id is required for tool messages' })
  tool_call_id?: string;

  @IsOptional() @IsArray() @ValidateNested({ each: true }) @Type(() => ToolCallDto)
  tool_calls?: ToolCallDto[];

  @IsOptional() @IsString() refusal?: string | null;
}

export class FunctionDefinitionDto {
  @Matches(/^[a-zA-Z0-9_-]{1,64}$/, { message: 'function name must be 1-64 letters, digits, _ or -' })
  name!: string;
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsObject() parameters?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean | null;
}

export class ToolDto {
  @IsIn(['function', 'custom']) type!: 'function' | 'custom';
  @ValidateIf((tool: ToolDto) => tool.type === 'function')
  @ValidateNested()
  @Type(() => FunctionDefinitionDto)
  function?: FunctionDefinitionDto;
}

export class StreamOptionsDto {
  @IsOptional() @IsBoolean() include_usage?: boolean;
  @IsOptional() @IsBoolean() include_obfuscation?: boolean;
}

export class JsonSchemaDto {
  @Matches(/^[a-zA-Z0-9_-]{1,64}$/, { message: 'json_schema.name must be 1-64 letters, digits, _ or -' })
  name!: string;
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsObject() schema?: Record<string, unknown>;
  @IsOptional() @IsBoolean() strict?: boolean | null;
}

export class ResponseFormatDto {
  @IsIn(['text', 'json_object', 'json_schema']) type!: 'text' | 'json_object' | 'json_schema';
  @ValidateIf((format: ResponseFormatDto) => format.type === 'json_schema')
  @ValidateNested()
  @Type(() => JsonSchemaDto)
  json_schema?: JsonSchemaDto;
}

export class ChatCompletionRequestDto {
  @IsString() @IsNotEmpty() model!: string;

  @IsArray() @ArrayMinSize(1, { message: 'messages must contain at least one message' })
  @ValidateNested({ each: true }) @Type(() => ChatMessageDto)
  messages!: ChatMessageDto[];

  @IsOptional() @IsNumber() @Min(0) @Max(2) temperature?: number | null;
  @IsOptional() @IsNumber() @Min(0) @Max(1) top_p?: number | null;
  @IsOptional() @IsInt() @Min(1) @Max(128) n?: number | null;
  @IsOptional() @IsStopSequences() stop?: string | string[] | null;
  @IsOptional() @IsInt() @Min(1) max_tokens?: number | null;
  @IsOptional() @IsInt() @Min(1) max_completion_tokens?: number | null;
  @IsOptional() @IsBoolean() stream?: boolean | null;

  @IsOptional() @IsOnlyWithStream() @ValidateNested() @Type(() => StreamOptionsDto)
  stream_options?: StreamOptionsDto | null;

  @IsOptional() @ValidateNested() @Type(() => ResponseFormatDto) response_format?: ResponseFormatDto;
  @IsOptional() @IsInt() seed?: number | null;
  @IsOptional() @IsString() user?: string;

  @IsOptional() @IsArray() @ArrayMaxSize(128) @ValidateNested({ each: true }) @Type(() => ToolDto)
  tools?: ToolDto[];

  @IsOptional() @IsToolChoice() tool_choice?: unknown;
  @IsOptional() @IsBoolean() parallel_tool_calls?: boolean;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) frequency_penalty?: number | null;
  @IsOptional() @IsNumber() @Min(-2) @Max(2) presence_penalty?: number | null;
  @IsOptional() @IsBoolean() logprobs?: boolean | null;
  @IsOptional() @IsInt() @Min(0) @Max(20) top_logprobs?: number | null;
  @IsOptional() @IsObject() logit_bias?: Record<string, number> | null;
}
