/**
 * Pure translation between the gateway's OpenAI form and Gemini's GenerateContent API (AI Studio and Vertex AI
 * share it): request, response, stream chunks (through a small state object), embeddings and errors. Each mapping
 * decision names the page it follows.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { echo, GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  AssistantMessage,
  ChatCompletion,
  ChatCompletionChoice,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkDelta,
  ContentPart,
  EmbeddingRequest,
  EmbeddingResponse,
  FilePart,
  FinishReason,
  FunctionTool,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { SseParser } from '../../upstream/sse-parser.js';
import { encodeEmbeddingsBase64 } from '../openai/openai.mapper.js';
import { upstreamErrors } from '../provider-errors.js';
import type {
  GeminiCandidate,
  GeminiContent,
  GeminiEmbedContentRequest,
  GeminiFinishReason,
  GeminiFunctionCall,
  GeminiFunctionDeclaration,
  GeminiGenerateContentRequest,
  GeminiGenerateContentResponse,
  GeminiGenerationConfig,
  GeminiLogprobsResult,
  GeminiPart,
  GeminiRole,
  GeminiSafetySetting,
  GeminiThinkingConfig,
  GeminiThinkingLevel,
  GeminiToolConfig,
  GeminiUsageMetadata,
  GoogleErrorBody,
} from './gemini.types.js';

export interface GeminiRequestSettings {
  /** Sent as `safetySettings` on every request (https://ai.google.dev/gemini-api/docs/safety-settings). */
  safetySettings?: GeminiSafetySetting[];
}

/**
 * Tool call ids the gateway makes up when Gemini gives none (Gemini 2.5 does not number its calls). A call whose
 * id has this prefix is sent back without an id; any other id is Gemini's and goes back in `functionCall.id` and
 * in the `functionResponse.id` answering it.
 */
export const SYNTHETIC_CALL_ID_PREFIX = 'call_';

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*?);base64,(.*)$/s;
const REMOTE_URI = /^(?:https?|gs):\/\//i;
/** Gemini names a model generation in its id: gemini-2.5-flash, gemini-3-flash-preview, gemini-3.1-pro-preview. */
const MODEL_GENERATION = /(?:^|\/)gemini-(\d+(?:\.\d+)?)(?:-|$)/;
const PRO_MODEL = /-pro(?:-|$)/;

// ---------------------------------------------------------------------------------------------------------------
// Request

/** Builds the GenerateContent body; throws InvalidRequestError for what Gemini cannot take. */
export function toGeminiRequest(
  request: ChatCompletionRequest,
  settings: GeminiRequestSettings = {},
): GeminiGenerateContentRequest {
  const { contents, systemInstruction } = toContents(request.messages);
  const body: GeminiGenerateContentRequest = { contents };
  if (systemInstruction) body.systemInstruction = systemInstruction;
  if (request.tools && request.tools.length > 0) {
    const declarations = request.tools.map(toFunctionDeclaration);
    const choice = request.tool_choice;
    if (typeof choice === 'object' && choice.type === 'allowed_tools' && choice.allowed_tools.mode !== 'required') {
      const allowed = new Set(choice.allowed_tools.tools.flatMap(allowedToolName));
      body.tools = [{ functionDeclarations: declarations.filter((declaration) => allowed.has(declaration.name)) }];
    } else body.tools = [{ functionDeclarations: declarations }];
    const toolConfig = toToolConfig(choice);
    if (toolConfig) body.toolConfig = toolConfig;
  }
  if (settings.safetySettings && settings.safetySettings.length > 0) body.safetySettings = settings.safetySettings;
  const generationConfig = toGenerationConfig(request);
  if (generationConfig) body.generationConfig = generationConfig;
  return body;
}

/** A tool call Gemini issued earlier in the conversation, for the tool messages answering it. */
interface IssuedCall {
  name: string;
  geminiId: string | undefined;
}

/**
 * system and developer messages become `systemInstruction` (https://ai.google.dev/gemini-api/docs/text-generation);
 * assistant turns are `model` contents, tool results `functionResponse` parts of a `user` content
 * (https://ai.google.dev/gemini-api/docs/function-calling). Consecutive turns of one role are merged, so
 * that the responses to parallel calls share one content as the API requires.
 */
function toContents(messages: ChatMessage[]): { contents: GeminiContent[]; systemInstruction?: GeminiContent } {
  const contents: GeminiContent[] = [];
  const systemParts: GeminiPart[] = [];
  const calls = new Map<string, IssuedCall>();
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i];
    switch (message.role) {
      case 'system':
      case 'developer':
        appendTextParts(systemParts, message.content, `messages[${i}].content`);
        break;
      case 'user':
        append(contents, 'user', userParts(message.content, i));
        break;
      case 'assistant': {
        const parts = modelParts(message, i, calls);
        if (parts.length > 0) append(contents, 'model', parts);
        break;
      }
      case 'tool':
        append(contents, 'user', [toolResponsePart(message, i, calls)]);
        break;
      case 'function':
        if (!message.name) {
          throw new InvalidRequestError('Function messages need a name.', `messages[${i}].name`);
        }
        append(contents, 'user', [
          {
            functionResponse: {
              name: message.name,
              response: toFunctionResponse(plainText(message.content, `messages[${i}].content`)),
            },
          },
        ]);
        break;
      default:
        throw new InvalidRequestError(
          `Role '${echo(String(message.role))}' is not supported by Gemini.`,
          `messages[${i}].role`,
          'unsupported_value',
        );
    }
  }
  if (contents.length === 0) {
    throw new InvalidRequestError('At least one user or assistant message is required.', 'messages');
  }
  return systemParts.length > 0 ? { contents, systemInstruction: { parts: systemParts } } : { contents };
}

