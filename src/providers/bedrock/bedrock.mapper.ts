/**
 * Pure translation between the gateway's OpenAI form and Bedrock Runtime: Converse requests and answers (one
 * translation for every model family), ConverseStream events through a small state object, and errors. Each
 * mapping names the AWS page it follows. The embedding models' InvokeModel bodies: bedrock-embeddings.mapper.ts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { echo, GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  AssistantMessage,
  CacheControl,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ChunkDelta,
  ContentPart,
  FinishReason,
  FunctionTool,
  ThinkingBlock,
  ToolCall,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { claudeThinkingOf, maxTokensAfterThinking } from '../claude-thinking.js';
import { upstreamErrors } from '../provider-errors.js';
import { EventStreamFormatError, type EventStreamMessage } from './bedrock-event-stream.js';
import type {
  BedrockCachePoint,
  BedrockContentBlock,
  BedrockContentBlockDeltaEvent,
  BedrockContentBlockStartEvent,
  BedrockConverseRequest,
  BedrockConverseResponse,
  BedrockDocumentBlock,
  BedrockErrorBody,
  BedrockImageBlock,
  BedrockMessage,
  BedrockMessageStopEvent,
  BedrockMetadataEvent,
  BedrockRole,
  BedrockStopReason,
  BedrockSystemBlock,
  BedrockTokenUsage,
  BedrockTool,
  BedrockToolChoice,
  BedrockToolResultContent,
  BedrockToolSpec,
} from './bedrock.types.js';

export interface BedrockRequestDefaults {
  /** `options.additionalModelRequestFields`: sent with every request; the request's own knobs win. */
  additionalModelRequestFields?: Record<string, unknown>;
}

/** Stands in for a conversation that opens with the assistant: Converse wants a user turn first. */
const LEADING_USER_PLACEHOLDER = '.';
const DATA_URL = /^data:([^;,]+)(?:;[^;,]*)*;base64,(.*)$/s;
/** https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageBlock.html */
const IMAGE_FORMATS: Readonly<Record<string, BedrockImageBlock['format']>> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};
/** https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html */
const DOCUMENT_FORMATS: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'text/csv': 'csv',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'text/html': 'html',
  'text/plain': 'txt',
  'text/markdown': 'md',
};
const CACHE_POINT: { cachePoint: BedrockCachePoint } = Object.freeze({
  cachePoint: Object.freeze({ type: 'default' }),
});

// ---------------------------------------------------------------------------------------------------------------
// Request

/**
 * Whether the model id, inference-profile id or ARN names an Anthropic model (`anthropic.…`, `us.anthropic.…`,
 * `arn:…:inference-profile/eu.anthropic.…`): only those take Claude's `thinking` and `top_k` fields.
 * https://docs.aws.amazon.com/bedrock/latest/userguide/inference-profiles-support.html
 */
export function isAnthropicModel(modelId: string): boolean {
  return /(?:^|[./])anthropic\./.test(modelId);
}

/**
 * The Converse body (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html). Throws
 * InvalidRequestError for what Converse cannot express; best-effort hints it lacks (`seed`, penalties, `user`,
 * `parallel_tool_calls`) are dropped.
 */
export function toBedrockConverseRequest(
  request: ChatCompletionRequest,
  defaults: BedrockRequestDefaults = {},
): BedrockConverseRequest {
  rejectUnsupportedParameters(request);
  const system: BedrockSystemBlock[] = [];
  const messages: BedrockMessage[] = [];
  let usesTools = false;
  request.messages.forEach((message, i) => {
    switch (message.role) {
      case 'system':
      case 'developer':
        appendSystem(system, message, i);
        return;
      case 'user':
        appendTurn(messages, 'user', userBlocks(message, i));
        return;
      case 'assistant': {
        const blocks = assistantBlocks(message, i);
        if (message.tool_calls && message.tool_calls.length > 0) usesTools = true;
        appendTurn(messages, 'assistant', blocks);
        return;
      }
      case 'tool':
        usesTools = true;
        appendTurn(messages, 'user', toolResultBlocks(message, i));
        return;
      default:
        throw new InvalidRequestError(
          `Role '${echo(message.role)}' is not supported by Bedrock; send tool results as 'tool' messages.`,
          `messages[${i}].role`,
          'unsupported_value',
        );
    }
  });
  if (messages.length === 0) {
    throw new InvalidRequestError('At least one user or assistant message is required.', 'messages');
  }
  // https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html: the first message is the user's.
  if (messages[0].role !== 'user') {
    messages.unshift({ role: 'user', content: [{ text: LEADING_USER_PLACEHOLDER }] });
  }

  const body: BedrockConverseRequest = { messages };
  if (system.length > 0) body.system = system;
  const toolConfig = toBedrockToolConfig(request.tools, request.tool_choice, usesTools);
  if (toolConfig) body.toolConfig = toolConfig;
  const outputConfig = toBedrockOutputConfig(request);
  if (outputConfig) body.outputConfig = outputConfig;
  applyInferenceAndModelFields(body, request, defaults);
  return body;
}

