/**
 * Bedrock Runtime wire types: Converse / ConverseStream (one shape for every model family) and the InvokeModel
 * bodies of the embedding models the provider serves.
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html
 */

export type BedrockRole = 'user' | 'assistant';

export interface BedrockCachePoint {
  type: 'default';
  ttl?: '5m' | '1h';
}

export interface BedrockImageBlock {
  format: 'png' | 'jpeg' | 'gif' | 'webp';
  source: { bytes: string };
}

export interface BedrockDocumentBlock {
  format: string;
  name: string;
  source: { bytes: string };
}

export interface BedrockToolUse {
  toolUseId: string;
  name: string;
  input: unknown;
}

export type BedrockToolResultContent = { text: string } | { json: unknown } | { image: BedrockImageBlock };

export interface BedrockToolResult {
  toolUseId: string;
  content: BedrockToolResultContent[];
  status?: 'success' | 'error';
}

export type BedrockReasoningContent =
  { reasoningText: { text: string; signature?: string } } | { redactedContent: string };

/** A ContentBlock is a union: exactly one member is set. */
export type BedrockContentBlock =
  | { text: string }
  | { image: BedrockImageBlock }
  | { document: BedrockDocumentBlock }
  | { toolUse: BedrockToolUse }
  | { toolResult: BedrockToolResult }
  | { reasoningContent: BedrockReasoningContent }
  | { cachePoint: BedrockCachePoint };

export interface BedrockMessage {
  role: BedrockRole;
  content: BedrockContentBlock[];
}

export type BedrockSystemBlock = { text: string } | { cachePoint: BedrockCachePoint };

export interface BedrockToolSpec {
  name: string;
  description?: string;
  inputSchema: { json: Record<string, unknown> };
  strict?: boolean;
}

export type BedrockTool = { toolSpec: BedrockToolSpec } | { cachePoint: BedrockCachePoint };

export type BedrockToolChoice =
  { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

export interface BedrockToolConfig {
  tools: BedrockTool[];
  toolChoice?: BedrockToolChoice;
}

export interface BedrockInferenceConfig {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
}

export interface BedrockOutputConfig {
  textFormat: {
    type: 'json_schema';
    structure: { jsonSchema: { schema: string; name?: string; description?: string } };
  };
}

export interface BedrockConverseRequest {
  messages: BedrockMessage[];
  system?: BedrockSystemBlock[];
  inferenceConfig?: BedrockInferenceConfig;
  toolConfig?: BedrockToolConfig;
  additionalModelRequestFields?: Record<string, unknown>;
  outputConfig?: BedrockOutputConfig;
}

export type BedrockStopReason =
  | 'end_turn'
  | 'tool_use'
  | 'max_tokens'
  | 'stop_sequence'
  | 'guardrail_intervened'
  | 'content_filtered'
  | 'malformed_model_output'
  | 'malformed_tool_use'
  | 'model_context_window_exceeded';

export interface BedrockTokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

/** What Converse returns in `output.message.content`; unknown members are ignored. */
export interface BedrockOutputBlock {
  text?: string;
  toolUse?: BedrockToolUse;
  reasoningContent?: { reasoningText?: { text?: string; signature?: string }; redactedContent?: string };
}

export interface BedrockConverseResponse {
  output?: { message?: { role: BedrockRole; content: BedrockOutputBlock[] } };
  stopReason?: BedrockStopReason;
  usage?: BedrockTokenUsage;
  metrics?: { latencyMs: number };
  additionalModelResponseFields?: unknown;
}

// ConverseStream events (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html)

export interface BedrockMessageStartEvent {
  role: BedrockRole;
}

export interface BedrockContentBlockStartEvent {
  contentBlockIndex: number;
  start?: { toolUse?: { toolUseId: string; name: string } };
}

export interface BedrockContentBlockDeltaEvent {
  contentBlockIndex: number;
  delta?: {
    text?: string;
    toolUse?: { input: string };
    reasoningContent?: { text?: string; signature?: string; redactedContent?: string };
  };
}

export interface BedrockMessageStopEvent {
  stopReason?: BedrockStopReason;
  additionalModelResponseFields?: unknown;
}

export interface BedrockMetadataEvent {
  usage?: BedrockTokenUsage;
  metrics?: { latencyMs: number };
}

/** The `message` of an error body or stream exception; the auth layer writes `Message`. */
export interface BedrockErrorBody {
  message?: string;
  Message?: string;
  __type?: string;
}

// InvokeModel bodies of the embedding models

export interface TitanEmbeddingRequest {
  inputText: string;
  dimensions?: number;
  normalize?: boolean;
}

export interface TitanEmbeddingResponse {
  embedding: number[];
  inputTextTokenCount: number;
}

export interface CohereEmbeddingRequest {
  texts: string[];
  input_type: string;
  truncate?: 'NONE' | 'START' | 'END';
  embedding_types?: string[];
}

export interface CohereEmbeddingResponse {
  embeddings: number[][] | { float?: number[][] };
  id?: string;
  response_type?: string;
  texts?: string[];
}