function append(contents: GeminiContent[], role: GeminiRole, parts: GeminiPart[]): void {
  const last = contents.at(-1);
  if (last?.role === role && last.parts) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function appendTextParts(parts: GeminiPart[], content: ChatMessage['content'], param: string): void {
  if (content == null) return;
  if (typeof content === 'string') {
    if (content !== '') parts.push({ text: content });
    return;
  }
  content.forEach((part, j) => {
    if (part.type !== 'text') {
      throw new InvalidRequestError(
        `Only text parts are allowed here, got '${echo(part.type)}'.`,
        `${param}[${j}]`,
        'unsupported_value',
      );
    }
    parts.push({ text: part.text });
  });
}

function plainText(content: ChatMessage['content'], param: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type !== 'text') {
        throw new InvalidRequestError(`Only text parts are allowed here, got '${echo(part.type)}'.`, `${param}[${j}]`);
      }
      return part.text;
    })
    .join('');
}

function userParts(content: ChatMessage['content'], i: number): GeminiPart[] {
  if (content == null) return [{ text: '' }];
  if (typeof content === 'string') return [{ text: content }];
  return content.map((part, j) => userPart(part, `messages[${i}].content[${j}]`));
}

/**
 * Text as text; media inline from data: URLs, by reference from http(s) and gs:// URIs
 * (https://ai.google.dev/gemini-api/docs/file-input-methods, https://ai.google.dev/api/caching#Part).
 */
function userPart(part: ContentPart, param: string): GeminiPart {
  switch (part.type) {
    case 'text':
      return { text: part.text };
    case 'image_url':
      return mediaPart(part.image_url.url, `${param}.image_url.url`);
    case 'input_audio':
      // https://ai.google.dev/gemini-api/docs/audio
      return { inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } };
    case 'file':
      return filePart(part, param);
    default:
      throw new InvalidRequestError(
        `Content parts of type '${echo(part.type)}' are not supported for Gemini models.`,
        param,
        'unsupported_value',
      );
  }
}

function mediaPart(url: string, param: string, filename?: string): GeminiPart {
  if (url.startsWith('data:')) {
    const match = DATA_URL.exec(url);
    if (!match) throw new InvalidRequestError('Data URLs must be base64-encoded.', param);
    return { inlineData: { mimeType: match[1].toLowerCase(), data: match[3] } };
  }
  if (REMOTE_URI.test(url)) {
    const mimeType = mimeTypeOf(filename ?? url);
    return { fileData: mimeType ? { mimeType, fileUri: url } : { fileUri: url } };
  }
  throw new InvalidRequestError('Media URLs must be http(s), gs:// or base64 data URLs.', param);
}

/** OpenAI's file part: `file_data` is a data URL (or bare base64 with a filename), `file_id` here a URI. */
function filePart(part: FilePart, param: string): GeminiPart {
  const { file_data: data, file_id: id, filename } = part.file;
  if (data) {
    if (data.startsWith('data:') || REMOTE_URI.test(data)) return mediaPart(data, `${param}.file.file_data`, filename);
    const mimeType = filename ? mimeTypeOf(filename) : undefined;
    if (!mimeType) {
      throw new InvalidRequestError(
        'file_data must be a data URL, or come with a filename whose extension names its type.',
        `${param}.file.file_data`,
      );
    }
    return { inlineData: { mimeType, data } };
  }
  if (id && REMOTE_URI.test(id)) return mediaPart(id, `${param}.file.file_id`, filename);
  throw new InvalidRequestError(
    'Gemini takes files as data URLs or http(s) / gs:// URIs; OpenAI file ids are not supported.',
    `${param}.file`,
    'unsupported_value',
  );
}

/** https://ai.google.dev/gemini-api/docs/file-input-methods (supported MIME types). */
const MIME_TYPES: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  gif: 'image/gif',
  pdf: 'application/pdf',
  txt: 'text/plain',
  wav: 'audio/wav',
  mp3: 'audio/mp3',
  aac: 'audio/aac',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  aiff: 'audio/aiff',
  mp4: 'video/mp4',
  mpeg: 'video/mpeg',
  mov: 'video/mov',
  webm: 'video/webm',
};