function unsupported(message: string, param: string): InvalidRequestError {
  return new InvalidRequestError(message, param, 'unsupported_parameter');
}

/** Refused rather than ignored: each would change the answer's shape. */
function rejectUnsupportedParameters(request: ChatCompletionRequest): void {
  if (request.n != null && request.n > 1) {
    throw unsupported('Converse returns one message per request; n greater than 1 is not supported.', 'n');
  }
  if (request.logprobs === true) throw unsupported('Bedrock Converse does not return log probabilities.', 'logprobs');
  if (request.logit_bias && Object.keys(request.logit_bias).length > 0) {
    throw unsupported('Bedrock Converse does not support logit_bias.', 'logit_bias');
  }
  if (request.audio != null) throw unsupported('Bedrock Converse does not produce audio output.', 'audio');
  // Converse has JSON-schema output (outputConfig) but no schema-less JSON mode.
  if (request.response_format?.type === 'json_object') {
    throw unsupported(
      "response_format 'json_object' has no Converse equivalent; use 'json_schema' with a schema.",
      'response_format',
    );
  }
}

function cachePoint(control: CacheControl | undefined): { cachePoint: BedrockCachePoint } | undefined {
  if (!control) return undefined;
  // https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_CachePointBlock.html: ttl 5m | 1h.
  return control.ttl ? { cachePoint: { type: 'default', ttl: control.ttl } } : CACHE_POINT;
}

/**
 * System and developer messages anywhere become the top-level `system` blocks (SystemContentBlock: text or
 * cachePoint); `cache_control` on a part or on the message puts a cache point after it.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_SystemContentBlock.html
 */
function appendSystem(system: BedrockSystemBlock[], message: ChatMessage, i: number): void {
  const content = message.content;
  if (typeof content === 'string') {
    if (content !== '') system.push({ text: content });
  } else if (content) {
    content.forEach((part, j) => {
      if (part.type !== 'text') {
        throw new InvalidRequestError(
          `Only text parts are allowed in system messages, got '${echo(part.type)}'.`,
          `messages[${i}].content[${j}]`,
        );
      }
      if (part.text !== '') system.push({ text: part.text });
      const point = cachePoint(part.cache_control);
      if (point) system.push(point);
    });
  }
  const point = cachePoint(message.cache_control);
  if (point) system.push(point);
}

function userBlocks(message: ChatMessage, i: number): BedrockContentBlock[] {
  const blocks: BedrockContentBlock[] = [];
  const content = message.content;
  if (typeof content === 'string') {
    // Converse refuses blank text blocks (API_runtime_ContentBlock.html: text, min length 1).
    if (content.trim() !== '') blocks.push({ text: content });
  } else if (content) {
    content.forEach((part, j) => {
      const block = userBlock(part, `messages[${i}].content[${j}]`);
      if (block) blocks.push(block);
      const point = 'cache_control' in part ? cachePoint(part.cache_control) : undefined;
      if (point) blocks.push(point);
    });
  }
  const point = cachePoint(message.cache_control);
  if (point) blocks.push(point);
  return blocks;
}

function userBlock(part: ContentPart, param: string): BedrockContentBlock | undefined {
  switch (part.type) {
    case 'text':
      return part.text.trim() === '' ? undefined : { text: part.text };
    case 'image_url':
      return { image: imageBlock(part.image_url.url, `${param}.image_url.url`) };
    case 'file':
      return { document: documentBlock(part.file, `${param}.file`) };
    case 'input_audio':
      throw new InvalidRequestError('Bedrock Converse does not accept audio input.', param, 'unsupported_value');
    default:
      throw new InvalidRequestError(
        `Content parts of type '${echo(part.type)}' are not supported by Bedrock Converse.`,
        param,
        'unsupported_value',
      );
  }
}

