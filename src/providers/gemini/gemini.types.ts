/**
 * Wire types of the Gemini API (AI Studio, generativelanguage.googleapis.com) and of Vertex AI's Gemini
 * endpoints (aiplatform.googleapis.com), which share the GenerateContent shapes. Only the fields the gateway
 * sends or reads are typed.
 * - https://ai.google.dev/api/generate-content
 * - https://ai.google.dev/api/caching#Content (Content, Part, FunctionDeclaration, Tool, ToolConfig)
 * - https://ai.google.dev/api/embeddings
 * - https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
 */

export interface GeminiInlineData {
  mimeType: string;
  /** Base64. */
  data: string;
}

export interface GeminiFileData {
  mimeType?: string;
  fileUri: string;
}

export interface GeminiFunctionCall {
  /** Gemini 3 names each call; a functionResponse answering it carries the same id. */
  id?: string;
  name: string;
  args?: Record<string, unknown>;
}

export interface GeminiFunctionResponse {
  id?: string;
  name: string;
  response: Record<string, unknown>;
}

export interface GeminiPart {
  text?: string;
  /** The part is a thought summary. */
  thought?: boolean;
  /** Opaque reasoning state; must come back in the same part on the next turn. */
  thoughtSignature?: string;
  inlineData?: GeminiInlineData;
  fileData?: GeminiFileData;
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
}

export type GeminiRole = 'user' | 'model';

export interface GeminiContent {
  role?: GeminiRole;
  parts?: GeminiPart[];
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  /** JSON Schema of the arguments (the alternative to the OpenAPI-subset `parameters`). */
  parametersJsonSchema?: Record<string, unknown>;
}

export interface GeminiTool {
  functionDeclarations: GeminiFunctionDeclaration[];
}

export type GeminiFunctionCallingMode = 'AUTO' | 'ANY' | 'NONE';

export interface GeminiToolConfig {
  functionCallingConfig: { mode: GeminiFunctionCallingMode; allowedFunctionNames?: string[] };
}

export interface GeminiSafetySetting {
  category: string;
  threshold: string;
}

export type GeminiThinkingLevel = 'minimal' | 'low' | 'medium' | 'high';

export interface GeminiThinkingConfig {
  includeThoughts?: boolean;
  /** Gemini 2.5: tokens; 0 turns thinking off, -1 lets the model decide. */
  thinkingBudget?: number;
  /** Gemini 3 and later. */
  thinkingLevel?: GeminiThinkingLevel;
}

export interface GeminiGenerationConfig {
  stopSequences?: string[];
  responseMimeType?: string;
  responseJsonSchema?: Record<string, unknown>;
  candidateCount?: number;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseLogprobs?: boolean;
  logprobs?: number;
  thinkingConfig?: GeminiThinkingConfig;
}

export interface GeminiGenerateContentRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  safetySettings?: GeminiSafetySetting[];
  generationConfig?: GeminiGenerationConfig;
}

/** https://ai.google.dev/api/generate-content#FinishReason */
export type GeminiFinishReason =
  | 'FINISH_REASON_UNSPECIFIED'
  | 'STOP'
  | 'MAX_TOKENS'
  | 'SAFETY'
  | 'RECITATION'
  | 'LANGUAGE'
  | 'OTHER'
  | 'BLOCKLIST'
  | 'PROHIBITED_CONTENT'
  | 'SPII'
  | 'MALFORMED_FUNCTION_CALL'
  | 'IMAGE_SAFETY'
  | 'IMAGE_PROHIBITED_CONTENT'
  | 'IMAGE_OTHER'
  | 'NO_IMAGE'
  | 'IMAGE_RECITATION'
  | 'UNEXPECTED_TOOL_CALL'
  | 'TOO_MANY_TOOL_CALLS'
  | 'MISSING_THOUGHT_SIGNATURE'
  | 'MALFORMED_RESPONSE';

export interface GeminiLogprobsCandidate {
  token?: string;
  logProbability?: number;
}

export interface GeminiLogprobsResult {
  topCandidates?: Array<{ candidates?: GeminiLogprobsCandidate[] }>;
  chosenCandidates?: GeminiLogprobsCandidate[];
}

export interface GeminiCandidate {
  content?: GeminiContent;
  finishReason?: GeminiFinishReason;
  index?: number;
  logprobsResult?: GeminiLogprobsResult;
}

export interface GeminiUsageMetadata {
  /** The whole prompt, cached part included. */
  promptTokenCount?: number;
  cachedContentTokenCount?: number;
  candidatesTokenCount?: number;
  toolUsePromptTokenCount?: number;
  thoughtsTokenCount?: number;
  totalTokenCount?: number;
}

export interface GeminiGenerateContentResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  /** Vertex AI only. */
  createTime?: string;
}

export interface GeminiEmbedContentRequest {
  content: GeminiContent;
  outputDimensionality?: number;
}

export interface GeminiBatchEmbedContentsRequest {
  requests: Array<GeminiEmbedContentRequest & { model: string }>;
}

export interface GeminiEmbedContentResponse {
  embedding?: { values?: number[] };
  /** Vertex AI only. */
  usageMetadata?: { promptTokenCount?: number };
}

export interface GeminiBatchEmbedContentsResponse {
  embeddings?: Array<{ values?: number[] }>;
}

/** https://cloud.google.com/apis/design/errors#http_mapping */
export interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; details?: unknown[] };
}

/** The OAuth 2.0 token endpoint's answers (https://developers.google.com/identity/protocols/oauth2/service-account). */
export interface GoogleTokenResponse {
  access_token: string;
  expires_in: number;
  token_type?: string;
}

export interface GoogleTokenErrorBody {
  error: string;
  error_description?: string;
}

/** The JSON key file of a service account (https://cloud.google.com/iam/docs/keys-create-delete). */
export interface ServiceAccountKey {
  type: 'service_account';
  project_id?: string;
  private_key_id?: string;
  private_key: string;
  client_email: string;
}