function mimeTypeOf(name: string): string | undefined {
  const path = name.split(/[?#]/, 1)[0];
  const dot = path.lastIndexOf('.');
  return dot < 0 ? undefined : MIME_TYPES[path.slice(dot + 1).toLowerCase()];
}

/**
 * An assistant turn as Gemini produced it, every thought signature back in the part it came on
 * (https://ai.google.dev/gemini-api/docs/thought-signatures): signed thought summaries (`thinking_blocks`) first,
 * then the text with the message's signature, then the function calls with theirs.
 */
function modelParts(message: ChatMessage, i: number, calls: Map<string, IssuedCall>): GeminiPart[] {
  const parts: GeminiPart[] = [];
  for (const block of message.thinking_blocks ?? []) {
    if (block.type === 'thinking' && block.signature) {
      parts.push({ text: block.thinking, thought: true, thoughtSignature: block.signature });
    }
  }
  const text = assistantText(message.content, i);
  const signature = message.extra_content?.google?.thought_signature;
  if (signature) parts.push({ text, thoughtSignature: signature });
  else if (text !== '') parts.push({ text });
  message.tool_calls?.forEach((call, j) => {
    parts.push(functionCallPart(call, `messages[${i}].tool_calls[${j}]`));
    const geminiId = call.id.startsWith(SYNTHETIC_CALL_ID_PREFIX) ? undefined : call.id;
    calls.set(call.id, { name: call.function.name, geminiId });
  });
  return parts;
}

function assistantText(content: ChatMessage['content'], i: number): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  let text = '';
  content.forEach((part, j) => {
    if (part.type === 'text') text += part.text;
    else if (part.type === 'refusal') text += part.refusal;
    else {
      throw new InvalidRequestError(
        `Assistant content parts must be text, got '${echo(part.type)}'.`,
        `messages[${i}].content[${j}]`,
      );
    }
  });
  return text;
}

function functionCallPart(call: ToolCall, param: string): GeminiPart {
  const functionCall: GeminiFunctionCall = {
    name: call.function.name,
    args: parseArguments(call.function.arguments, `${param}.function.arguments`),
  };
  if (!call.id.startsWith(SYNTHETIC_CALL_ID_PREFIX)) functionCall.id = call.id;
  const signature = call.extra_content?.google?.thought_signature;
  return signature ? { functionCall, thoughtSignature: signature } : { functionCall };
}

/** Gemini wants the arguments as an object; an empty string (a call without arguments) becomes `{}`. */
function parseArguments(text: string, param: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('Tool call arguments must be valid JSON.', param);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidRequestError('Tool call arguments must be a JSON object.', param);
  }
  return value as Record<string, unknown>;
}

/** The response names the function it answers, looked up from the call the tool message's id points at. */
function toolResponsePart(message: ChatMessage, i: number, calls: Map<string, IssuedCall>): GeminiPart {
  const id = message.tool_call_id;
  const call = id === undefined ? undefined : calls.get(id);
  if (!call) {
    throw new InvalidRequestError(
      'This tool message answers no tool call of an earlier assistant message.',
      `messages[${i}].tool_call_id`,
    );
  }
  const response = toFunctionResponse(plainText(message.content, `messages[${i}].content`));
  return {
    functionResponse: call.geminiId ? { id: call.geminiId, name: call.name, response } : { name: call.name, response },
  };
}

/**
 * `response` must be an object: a JSON object result is sent as is, any other result as `{output: text}`
 * (https://ai.google.dev/api/caching#FunctionResponse: "Use "output" key to specify function output").
 */
function toFunctionResponse(text: string): Record<string, unknown> {
  if (text.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // Not JSON after all: sent as text.
    }
  }
  return { output: text };
}

/**
 * Tools become function declarations with `parametersJsonSchema`, which takes JSON Schema as OpenAI's
 * `parameters` are written (https://ai.google.dev/api/caching#FunctionDeclaration). Only the `$schema` keyword is
 * removed (https://ai.google.dev/gemini-api/docs/structured-output lists the keywords Gemini
 * reads); an empty schema means a function without parameters and is left out.
 */
function toFunctionDeclaration(tool: FunctionTool, i: number): GeminiFunctionDeclaration {
  if (tool.type !== 'function') {
    throw new InvalidRequestError(
      `Tools of type '${echo(String(tool.type))}' are not supported for Gemini models.`,
      `tools[${i}].type`,
      'unsupported_value',
    );
  }
  const declaration: GeminiFunctionDeclaration = { name: tool.function.name };
  if (tool.function.description !== undefined) declaration.description = tool.function.description;
  const schema = geminiJsonSchema(tool.function.parameters);
  if (schema) declaration.parametersJsonSchema = schema;
  return declaration;
}

function geminiJsonSchema(schema: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!schema) return undefined;
  if (!('$schema' in schema)) return Object.keys(schema).length > 0 ? schema : undefined;
  const { $schema: _dialect, ...rest } = schema;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/**
 * tool_choice → function calling modes (https://ai.google.dev/gemini-api/docs/function-calling#function_calling_modes):
 * auto → AUTO, none → NONE, required → ANY, a named function → ANY limited to it, allowed_tools required → ANY
 * limited to the listed names, allowed_tools auto → AUTO over the listed declarations only (VALIDATED, which would
 * keep the others declared, is missing from Vertex AI v1:
 * https://docs.cloud.google.com/dotnet/docs/reference/Google.Cloud.AIPlatform.V1/latest/Google.Cloud.AIPlatform.V1.FunctionCallingConfig.Types.Mode). Gemini has no knob for parallel_tool_calls.
 */