/**
 * ImageBlock: format + bytes (base64 in JSON). Converse takes bytes or an S3 location, not a web URL, so only
 * base64 data URLs are accepted. https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ImageSource.html
 */
function imageBlock(url: string, param: string): BedrockImageBlock {
  const match = DATA_URL.exec(url);
  if (!match) {
    throw new InvalidRequestError(
      'Bedrock takes images as bytes: send a base64 data URL (data:image/png;base64,…).',
      param,
      'unsupported_value',
    );
  }
  const format = IMAGE_FORMATS[match[1].toLowerCase()];
  if (!format) {
    throw new InvalidRequestError(
      `Image type '${echo(match[1])}' is not supported; use png, jpeg, gif or webp.`,
      param,
      'unsupported_value',
    );
  }
  return { format, source: { bytes: match[2] } };
}

/**
 * DocumentBlock: format, a name (letters, digits, single spaces, hyphens, parentheses, square brackets) and bytes.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_DocumentBlock.html
 */
function documentBlock(file: { file_data?: string; file_id?: string; filename?: string }, param: string) {
  const match = file.file_data === undefined ? null : DATA_URL.exec(file.file_data);
  if (!match) {
    throw new InvalidRequestError(
      'Bedrock takes documents as bytes: send file_data as a base64 data URL.',
      `${param}.file_data`,
      'unsupported_value',
    );
  }
  const format = DOCUMENT_FORMATS[match[1].toLowerCase()];
  if (!format) {
    throw new InvalidRequestError(
      `Document type '${echo(match[1])}' is not supported by Bedrock Converse.`,
      `${param}.file_data`,
      'unsupported_value',
    );
  }
  const stem = (file.filename ?? '').replace(/\.[^.]*$/, '');
  const name =
    stem
      .replace(/[^A-Za-z0-9\-()[\] ]+/g, '-')
      .replace(/\s+/g, ' ')
      .trim() || 'document';
  const block: BedrockDocumentBlock = { format, name, source: { bytes: match[2] } };
  return block;
}

/**
 * Reasoning first, then text, then tool uses, as Converse returned them. Thinking blocks go back exactly as they
 * came, signature and redacted data included; Claude refuses changed or missing ones
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html, "Preserving
 * thinking blocks"). `reasoning_content` without blocks has no signature to send and is left out.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ReasoningContentBlock.html
 */
function assistantBlocks(message: ChatMessage, i: number): BedrockContentBlock[] {
  const blocks: BedrockContentBlock[] = [];
  for (const block of message.thinking_blocks ?? []) {
    if (block.type === 'thinking') {
      const reasoningText: { text: string; signature?: string } = { text: block.thinking };
      if (block.signature !== undefined) reasoningText.signature = block.signature;
      blocks.push({ reasoningContent: { reasoningText } });
    } else if (block.type === 'redacted_thinking') {
      blocks.push({ reasoningContent: { redactedContent: block.data } });
    }
  }
  const content = message.content;
  if (typeof content === 'string') {
    if (content.trim() !== '') blocks.push({ text: content });
  } else if (content) {
    content.forEach((part, j) => {
      if (part.type !== 'text' && part.type !== 'refusal') {
        throw new InvalidRequestError(
          `Assistant content parts must be text, got '${echo(part.type)}'.`,
          `messages[${i}].content[${j}]`,
        );
      }
      const text = part.type === 'text' ? part.text : part.refusal;
      if (text.trim() !== '') blocks.push({ text });
      const point = part.type === 'text' ? cachePoint(part.cache_control) : undefined;
      if (point) blocks.push(point);
    });
  }
  message.tool_calls?.forEach((call, j) => {
    blocks.push({
      toolUse: {
        toolUseId: call.id,
        name: call.function.name,
        input: parseToolArguments(call.function.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
      },
    });
  });
  const point = cachePoint(message.cache_control);
  if (point) blocks.push(point);
  return blocks;
}

/** ToolUseBlock.input is a JSON document; an empty string (a call without arguments) becomes `{}`. */
function parseToolArguments(text: string, param: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidRequestError('Tool call arguments must be valid JSON.', param);
  }
}

/**
 * A tool message becomes a toolResult block in a user turn: text parts as text, image parts as images.
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolResultBlock.html
 */