function toToolConfig(choice: ToolChoice | undefined): GeminiToolConfig | undefined {
  if (choice === undefined) return undefined;
  if (choice === 'auto') return { functionCallingConfig: { mode: 'AUTO' } };
  if (choice === 'none') return { functionCallingConfig: { mode: 'NONE' } };
  if (choice === 'required') return { functionCallingConfig: { mode: 'ANY' } };
  if (choice.type === 'function') {
    return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
  }
  if (choice.allowed_tools.mode !== 'required') return { functionCallingConfig: { mode: 'AUTO' } };
  return {
    functionCallingConfig: { mode: 'ANY', allowedFunctionNames: choice.allowed_tools.tools.flatMap(allowedToolName) },
  };
}

function allowedToolName(tool: unknown): string[] {
  if (tool === null || typeof tool !== 'object') return [];
  const { function: fn, name } = tool as { function?: { name?: unknown }; name?: unknown };
  const found = fn?.name ?? name;
  return typeof found === 'string' ? [found] : [];
}

/**
 * Sampling and output knobs (https://ai.google.dev/api/generate-content#GenerationConfig). Penalties of 0 (the
 * default) are left out: Gemini 2.5 refuses the fields altogether. `top_k` is read as the vendor extra it is.
 */
function toGenerationConfig(request: ChatCompletionRequest): GeminiGenerationConfig | undefined {
  const config: GeminiGenerationConfig = {};
  let set = false;
  if (request.temperature != null) {
    config.temperature = request.temperature;
    set = true;
  }
  if (request.top_p != null) {
    config.topP = request.top_p;
    set = true;
  }
  if (typeof request.top_k === 'number') {
    config.topK = request.top_k;
    set = true;
  }
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) {
    config.maxOutputTokens = maxTokens;
    set = true;
  }
  const stop = typeof request.stop === 'string' ? [request.stop] : request.stop;
  if (stop && stop.length > 0) {
    config.stopSequences = stop;
    set = true;
  }
  if (request.n != null && request.n > 1) {
    config.candidateCount = request.n;
    set = true;
  }
  if (request.seed != null) {
    config.seed = request.seed;
    set = true;
  }
  if (request.presence_penalty) {
    config.presencePenalty = request.presence_penalty;
    set = true;
  }
  if (request.frequency_penalty) {
    config.frequencyPenalty = request.frequency_penalty;
    set = true;
  }
  if (request.logprobs === true) {
    config.responseLogprobs = true;
    if (request.top_logprobs != null) config.logprobs = request.top_logprobs;
    set = true;
  }
  if (applyResponseFormat(config, request)) set = true;
  const thinkingConfig = toThinkingConfig(request);
  if (thinkingConfig) {
    config.thinkingConfig = thinkingConfig;
    set = true;
  }
  return set ? config : undefined;
}

/**
 * json_object → `responseMimeType: application/json`; json_schema adds the schema as `responseJsonSchema`
 * (https://ai.google.dev/gemini-api/docs/structured-output).
 */
function applyResponseFormat(config: GeminiGenerationConfig, request: ChatCompletionRequest): boolean {
  const format = request.response_format;
  if (!format || format.type === 'text') return false;
  config.responseMimeType = 'application/json';
  if (format.type === 'json_schema') {
    const schema = geminiJsonSchema(format.json_schema?.schema);
    if (schema) config.responseJsonSchema = schema;
  }
  return true;
}

/** The Gemini generation a model id names (2.5, 3, 3.1), or undefined for aliases and tuned models. */
export function geminiGeneration(model: string): number | undefined {
  const match = MODEL_GENERATION.exec(model);
  return match ? Number(match[1]) : undefined;
}

type ThinkingIntent =
  | { kind: 'off' }
  | { kind: 'dynamic' }
  | { kind: 'budget'; tokens: number }
  | { kind: 'effort'; effort: 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' };

/** `thinking` (Anthropic's knob) is the more precise of the two and wins over `reasoning_effort`. */
function thinkingIntent(request: ChatCompletionRequest): ThinkingIntent | undefined {
  const thinking = request.thinking;
  if (thinking) {
    if (thinking.type === 'disabled') return { kind: 'off' };
    if (thinking.type === 'adaptive') return { kind: 'dynamic' };
    return { kind: 'budget', tokens: thinking.budget_tokens };
  }
  const effort = request.reasoning_effort;
  if (effort === undefined) return undefined;
  return effort === 'none' ? { kind: 'off' } : { kind: 'effort', effort };
}

/**
 * Gemini 2.5 takes a token budget, Gemini 3 a level (https://ai.google.dev/gemini-api/docs/thinking,
 * https://ai.google.dev/gemini-api/docs/gemini-3); models whose generation the id does not name get
 * a budget, which Gemini 3 still accepts. Efforts map to budgets as Google's own OpenAI endpoint does
 * (https://ai.google.dev/gemini-api/docs/openai: low 1024, medium 8192, high 24576, none 0). Thinking
 * cannot be turned off on Gemini 2.5 Pro (its least budget, 128, stands in) nor on Gemini 3 (the least level:
 * minimal, or low on Pro models, which lack minimal). Thought summaries are asked for whenever thinking is.
 */
function toThinkingConfig(request: ChatCompletionRequest): GeminiThinkingConfig | undefined {
  const intent = thinkingIntent(request);
  if (!intent) return undefined;
  const generation = geminiGeneration(request.model);
  const pro = PRO_MODEL.test(request.model);
  const levels = generation !== undefined && generation >= 3;
  switch (intent.kind) {
    case 'off':
      if (levels) return { thinkingLevel: pro ? 'low' : 'minimal' };
      return { thinkingBudget: pro && generation === 2.5 ? 128 : 0 };
    case 'dynamic':
      return levels ? { includeThoughts: true } : { includeThoughts: true, thinkingBudget: -1 };
    case 'budget':
      return levels
        ? { includeThoughts: true, thinkingLevel: levelForBudget(intent.tokens) }
        : { includeThoughts: true, thinkingBudget: intent.tokens };
    case 'effort':
      return levels
        ? { includeThoughts: true, thinkingLevel: levelForEffort(intent.effort, pro) }
        : { includeThoughts: true, thinkingBudget: EFFORT_BUDGETS[intent.effort] };
  }
}

const EFFORT_BUDGETS: Readonly<Record<'minimal' | 'low' | 'medium' | 'high' | 'xhigh', number>> = {
  minimal: 1024,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 24576,
};

function levelForEffort(effort: keyof typeof EFFORT_BUDGETS, pro: boolean): GeminiThinkingLevel {
  if (effort === 'minimal') return pro ? 'low' : 'minimal';
  if (effort === 'xhigh') return 'high';
  return effort;
}

/** The level whose budget (as in EFFORT_BUDGETS) the requested budget reaches. */
function levelForBudget(tokens: number): GeminiThinkingLevel {
  if (tokens <= EFFORT_BUDGETS.low) return 'low';
  return tokens <= EFFORT_BUDGETS.medium ? 'medium' : 'high';
}

// ---------------------------------------------------------------------------------------------------------------
// Response

/**
 * https://ai.google.dev/api/generate-content#FinishReason. A candidate with function calls finishes with
 * `tool_calls` (Gemini says STOP). Every blocking reason is `content_filter`; the reasons OpenAI has no word for
 * (a malformed or unexpected function call, OTHER) are `stop`.
 */
const FINISH_REASONS: Readonly<Record<GeminiFinishReason, FinishReason>> = {
  FINISH_REASON_UNSPECIFIED: 'stop',
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  LANGUAGE: 'content_filter',
  OTHER: 'stop',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  MALFORMED_FUNCTION_CALL: 'stop',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
  IMAGE_OTHER: 'stop',
  NO_IMAGE: 'stop',
  IMAGE_RECITATION: 'content_filter',
  UNEXPECTED_TOOL_CALL: 'stop',
  TOO_MANY_TOOL_CALLS: 'stop',
  MISSING_THOUGHT_SIGNATURE: 'stop',
  MALFORMED_RESPONSE: 'stop',
};

export function toFinishReason(reason: GeminiFinishReason | undefined, hasToolCalls: boolean): FinishReason {
  const mapped = (reason && FINISH_REASONS[reason]) || 'stop';
  return mapped === 'stop' && hasToolCalls && (reason === 'STOP' || reason === undefined) ? 'tool_calls' : mapped;
}

/**
 * https://ai.google.dev/api/generate-content#UsageMetadata: `promptTokenCount` already includes the cached
 * tokens (`cachedContentTokenCount`, implicit caching: https://ai.google.dev/gemini-api/docs/caching)
 * and leaves out the tool-use prompt and the thoughts, which are billed as input and output. Gemini reports no
 * cache writes.
 */
export function toUsage(metadata: GeminiUsageMetadata | undefined): Usage {
  const prompt = (metadata?.promptTokenCount ?? 0) + (metadata?.toolUsePromptTokenCount ?? 0);
  const reasoning = metadata?.thoughtsTokenCount ?? 0;
  const completion = (metadata?.candidatesTokenCount ?? 0) + reasoning;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: metadata?.cachedContentTokenCount ?? 0 },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

function completionId(responseId: string | undefined): string {
  return `chatcmpl-${responseId ?? randomBytes(12).toString('base64url')}`;
}

function syntheticCallId(): string {
  return `${SYNTHETIC_CALL_ID_PREFIX}${randomBytes(12).toString('base64url')}`;
}

function createdOf(createTime: string | undefined, now: number): number {
  const at = createTime === undefined ? NaN : Date.parse(createTime);
  return Math.floor((Number.isNaN(at) ? now : at) / 1000);
}

function toToolCall(call: GeminiFunctionCall, signature: string | undefined): ToolCall {
  const result: ToolCall = {
    id: call.id ?? syntheticCallId(),
    type: 'function',
    function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) },
  };
  if (signature) result.extra_content = { google: { thought_signature: signature } };
  return result;
}

/**
 * Parts → one assistant message (https://ai.google.dev/gemini-api/docs/thought-signatures): thought summaries are
 * `reasoning_content` and, with their signatures, `thinking_blocks`; function calls are `tool_calls`, each with the
 * signature of its part; the other text is `content`, the signature of a text (or signature-only) part the
 * message's `extra_content`. Parts of other kinds (executable code, inline images) are not translated.
 */