function toolResultBlocks(message: ChatMessage, i: number): BedrockContentBlock[] {
  if (!message.tool_call_id) {
    throw new InvalidRequestError('Tool messages need a tool_call_id.', `messages[${i}].tool_call_id`);
  }
  const content: BedrockToolResultContent[] = [];
  const parts = message.content;
  if (typeof parts === 'string') {
    if (parts !== '') content.push({ text: parts });
  } else if (parts) {
    parts.forEach((part, j) => {
      const param = `messages[${i}].content[${j}]`;
      if (part.type === 'text') {
        if (part.text !== '') content.push({ text: part.text });
      } else if (part.type === 'image_url') {
        content.push({ image: imageBlock(part.image_url.url, `${param}.image_url.url`) });
      } else {
        throw new InvalidRequestError(`Tool results take text and image parts, got '${echo(part.type)}'.`, param);
      }
    });
  }
  const blocks: BedrockContentBlock[] = [{ toolResult: { toolUseId: message.tool_call_id, content } }];
  const point = cachePoint(message.cache_control);
  if (point) blocks.push(point);
  return blocks;
}

/**
 * Appends a turn, merging it into the previous one when the role repeats: Converse wants the roles to alternate
 * (API_runtime_Message.html). In a merged user turn the toolResult blocks go first, as Claude requires after a
 * toolUse turn. An empty turn is dropped (Converse refuses empty content).
 */
function appendTurn(messages: BedrockMessage[], role: BedrockRole, blocks: BedrockContentBlock[]): void {
  if (blocks.length === 0) return;
  const last = messages.at(-1);
  if (last?.role !== role) {
    messages.push({ role, content: blocks });
    return;
  }
  last.content.push(...blocks);
  if (role === 'user' && blocks.some((block) => 'toolResult' in block)) {
    const results = last.content.filter((block) => 'toolResult' in block);
    const others = last.content.filter((block) => !('toolResult' in block));
    last.content = [...results, ...others];
  }
}

/**
 * Tools → toolSpec {name, description, inputSchema.json, strict}; `cache_control` on a tool puts a cache point
 * after it. tool_choice auto → {auto}, required → {any}, a named function → {tool}
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ToolChoice.html). Converse has no "none":
 * then no toolConfig is sent, unless the conversation already holds tool uses or results, which Converse refuses
 * without one; the tools then go without a choice (the model may still call one).
 * https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html
 */
function toBedrockToolConfig(
  tools: FunctionTool[] | undefined,
  choice: ToolChoice | undefined,
  usesTools: boolean,
): BedrockConverseRequest['toolConfig'] {
  if (!tools || tools.length === 0) return undefined;
  if (choice === 'none' && !usesTools) return undefined;
  const specs: BedrockTool[] = [];
  tools.forEach((tool, i) => {
    if (tool.type !== 'function') {
      throw new InvalidRequestError(
        `Tools of type '${echo(tool.type)}' are not supported by Bedrock Converse.`,
        `tools[${i}].type`,
        'unsupported_value',
      );
    }
    const fn = tool.function;
    const spec: BedrockToolSpec = {
      name: fn.name,
      inputSchema: { json: fn.parameters ?? { type: 'object', properties: {} } },
    };
    if (fn.description !== undefined && fn.description !== '') spec.description = fn.description;
    // https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html, "Strict tool use".
    if (fn.strict === true) spec.strict = true;
    specs.push({ toolSpec: spec });
    const point = cachePoint(tool.cache_control);
    if (point) specs.push(point);
  });
  const toolChoice = choice === 'none' ? undefined : toBedrockToolChoice(choice);
  return toolChoice ? { tools: specs, toolChoice } : { tools: specs };
}

function toBedrockToolChoice(choice: ToolChoice | undefined): BedrockToolChoice | undefined {
  if (choice === undefined) return undefined;
  if (choice === 'auto') return { auto: {} };
  if (choice === 'required') return { any: {} };
  if (typeof choice === 'object' && choice.type === 'function') return { tool: { name: choice.function.name } };
  throw new InvalidRequestError(
    `tool_choice '${echo(typeof choice === 'object' ? choice.type : choice)}' is not supported by Bedrock Converse.`,
    'tool_choice',
    'unsupported_value',
  );
}

/**
 * json_schema → outputConfig.textFormat with the schema as a JSON string
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_OutputConfig.html,
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_JsonSchemaDefinition.html).
 */