function toMessage(candidate: GeminiCandidate): AssistantMessage {
  let text: string | null = null;
  let reasoning = '';
  let blocks: ThinkingBlock[] | undefined;
  let toolCalls: ToolCall[] | undefined;
  let signature: string | undefined;
  for (const part of candidate.content?.parts ?? []) {
    if (part.thought === true) {
      const thinking = part.text ?? '';
      reasoning += thinking;
      (blocks ??= []).push(
        part.thoughtSignature
          ? { type: 'thinking', thinking, signature: part.thoughtSignature }
          : { type: 'thinking', thinking },
      );
    } else if (part.functionCall) {
      (toolCalls ??= []).push(toToolCall(part.functionCall, part.thoughtSignature));
    } else {
      if (part.text) text = (text ?? '') + part.text;
      if (part.thoughtSignature) signature = part.thoughtSignature;
    }
  }
  const message: AssistantMessage = { role: 'assistant', content: text, refusal: null };
  if (toolCalls) message.tool_calls = toolCalls;
  if (reasoning !== '') message.reasoning_content = reasoning;
  if (blocks) message.thinking_blocks = blocks;
  if (signature) message.extra_content = { google: { thought_signature: signature } };
  return message;
}

/** https://ai.google.dev/api/generate-content#LogprobsResult → OpenAI's `logprobs.content`. */
function toLogprobs(result: GeminiLogprobsResult | undefined): ChatCompletionChoice['logprobs'] {
  const chosen = result?.chosenCandidates;
  if (!chosen) return null;
  return {
    content: chosen.map((candidate, i) => ({
      ...tokenLogprob(candidate.token, candidate.logProbability),
      top_logprobs: (result.topCandidates?.[i]?.candidates ?? []).map((top) =>
        tokenLogprob(top.token, top.logProbability),
      ),
    })),
    refusal: null,
  };
}

function tokenLogprob(token: string | undefined, logprob: number | undefined) {
  const text = token ?? '';
  return { token: text, logprob: logprob ?? 0, bytes: [...Buffer.from(text, 'utf8')] };
}

/**
 * A GenerateContentResponse → a chat completion: one choice per candidate. A prompt Gemini blocked
 * (`promptFeedback.blockReason`, no candidates) is one choice without content finishing with `content_filter`.
 */