function toBedrockOutputConfig(request: ChatCompletionRequest): BedrockConverseRequest['outputConfig'] {
  const format = request.response_format;
  if (format?.type !== 'json_schema') return undefined;
  const definition = format.json_schema;
  if (!definition?.schema) {
    throw new InvalidRequestError('response_format json_schema needs a schema.', 'response_format.json_schema.schema');
  }
  const jsonSchema: { schema: string; name?: string; description?: string } = {
    schema: JSON.stringify(definition.schema),
  };
  if (definition.name) jsonSchema.name = definition.name;
  if (definition.description) jsonSchema.description = definition.description;
  return { textFormat: { type: 'json_schema', structure: { jsonSchema } } };
}

/**
 * inferenceConfig (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InferenceConfiguration.html):
 * maxTokens, temperature (0–1: OpenAI's 0–2 is clamped to 1), topP, stopSequences. additionalModelRequestFields
 * (the model's own fields): the configured ones, then for Anthropic models `top_k` and `thinking` — from the
 * request's `thinking` as given, or from `reasoning_effort` as a budget
 * (https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html).
 */
function applyInferenceAndModelFields(
  body: BedrockConverseRequest,
  request: ChatCompletionRequest,
  defaults: BedrockRequestDefaults,
): void {
  const inference: NonNullable<BedrockConverseRequest['inferenceConfig']> = {};
  let maxTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  if (request.temperature != null) inference.temperature = Math.min(Math.max(request.temperature, 0), 1);
  if (request.top_p != null) inference.topP = request.top_p;
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  if (stop.length > 0) inference.stopSequences = stop;

  const fields: Record<string, unknown> = { ...defaults.additionalModelRequestFields };
  if (isAnthropicModel(request.model)) {
    if (typeof request.top_k === 'number') fields.top_k = request.top_k;
    const thinking = claudeThinkingOf(request, maxTokens);
    if (thinking === null) delete fields.thinking;
    else if (thinking) fields.thinking = thinking;
    maxTokens ??= maxTokensAfterThinking(fields.thinking);
  }
  if (maxTokens !== undefined) inference.maxTokens = maxTokens;
  if (Object.keys(inference).length > 0) body.inferenceConfig = inference;
  if (Object.keys(fields).length > 0) body.additionalModelRequestFields = fields;
}

// ---------------------------------------------------------------------------------------------------------------
// Response

/**
 * Converse stop reasons (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseOutput.html,
 * API_runtime_MessageStopEvent.html). A guardrail or content filter is OpenAI's content_filter; a full context
 * window is a length stop; malformed output still ends the turn.
 */
const FINISH_REASONS: Readonly<Record<BedrockStopReason, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  tool_use: 'tool_calls',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  guardrail_intervened: 'content_filter',
  content_filtered: 'content_filter',
  malformed_model_output: 'stop',
  malformed_tool_use: 'stop',
};

export function toFinishReason(stopReason: BedrockStopReason | undefined): FinishReason {
  return (stopReason && FINISH_REASONS[stopReason]) || 'stop';
}

/**
 * Bedrock's inputTokens leaves out what was read from and written to the cache; OpenAI's prompt_tokens counts
 * everything. TokenUsage has no reasoning figure (reasoning is inside outputTokens).
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html,
 * https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html
 */
export function toUsage(usage: Partial<BedrockTokenUsage> | undefined): Usage {
  const read = usage?.cacheReadInputTokens ?? 0;
  const written = usage?.cacheWriteInputTokens ?? 0;
  const prompt = (usage?.inputTokens ?? 0) + read + written;
  const completion = usage?.outputTokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: read, cache_creation_tokens: written },
  };
}

/** `chatcmpl-<x-amzn-RequestId>`: Converse answers carry no id of their own. */
export function completionId(headers: IncomingHttpHeaders): string {
  const requestId = headers['x-amzn-requestid'];
  return `chatcmpl-${typeof requestId === 'string' && requestId !== '' ? requestId : randomUUID()}`;
}

/**
 * Text blocks → content; toolUse → tool_calls; reasoningContent → reasoning_content plus thinking_blocks with their
 * signatures (reasoningText) or their data (redactedContent).
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html
 */
export function fromBedrockConverseResponse(
  response: BedrockConverseResponse,
  options: { model: string; provider: string; id: string; now?: number },
): ChatCompletion {
  const content = response?.output?.message?.content;
  if (!Array.isArray(content)) {
    throw upstreamErrors.invalidResponse(options.provider, 'the answer has no output message');
  }
  let text: string | null = null;
  let reasoning: string | null = null;
  const thinkingBlocks: ThinkingBlock[] = [];
  const toolCalls: ToolCall[] = [];
  for (const block of content) {
    if (typeof block.text === 'string') {
      text = (text ?? '') + block.text;
    } else if (block.toolUse) {
      toolCalls.push({
        id: block.toolUse.toolUseId,
        type: 'function',
        function: { name: block.toolUse.name, arguments: JSON.stringify(block.toolUse.input ?? {}) },
      });
    } else if (block.reasoningContent) {
      const { reasoningText, redactedContent } = block.reasoningContent;
      if (reasoningText) {
        const thinking = reasoningText.text ?? '';
        reasoning = (reasoning ?? '') + thinking;
        thinkingBlocks.push(
          reasoningText.signature === undefined
            ? { type: 'thinking', thinking }
            : { type: 'thinking', thinking, signature: reasoningText.signature },
        );
      } else if (typeof redactedContent === 'string') {
        thinkingBlocks.push({ type: 'redacted_thinking', data: redactedContent });
      }
    }
  }
  const message: AssistantMessage = { role: 'assistant', content: text, refusal: null };
  if (reasoning !== null) message.reasoning_content = reasoning;
  if (thinkingBlocks.length > 0) message.thinking_blocks = thinkingBlocks;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: options.id,
    object: 'chat.completion',
    created: Math.floor((options.now ?? Date.now()) / 1000),
    model: options.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: toFinishReason(response.stopReason) }],
    usage: toUsage(response.usage),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Stream

export interface BedrockStreamState {
  readonly provider: string;
  readonly model: string;
  readonly id: string;
  readonly created: number;
  readonly includeUsage: boolean;
  started: boolean;
  /** The metadata event (usage) arrived: the answer is complete. */
  finished: boolean;
  /** OpenAI numbers tool calls 0, 1, …; Converse numbers every content block. */
  toolCallIndexByBlock: Map<number, number>;
  finishReason: FinishReason | null;
}

export function createBedrockStreamState(options: {
  provider: string;
  model: string;
  id: string;
  includeUsage: boolean;
  now?: number;
}): BedrockStreamState {
  return {
    provider: options.provider,
    model: options.model,
    id: options.id,
    created: Math.floor((options.now ?? Date.now()) / 1000),
    includeUsage: options.includeUsage,
    started: false,
    finished: false,
    toolCallIndexByBlock: new Map(),
    finishReason: null,
  };
}