export function fromGeminiResponse(
  response: GeminiGenerateContentResponse,
  requestedModel: string,
  provider: string,
  now: number = Date.now(),
): ChatCompletion {
  if (response === null || typeof response !== 'object') {
    throw upstreamErrors.invalidResponse(provider, 'the answer is not a GenerateContentResponse');
  }
  const candidates = response.candidates ?? [];
  let choices: ChatCompletionChoice[];
  if (candidates.length > 0) {
    choices = candidates.map((candidate, position) => {
      const message = toMessage(candidate);
      return {
        index: candidate.index ?? position,
        message,
        logprobs: toLogprobs(candidate.logprobsResult),
        finish_reason: toFinishReason(candidate.finishReason, message.tool_calls !== undefined),
      };
    });
  } else if (response.promptFeedback?.blockReason) {
    choices = [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null },
        logprobs: null,
        finish_reason: 'content_filter',
      },
    ];
  } else {
    throw upstreamErrors.invalidResponse(provider, 'the answer has no candidates');
  }
  return {
    id: completionId(response.responseId),
    object: 'chat.completion',
    created: createdOf(response.createTime, now),
    model: requestedModel,
    choices,
    usage: toUsage(response.usageMetadata),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stream

interface CandidateStreamState {
  finished: boolean;
  /** OpenAI numbers a choice's tool calls 0, 1, … */
  toolCalls: number;
}

export interface GeminiStreamState {
  readonly provider: string;
  readonly model: string;
  readonly includeUsage: boolean;
  created: number;
  /** Known from the first chunk. */
  id: string;
  readonly candidates: CandidateStreamState[];
  /** The latest counts: Gemini repeats them (cumulative) in every chunk, Vertex AI sends them in the last. */
  readonly usage: GeminiUsageMetadata;
}

export function createGeminiStreamState(options: {
  provider: string;
  model: string;
  includeUsage: boolean;
  now?: number;
}): GeminiStreamState {
  return {
    provider: options.provider,
    model: options.model,
    includeUsage: options.includeUsage,
    created: Math.floor((options.now ?? Date.now()) / 1000),
    id: '',
    candidates: [],
    usage: {},
  };
}

function chunkOf(
  state: GeminiStreamState,
  index: number,
  delta: ChunkDelta,
  finishReason: FinishReason | null = null,
): ChatCompletionChunk {
  const chunk: ChatCompletionChunk = {
    id: state.id,
    object: 'chat.completion.chunk',
    created: state.created,
    model: state.model,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
  };
  if (state.includeUsage) chunk.usage = null;
  return chunk;
}

const USAGE_FIELDS = [
  'promptTokenCount',
  'cachedContentTokenCount',
  'candidatesTokenCount',
  'toolUsePromptTokenCount',
  'thoughtsTokenCount',
  'totalTokenCount',
] as const;

/**
 * One streamed GenerateContentResponse → the OpenAI chunks it implies
 * (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent). Text streams as content,
 * thought summaries as `reasoning_content` and `thinking_blocks` fragments (a signature on its own fragment,
 * last), a function call arrives whole as one tool-call delta, and a signature on a text or empty part (Gemini 3
 * ends a streamed answer with one) as the delta's `extra_content`. A candidate's finish reason ends its choice;
 * the usage is sent once, by `finishGeminiStream`.
 */
export function fromGeminiStreamChunk(
  state: GeminiStreamState,
  response: GeminiGenerateContentResponse,
): ChatCompletionChunk[] {
  const chunks: ChatCompletionChunk[] = [];
  if (state.id === '') {
    state.id = completionId(response.responseId);
    if (response.createTime !== undefined) state.created = createdOf(response.createTime, state.created * 1000);
  }
  const metadata = response.usageMetadata;
  if (metadata) {
    for (const field of USAGE_FIELDS) if (typeof metadata[field] === 'number') state.usage[field] = metadata[field];
  }
  const candidates = response.candidates;
  if (!candidates || candidates.length === 0) {
    if (response.promptFeedback?.blockReason && state.candidates.length === 0) {
      state.candidates[0] = { finished: true, toolCalls: 0 };
      chunks.push(chunkOf(state, 0, { role: 'assistant', content: '' }), chunkOf(state, 0, {}, 'content_filter'));
    }
    return chunks;
  }
  for (let position = 0; position < candidates.length; position++) {
    const candidate = candidates[position];
    const index = candidate.index ?? position;
    let choice = state.candidates[index];
    if (choice?.finished) continue;
    if (!choice) {
      choice = state.candidates[index] = { finished: false, toolCalls: 0 };
      chunks.push(chunkOf(state, index, { role: 'assistant', content: '' }));
    }
    const parts = candidate.content?.parts;
    if (parts) for (const part of parts) pushPartDeltas(state, chunks, index, choice, part);
    if (candidate.finishReason) {
      choice.finished = true;
      chunks.push(chunkOf(state, index, {}, toFinishReason(candidate.finishReason, choice.toolCalls > 0)));
    }
  }
  return chunks;
}

function pushPartDeltas(
  state: GeminiStreamState,
  chunks: ChatCompletionChunk[],
  index: number,
  choice: CandidateStreamState,
  part: GeminiPart,
): void {
  const signature = part.thoughtSignature;
  if (part.thought === true) {
    const thinking = part.text;
    if (thinking) {
      chunks.push(
        chunkOf(state, index, { reasoning_content: thinking, thinking_blocks: [{ type: 'thinking', thinking }] }),
      );
    }
    if (signature) {
      chunks.push(chunkOf(state, index, { thinking_blocks: [{ type: 'thinking', thinking: '', signature }] }));
    }
    return;
  }
  if (part.functionCall) {
    const call = toToolCall(part.functionCall, signature);
    chunks.push(chunkOf(state, index, { tool_calls: [{ index: choice.toolCalls++, ...call }] }));
    return;
  }
  const delta: ChunkDelta = {};
  if (part.text) delta.content = part.text;
  if (signature) delta.extra_content = { google: { thought_signature: signature } };
  if (delta.content !== undefined || signature) chunks.push(chunkOf(state, index, delta));
}

/**
 * After the body ended: the usage chunk when asked for. A stream in which some candidate never finished (or
 * nothing arrived at all) was cut short and is thrown as such.
 */
export function finishGeminiStream(state: GeminiStreamState): ChatCompletionChunk[] {
  if (state.candidates.length === 0 || state.candidates.some((choice) => choice && !choice.finished)) {
    throw upstreamErrors.streamInterrupted(state.provider);
  }
  if (!state.includeUsage) return [];
  return [
    {
      id: state.id,
      object: 'chat.completion.chunk',
      created: state.created,
      model: state.model,
      choices: [],
      usage: toUsage(state.usage),
    },
  ];
}

/**
 * Reads a `streamGenerateContent?alt=sse` body into OpenAI chunks, decoding incrementally. An error object in the
 * stream is thrown (https://ai.google.dev/gemini-api/docs/troubleshooting), as is a body that ends before every
 * candidate finished or breaks off.
 */
export async function* readGeminiChunks(
  body: AsyncIterable<Buffer | string>,
  state: GeminiStreamState,
): AsyncGenerator<ChatCompletionChunk> {
  const parser = new SseParser();
  try {
    for await (const bytes of body) {
      const events = parser.push(bytes);
      for (let i = 0; i < events.length; i++) {
        const chunks = fromGeminiStreamChunk(state, parseStreamData(events[i].data, state.provider));
        for (let j = 0; j < chunks.length; j++) yield chunks[j];
      }
    }
    for (const event of parser.end()) yield* fromGeminiStreamChunk(state, parseStreamData(event.data, state.provider));
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw upstreamErrors.streamInterrupted(state.provider, 'the connection to the provider was lost mid-stream');
  }
  yield* finishGeminiStream(state);
}

function parseStreamData(data: string, provider: string): GeminiGenerateContentResponse {
  let parsed: GeminiGenerateContentResponse & GoogleErrorBody;
  try {
    parsed = JSON.parse(data) as GeminiGenerateContentResponse & GoogleErrorBody;
  } catch {
    throw upstreamErrors.invalidResponse(provider, 'the stream carried an event that is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw upstreamErrors.invalidResponse(provider, 'the stream carried an event that is not an object');
  }
  if (parsed.error !== undefined) throw toStreamError(provider, parsed);
  return parsed;
}

/** An error sent inside a started stream: overload and rate limits stay what they are, the rest breaks the stream. */
function toStreamError(provider: string, body: GoogleErrorBody): GatewayError {
  const { code, message } = errorDetail(body);
  if (code === 503) return upstreamErrors.overloaded(provider, message);
  if (code === 429) return upstreamErrors.rateLimited(provider, message, retryDelayMs(body.error?.details));
  return upstreamErrors.streamInterrupted(provider, message);
}

// ---------------------------------------------------------------------------------------------------------------
// Embeddings

/**
 * The texts to embed. Gemini embeds text only: token arrays (OpenAI's pre-tokenised input) are refused.
 * https://ai.google.dev/api/embeddings
 */
export function embeddingTexts(request: EmbeddingRequest): string[] {
  const input = request.input;
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item): item is string => typeof item === 'string')) return input;
  throw new InvalidRequestError(
    'Gemini embeds text: input must be a string or an array of strings, not tokens.',
    'input',
    'unsupported_value',
  );
}