function chunk(state: BedrockStreamState, delta: ChunkDelta, finishReason: FinishReason | null = null) {
  const result: ChatCompletionChunk = {
    id: state.id,
    object: 'chat.completion.chunk',
    created: state.created,
    model: state.model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
  if (state.includeUsage) result.usage = null;
  return result;
}

const NO_CHUNKS: readonly ChatCompletionChunk[] = Object.freeze([]);

function parsePayload<T>(state: BedrockStreamState, message: EventStreamMessage): T {
  try {
    return JSON.parse(message.payload) as T;
  } catch {
    throw upstreamErrors.invalidResponse(state.provider, `the '${message.type}' event is not valid JSON`);
  }
}

/**
 * One ConverseStream message → the OpenAI chunks it implies (often none)
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html):
 * messageStart → the role chunk; contentBlockStart(toolUse) → the call's id and name; contentBlockDelta → text,
 * tool input fragments, reasoning text, then the reasoning signature (a `thinking: ''` block with the signature),
 * or redacted reasoning whole; messageStop → the stop reason; metadata → the finish chunk and, when asked, the usage
 * chunk (usage is counted once, from metadata). Exception messages are thrown, mapped like HTTP errors.
 */
export function fromBedrockStreamMessage(
  state: BedrockStreamState,
  message: EventStreamMessage,
): readonly ChatCompletionChunk[] {
  if (message.messageType !== 'event') {
    throw toGatewayErrorFromBedrockType(state.provider, upperFirst(message.type), streamErrorMessage(message));
  }
  if (state.finished) return NO_CHUNKS;
  switch (message.type) {
    case 'messageStart':
      if (state.started) return NO_CHUNKS;
      state.started = true;
      return [chunk(state, { role: 'assistant', content: '' })];
    case 'contentBlockStart': {
      const event = parsePayload<BedrockContentBlockStartEvent>(state, message);
      const toolUse = event.start?.toolUse;
      if (!toolUse) return NO_CHUNKS;
      const index = state.toolCallIndexByBlock.size;
      state.toolCallIndexByBlock.set(event.contentBlockIndex, index);
      return [
        chunk(state, {
          tool_calls: [
            { index, id: toolUse.toolUseId, type: 'function', function: { name: toolUse.name, arguments: '' } },
          ],
        }),
      ];
    }
    case 'contentBlockDelta': {
      const event = parsePayload<BedrockContentBlockDeltaEvent>(state, message);
      const delta = event.delta;
      if (!delta) return NO_CHUNKS;
      if (typeof delta.text === 'string')
        return delta.text === '' ? NO_CHUNKS : [chunk(state, { content: delta.text })];
      if (delta.toolUse) {
        const index = state.toolCallIndexByBlock.get(event.contentBlockIndex);
        const input = delta.toolUse.input;
        if (index === undefined || !input) return NO_CHUNKS;
        return [chunk(state, { tool_calls: [{ index, function: { arguments: input } }] })];
      }
      const reasoning = delta.reasoningContent;
      if (!reasoning) return NO_CHUNKS;
      if (typeof reasoning.text === 'string' && reasoning.text !== '') {
        return [
          chunk(state, {
            reasoning_content: reasoning.text,
            thinking_blocks: [{ type: 'thinking', thinking: reasoning.text }],
          }),
        ];
      }
      if (typeof reasoning.signature === 'string') {
        return [
          chunk(state, { thinking_blocks: [{ type: 'thinking', thinking: '', signature: reasoning.signature }] }),
        ];
      }
      if (typeof reasoning.redactedContent === 'string') {
        return [chunk(state, { thinking_blocks: [{ type: 'redacted_thinking', data: reasoning.redactedContent }] })];
      }
      return NO_CHUNKS;
    }
    case 'messageStop': {
      const event = parsePayload<BedrockMessageStopEvent>(state, message);
      state.finishReason = toFinishReason(event.stopReason);
      return NO_CHUNKS;
    }
    case 'metadata': {
      if (!state.started) {
        throw upstreamErrors.invalidResponse(state.provider, 'metadata arrived before messageStart');
      }
      const event = parsePayload<BedrockMetadataEvent>(state, message);
      state.finished = true;
      const finish = chunk(state, {}, state.finishReason ?? 'stop');
      if (!state.includeUsage) return [finish];
      return [
        finish,
        {
          id: state.id,
          object: 'chat.completion.chunk',
          created: state.created,
          model: state.model,
          choices: [],
          usage: toUsage(event.usage),
        },
      ];
    }
    default:
      // contentBlockStop and events added later carry nothing to translate.
      return NO_CHUNKS;
  }
}

function streamErrorMessage(message: EventStreamMessage): string | undefined {
  if (message.messageType === 'error') return message.payload;
  try {
    const body = JSON.parse(message.payload) as BedrockErrorBody;
    return body.message ?? body.Message;
  } catch {
    return undefined;
  }
}

/**
 * The OpenAI chunks of a ConverseStream body, after the `first` ones already produced. The body is read to its end
 * (the connection goes back to the pool); one that ends before the metadata event, breaks, or is not a valid event
 * stream is a stream interruption.
 */
export async function* readBedrockChunks(
  messages: AsyncIterable<EventStreamMessage>,
  state: BedrockStreamState,
  first: readonly ChatCompletionChunk[] = NO_CHUNKS,
): AsyncGenerator<ChatCompletionChunk> {
  yield* first;
  try {
    for await (const message of messages) yield* fromBedrockStreamMessage(state, message);
  } catch (error) {
    throw toStreamFailure(state.provider, error);
  }
  if (!state.finished) throw upstreamErrors.streamInterrupted(state.provider);
}

/** A failure while reading a stream as a GatewayError: mapped errors as they are, the rest as interruptions. */
export function toStreamFailure(provider: string, error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof EventStreamFormatError) return upstreamErrors.streamInterrupted(provider, error.message);
  return upstreamErrors.streamInterrupted(provider, 'the connection to the provider was lost mid-stream');
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/**
 * Errors that mean the gateway's AWS credentials were refused: unknown key, bad signature, expired session.
 * https://docs.aws.amazon.com/bedrock/latest/userguide/troubleshooting-api-error-codes.html,
 * https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html
 */
const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'IncompleteSignatureException',
  'InvalidClientTokenId',
  'MissingAuthenticationTokenException',
  'SignatureDoesNotMatch',
]);
const INPUT_TOO_LONG = /input is too long|prompt is too long|too many (input )?tokens|context (window|length)/i;

export function isCredentialError(type: string | undefined): boolean {
  return type !== undefined && CREDENTIAL_ERRORS.has(type);
}

/**
 * The error's type name: `x-amzn-ErrorType` (`Name:namespace`), else the body's `__type` (`namespace#Name`).
 * https://smithy.io/2.0/aws/protocols/aws-restjson1-protocol.html#operation-error-serialization
 */
export function bedrockErrorType(body: unknown, headers: IncomingHttpHeaders): string | undefined {
  const header = headers['x-amzn-errortype'];
  const fromHeader = typeof header === 'string' ? header.split(':')[0] : undefined;
  if (fromHeader) return fromHeader;
  const type = (body as BedrockErrorBody | null)?.__type;
  return typeof type === 'string' ? type.split('#').at(-1) : undefined;
}

function errorMessage(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const { message, Message } = body as BedrockErrorBody;
  const text = message ?? Message;
  return typeof text === 'string' ? text : undefined;
}

/** Maps a Bedrock error answer (status, `x-amzn-ErrorType`, `{message}`) onto the gateway's error vocabulary. */
export function toGatewayErrorFromBedrock(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const type = bedrockErrorType(body, headers) ?? typeForStatus(status);
  return toGatewayErrorFromBedrockType(provider, type, errorMessage(body), parseRetryAfterMs(headers), status);
}

/** Fallback when neither header nor body names the error (a proxy's page, say); other 5xx keep their status. */
function typeForStatus(status: number): string {
  if (status === 401) return 'UnrecognizedClientException';
  if (status === 403) return 'AccessDeniedException';
  if (status === 404) return 'ResourceNotFoundException';
  if (status === 408) return 'ModelTimeoutException';
  if (status === 413) return 'RequestEntityTooLarge';
  if (status === 424) return 'ModelErrorException';
  if (status === 429) return 'ThrottlingException';
  if (status === 503) return 'ServiceUnavailableException';
  return status >= 500 ? 'UnknownServerError' : 'ValidationException';
}

/**
 * Bedrock Runtime's error types (statuses from the service model; the same names, lower-camel, as stream
 * exceptions): https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors,
 * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html#API_runtime_ConverseStream_Errors
 */
export function toGatewayErrorFromBedrockType(
  provider: string,
  type: string,
  message: string | undefined,
  retryAfterMs?: number,
  status?: number,
): GatewayError {
  if (isCredentialError(type)) return upstreamErrors.authFailed(provider);
  switch (type) {
    // ServiceQuotaExceeded: "You can resubmit your request later" (troubleshooting-api-error-codes.html).
    case 'ThrottlingException':
    case 'ServiceQuotaExceededException':
      return upstreamErrors.rateLimited(provider, message, retryAfterMs);
    case 'ModelNotReadyException':
    case 'ServiceUnavailableException':
      return upstreamErrors.overloaded(provider, message, retryAfterMs);
    case 'AccessDeniedException':
      return upstreamErrors.permissionDenied(provider, message);
    case 'ResourceNotFoundException':
      return upstreamErrors.modelNotFound(provider, message);
    case 'ModelTimeoutException':
      return upstreamErrors.timeout(provider, message);
    case 'ModelErrorException':
    case 'ModelStreamErrorException':
      return upstreamErrors.serverError(provider, message, 502);
    case 'InternalServerException':
    case 'InternalFailure':
      return upstreamErrors.serverError(provider, message, 500);
    case 'RequestEntityTooLarge':
      return upstreamErrors.requestTooLarge(provider, message);
    default:
      if (status !== undefined && status >= 500) return upstreamErrors.serverError(provider, message, status);
      if (message && INPUT_TOO_LONG.test(message)) return upstreamErrors.contextLengthExceeded(provider, message);
      return upstreamErrors.badRequest(provider, message);
  }
}

function upperFirst(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}