/** `dimensions` → `outputDimensionality` (https://ai.google.dev/api/embeddings#EmbedContentRequest). */
export function toEmbedContentRequest(text: string, dimensions: number | undefined): GeminiEmbedContentRequest {
  const body: GeminiEmbedContentRequest = { content: { parts: [{ text }] } };
  if (dimensions !== undefined) body.outputDimensionality = dimensions;
  return body;
}

/**
 * Vectors in input order → OpenAI's embeddings list; base64 is little-endian float32, as the OpenAI SDK decodes
 * it (https://platform.openai.com/docs/api-reference/embeddings/create). Only Vertex AI counts the input tokens.
 */
export function toEmbeddingResponse(
  vectors: number[][],
  request: EmbeddingRequest,
  promptTokens: number,
): EmbeddingResponse {
  const response: EmbeddingResponse = {
    object: 'list',
    data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
    model: request.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
  return request.encoding_format === 'base64' ? encodeEmbeddingsBase64(response) : response;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

const CONTEXT_TOO_LONG = /input token count.*exceeds the maximum|exceeds the maximum number of tokens/i;
/** ErrorInfo reasons that mean the gateway's own credential is bad, whatever the status. */
const CREDENTIAL_REASONS = new Set(['API_KEY_INVALID', 'API_KEY_EXPIRED', 'ACCESS_TOKEN_EXPIRED']);

function errorDetail(body: unknown): { code?: number; message?: string; status?: string; details?: unknown[] } {
  const error = (body as GoogleErrorBody | null)?.error;
  if (error === null || typeof error !== 'object') return {};
  return {
    code: typeof error.code === 'number' ? error.code : undefined,
    message: typeof error.message === 'string' ? error.message : undefined,
    status: typeof error.status === 'string' ? error.status : undefined,
    details: Array.isArray(error.details) ? error.details : undefined,
  };
}

function detailOfType(details: unknown[] | undefined, type: string): Record<string, unknown> | undefined {
  for (const detail of details ?? []) {
    if (detail === null || typeof detail !== 'object') continue;
    const typed = detail as Record<string, unknown>;
    if (typeof typed['@type'] === 'string' && typed['@type'].endsWith(type)) return typed;
  }
  return undefined;
}

/** `google.rpc.RetryInfo.retryDelay` is a Duration in its JSON form, e.g. "34s" or "0.5s". */
export function retryDelayMs(details: unknown[] | undefined): number | undefined {
  const delay = detailOfType(details, 'google.rpc.RetryInfo')?.retryDelay;
  const match = typeof delay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(delay) : null;
  return match ? Math.round(Number(match[1]) * 1000) : undefined;
}

/**
 * Google's error answers `{error: {code, message, status, details}}` (https://ai.google.dev/gemini-api/docs/troubleshooting,
 * https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429): 401 and invalid-key reasons are the
 * gateway's credential; 403 and FAILED_PRECONDITION (the project's region or billing) are the deployment's;
 * 429 RESOURCE_EXHAUSTED waits as long as RetryInfo says (else Retry-After); 503 UNAVAILABLE is an overload;
 * 504 DEADLINE_EXCEEDED a timeout.
 */
export function toGatewayErrorFromGoogle(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const { message, status: grpcStatus, details } = errorDetail(body);
  const reason = detailOfType(details, 'google.rpc.ErrorInfo')?.reason;
  if (status === 401 || (typeof reason === 'string' && CREDENTIAL_REASONS.has(reason))) {
    return upstreamErrors.authFailed(provider);
  }
  const retryAfterMs = retryDelayMs(details) ?? parseRetryAfterMs(headers);
  if (status === 403 || grpcStatus === 'FAILED_PRECONDITION') return upstreamErrors.permissionDenied(provider, message);
  if (status === 404) return upstreamErrors.modelNotFound(provider, message);
  if (status === 413) return upstreamErrors.requestTooLarge(provider, message);
  if (status === 429) return upstreamErrors.rateLimited(provider, message, retryAfterMs);
  if (status === 503) return upstreamErrors.overloaded(provider, message, retryAfterMs);
  if (status === 504 || status === 408) return upstreamErrors.timeout(provider, message);
  if (status >= 500) return upstreamErrors.serverError(provider, message, status);
  if (message && CONTEXT_TOO_LONG.test(message)) return upstreamErrors.contextLengthExceeded(provider, message);
  return upstreamErrors.badRequest(provider, message);
}
