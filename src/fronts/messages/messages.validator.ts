/**
 * Validation of `POST /v1/messages` and `POST /v1/messages/count_tokens` bodies with the Messages API's types and
 * ranges (https://platform.claude.com/docs/en/api/messages; the installed `@anthropic-ai/sdk`'s
 * `MessageCreateParams` and its beta union of content blocks, since Claude Code calls `?beta=true`), in one pass of
 * plain checks like the chat validator. Only known fields are checked; unknown ones (betas such as
 * `context_management`) stay on the body for native passthrough. The first problem becomes a 400 whose `param` names
 * the field as Anthropic does (`messages.1.content.0.type`) and whose message reads like Anthropic's
 * (`messages.1.content.0.text: Field required`).
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { CountTokensRequest, MessagesRequest } from './messages.types.js';

const ROLES: ReadonlySet<unknown> = new Set(['user', 'assistant', 'system']);
const IMAGE_MEDIA_TYPES: ReadonlySet<unknown> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
const THINKING_TYPES = ['adaptive', 'between_tools', 'disabled', 'enabled'];
/** 'updates' is a beta value (BetaThinkingConfigEnabled.display). */
const THINKING_DISPLAYS: ReadonlySet<unknown> = new Set(['summarized', 'omitted', 'updates']);
const EFFORTS: ReadonlySet<unknown> = new Set(['low', 'medium', 'high', 'xhigh', 'max']);
const TOOL_CHOICE_TYPES = ['auto', 'any', 'tool', 'none'];
/** "Must be ≥1024 and less than max_tokens" (ThinkingConfigEnabled.budget_tokens). */
const MIN_THINKING_BUDGET = 1024;
/** Block types of the (beta) ContentBlockParam union that carry server-side state; checked only for a `type`. */
const SERVER_BLOCK_TYPES = [
  'server_tool_use',
  'web_search_tool_result',
  'web_fetch_tool_result',
  'advisor_tool_result',
  'code_execution_tool_result',
  'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result',
  'tool_search_tool_result',
  'mcp_tool_use',
  'mcp_tool_result',
  'container_upload',
  'compaction',
  'tool_addition',
  'tool_removal',
  'mcp_tool_listing',
  'fallback',
];
const BLOCK_TYPES = [
  'text',
  'image',
  'document',
  'search_result',
  'thinking',
  'redacted_thinking',
  'tool_use',
  'tool_result',
  ...SERVER_BLOCK_TYPES,
];
const KNOWN_BLOCK_TYPES: ReadonlySet<unknown> = new Set(BLOCK_TYPES);
/** What a tool_result's content may hold besides text, images, documents and search results. */
const TOOL_RESULT_OTHER_TYPES = ['tool_reference', 'browser_state'];
const SYSTEM_BLOCK_TYPES = ['text', 'tool_addition', 'tool_removal'];
const CLEAR_AT: ReadonlySet<unknown> = new Set(['next_user_message', 'never']);
const EMPTY_CONTENT = 'all messages must have non-empty content except for the optional final assistant message';

class Invalid extends Error {
  constructor(
    readonly param: string,
    readonly problem: string,
  ) {
    super(problem);
  }
}

function fail(param: string, problem: string): never {
  throw new Invalid(param, problem);
}

/** Optional fields that are absent or null are not checked. */
function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function join(path: string, field: string | number): string {
  return path === '' ? String(field) : `${path}.${field}`;
}

function checkObject(value: unknown, param: string): asserts value is Record<string, unknown> {
  if (!isObject(value)) fail(param, 'Input should be a valid dictionary');
}

function checkString(value: unknown, param: string): asserts value is string {
  if (value === undefined) fail(param, 'Field required');
  if (typeof value !== 'string') fail(param, 'Input should be a valid string');
}

function checkOptionalString(value: unknown, param: string): void {
  if (present(value)) checkString(value, param);
}

function checkOptionalBoolean(value: unknown, param: string): void {
  if (present(value) && typeof value !== 'boolean') fail(param, 'Input should be a valid boolean');
}

function checkOptionalNumber(value: unknown, param: string, min: number, max: number): void {
  if (!present(value)) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(param, 'Input should be a valid number');
  if (value < min) fail(param, `Input should be greater than or equal to ${min}`);
  if (value > max) fail(param, `Input should be less than or equal to ${max}`);
}

function checkInteger(value: unknown, param: string, min: number): void {
  if (value === undefined) fail(param, 'Field required');
  if (!Number.isSafeInteger(value)) fail(param, 'Input should be a valid integer');
  if ((value as number) < min) fail(param, `Input should be greater than or equal to ${min}`);
}

function checkOneOf(value: unknown, allowed: ReadonlySet<unknown>, param: string): void {
  if (!allowed.has(value)) {
    const names = [...allowed].map((name) => `'${String(name)}'`);
    fail(param, `Input should be ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`);
  }
}

function checkTag(value: unknown, allowed: readonly string[], param: string): void {
  if (!allowed.includes(value as string)) {
    fail(
      param,
      `Input tag '${String(value)}' found using 'type' does not match any of the expected tags: ${allowed
        .map((tag) => `'${tag}'`)
        .join(', ')}`,
    );
  }
}

function checkCacheControl(value: unknown, path: string): void {
  if (!present(value)) return;
  const param = join(path, 'cache_control');
  checkObject(value, param);
  if (value.type !== 'ephemeral') fail(`${param}.type`, "Input should be 'ephemeral'");
  if (present(value.ttl) && value.ttl !== '5m' && value.ttl !== '1h') {
    fail(`${param}.ttl`, "Input should be '5m' or '1h'");
  }
}

function checkTextBlock(block: Record<string, unknown>, path: string): void {
  checkString(block.text, `${path}.text`);
  if (block.text === '') fail(`${path}.text`, 'text content blocks must be non-empty');
}

function checkTextBlocks(value: unknown, param: string): void {
  if (!Array.isArray(value)) fail(param, 'Input should be a valid list');
  for (let j = 0; j < value.length; j++) {
    const path = `${param}.${j}`;
    const block: unknown = value[j];
    checkObject(block, path);
    if (block.type !== 'text') checkTag(block.type, ['text'], `${path}.type`);
    checkCacheControl(block.cache_control, path);
    checkString(block.text, `${path}.text`);
  }
}

function checkImageSource(value: unknown, param: string): void {
  checkObject(value, param);
  switch (value.type) {
    case 'base64':
      checkOneOf(value.media_type, IMAGE_MEDIA_TYPES, `${param}.media_type`);
      checkString(value.data, `${param}.data`);
      return;
    case 'url':
      checkString(value.url, `${param}.url`);
      return;
    case 'file':
      checkString(value.file_id, `${param}.file_id`);
      return;
    default:
      checkTag(value.type, ['base64', 'url', 'file'], `${param}.type`);
  }
}

function checkDocumentSource(value: unknown, param: string): void {
  checkObject(value, param);
  switch (value.type) {
    case 'base64':
      if (value.media_type !== 'application/pdf') fail(`${param}.media_type`, "Input should be 'application/pdf'");
      checkString(value.data, `${param}.data`);
      return;
    case 'text':
      if (value.media_type !== 'text/plain') fail(`${param}.media_type`, "Input should be 'text/plain'");
      checkString(value.data, `${param}.data`);
      return;
    case 'content': {
      const content = value.content;
      if (typeof content === 'string') return;
      if (!Array.isArray(content)) fail(`${param}.content`, 'Input should be a valid list');
      for (let k = 0; k < content.length; k++) {
        const path = `${param}.content.${k}`;
        const block: unknown = content[k];
        checkObject(block, path);
        checkCacheControl(block.cache_control, path);
        if (block.type === 'text') checkTextBlock(block, path);
        else if (block.type === 'image') checkImageSource(block.source, `${path}.source`);
        else checkTag(block.type, ['text', 'image'], `${path}.type`);
      }
      return;
    }
    case 'url':
      checkString(value.url, `${param}.url`);
      return;
    case 'file':
      checkString(value.file_id, `${param}.file_id`);
      return;
    default:
      checkTag(value.type, ['base64', 'text', 'content', 'url', 'file'], `${param}.type`);
  }
}

function checkSearchResult(block: Record<string, unknown>, path: string): void {
  checkString(block.source, `${path}.source`);
  checkString(block.title, `${path}.title`);
  checkTextBlocks(block.content, `${path}.content`);
}

function checkToolResultContent(value: unknown, param: string): void {
  if (value === undefined || typeof value === 'string') return;
  if (!Array.isArray(value)) fail(param, 'Input should be a valid list');
  for (let k = 0; k < value.length; k++) {
    const path = `${param}.${k}`;
    const block: unknown = value[k];
    checkObject(block, path);
    checkCacheControl(block.cache_control, path);
    switch (block.type) {
      case 'text':
        checkTextBlock(block, path);
        break;
      case 'image':
        checkImageSource(block.source, `${path}.source`);
        break;
      case 'document':
        checkDocumentSource(block.source, `${path}.source`);
        break;
      case 'search_result':
        checkSearchResult(block, path);
        break;
      default:
        if (!TOOL_RESULT_OTHER_TYPES.includes(block.type as string)) {
          checkTag(
            block.type,
            ['text', 'image', 'search_result', 'document', ...TOOL_RESULT_OTHER_TYPES],
            `${path}.type`,
          );
        }
    }
  }
}

function onlyIn(role: string, wanted: string, type: string, path: string): void {
  if (role !== wanted) fail(`${path}.type`, `${type} blocks are only allowed in ${wanted} messages`);
}

function checkBlock(block: unknown, role: string, path: string): void {
  checkObject(block, path);
  checkCacheControl(block.cache_control, path);
  const type = block.type;
  switch (type) {
    case 'text':
      checkTextBlock(block, path);
      return;
    case 'image':
      onlyIn(role, 'user', type, path);
      checkImageSource(block.source, `${path}.source`);
      return;
    case 'document':
      onlyIn(role, 'user', type, path);
      checkDocumentSource(block.source, `${path}.source`);
      checkOptionalString(block.title, `${path}.title`);
      checkOptionalString(block.context, `${path}.context`);
      return;
    case 'search_result':
      onlyIn(role, 'user', type, path);
      checkSearchResult(block, path);
      return;
    case 'tool_use':
      onlyIn(role, 'assistant', type, path);
      checkString(block.id, `${path}.id`);
      checkString(block.name, `${path}.name`);
      checkObject(block.input, `${path}.input`);
      return;
    case 'tool_result':
      onlyIn(role, 'user', type, path);
      checkString(block.tool_use_id, `${path}.tool_use_id`);
      checkToolResultContent(block.content, `${path}.content`);
      checkOptionalBoolean(block.is_error, `${path}.is_error`);
      return;
    case 'thinking':
      onlyIn(role, 'assistant', type, path);
      checkString(block.thinking, `${path}.thinking`);
      checkString(block.signature, `${path}.signature`);
      return;
    case 'redacted_thinking':
      onlyIn(role, 'assistant', type, path);
      checkString(block.data, `${path}.data`);
      return;
    default:
      if (!KNOWN_BLOCK_TYPES.has(type)) checkTag(type, BLOCK_TYPES, `${path}.type`);
  }
}

/**
 * Mid-conversation system messages carry text (SystemMessageParam); on the beta API also tool additions and
 * removals, `clear_at`, and a per-message `output_config` that may stand in for the content.
 */
function checkSystemMessage(message: Record<string, unknown>, param: string): void {
  const content = message.content;
  if (present(message.clear_at)) checkOneOf(message.clear_at, CLEAR_AT, `${param}.clear_at`);
  if (content === undefined) {
    if (!isObject(message.output_config)) fail(`${param}.content`, 'Field required');
    return;
  }
  if (typeof content === 'string') {
    if (content === '') fail(param, EMPTY_CONTENT);
    return;
  }
  if (!Array.isArray(content)) fail(`${param}.content`, 'Input should be a valid list');
  if (content.length === 0) fail(param, EMPTY_CONTENT);
  for (let j = 0; j < content.length; j++) {
    const path = `${param}.content.${j}`;
    const block: unknown = content[j];
    checkObject(block, path);
    checkCacheControl(block.cache_control, path);
    if (block.type === 'text') checkString(block.text, `${path}.text`);
    else checkTag(block.type, SYSTEM_BLOCK_TYPES, `${path}.type`);
  }
}

function checkMessage(message: unknown, i: number, last: boolean): void {
  const param = `messages.${i}`;
  checkObject(message, param);
  const role = message.role;
  if (!ROLES.has(role)) fail(`${param}.role`, "Input should be 'user', 'assistant' or 'system'");
  const content = message.content;
  const emptyAllowed = last && role === 'assistant';
  if (role === 'system') {
    checkSystemMessage(message, param);
    return;
  }
  if (typeof content === 'string') {
    if (content === '' && !emptyAllowed) fail(param, EMPTY_CONTENT);
    return;
  }
  if (content === undefined) fail(`${param}.content`, 'Field required');
  if (!Array.isArray(content)) fail(`${param}.content`, 'Input should be a valid list');
  if (content.length === 0 && !emptyAllowed) fail(param, EMPTY_CONTENT);
  for (let j = 0; j < content.length; j++) checkBlock(content[j], role as string, `${param}.content.${j}`);
}

function checkMessages(value: unknown): void {
  if (value === undefined) fail('messages', 'Field required');
  if (!Array.isArray(value)) fail('messages', 'Input should be a valid list');
  if (value.length === 0) fail('messages', 'List should have at least 1 item after validation, not 0');
  for (let i = 0; i < value.length; i++) checkMessage(value[i], i, i === value.length - 1);
}

function checkSystem(value: unknown): void {
  if (!present(value) || typeof value === 'string') return;
  checkTextBlocks(value, 'system');
}

function checkTools(value: unknown): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail('tools', 'Input should be a valid list');
  for (let i = 0; i < value.length; i++) {
    const path = `tools.${i}`;
    const tool: unknown = value[i];
    checkObject(tool, path);
    checkCacheControl(tool.cache_control, path);
    const type = tool.type;
    if (present(type) && type !== 'custom') {
      // Anthropic-defined and server tools: a versioned type and a fixed name (toolsets have none), a built-in schema.
      checkString(type, `${path}.type`);
      checkOptionalString(tool.name, `${path}.name`);
      continue;
    }
    checkString(tool.name, `${path}.name`);
    if (tool.name === '') fail(`${path}.name`, 'String should have at least 1 character');
    checkOptionalString(tool.description, `${path}.description`);
    const schema = tool.input_schema;
    if (schema === undefined) fail(`${path}.input_schema`, 'Field required');
    checkObject(schema, `${path}.input_schema`);
    if (schema.type !== 'object') fail(`${path}.input_schema.type`, "Input should be 'object'");
    checkOptionalBoolean(tool.strict, `${path}.strict`);
  }
}

function checkToolChoice(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'tool_choice');
  checkTag(value.type, TOOL_CHOICE_TYPES, 'tool_choice.type');
  if (value.type === 'tool') checkString(value.name, 'tool_choice.name');
  if (value.type !== 'none')
    checkOptionalBoolean(value.disable_parallel_tool_use, 'tool_choice.disable_parallel_tool_use');
}

function checkStopSequences(value: unknown): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail('stop_sequences', 'Input should be a valid list');
  for (let i = 0; i < value.length; i++) checkString(value[i], `stop_sequences.${i}`);
}

function checkMetadata(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'metadata');
  checkOptionalString(value.user_id, 'metadata.user_id');
}

function checkThinking(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'thinking');
  const type = value.type;
  checkTag(type, THINKING_TYPES, 'thinking.type');
  if (type === 'enabled') checkInteger(value.budget_tokens, 'thinking.budget_tokens', MIN_THINKING_BUDGET);
  if (present(value.display)) checkOneOf(value.display, THINKING_DISPLAYS, 'thinking.display');
}

function checkOutputFormat(value: unknown, param: string): void {
  if (!present(value)) return;
  checkObject(value, param);
  if (value.type !== 'json_schema') fail(`${param}.type`, "Input should be 'json_schema'");
  if (value.schema === undefined) fail(`${param}.schema`, 'Field required');
  checkObject(value.schema, `${param}.schema`);
}

function checkOutputConfig(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'output_config');
  if (present(value.effort)) checkOneOf(value.effort, EFFORTS, 'output_config.effort');
  checkOutputFormat(value.format, 'output_config.format');
}

function checkBody(body: Record<string, unknown>, countingTokens: boolean): void {
  checkString(body.model, 'model');
  if (body.model === '') fail('model', 'String should have at least 1 character');
  // count_tokens has no max_tokens; Messages allows 0, which only warms the prompt cache.
  if (!countingTokens || body.max_tokens !== undefined) checkInteger(body.max_tokens, 'max_tokens', 0);
  checkMessages(body.messages);
  checkSystem(body.system);
  checkTools(body.tools);
  checkToolChoice(body.tool_choice);
  checkStopSequences(body.stop_sequences);
  checkOptionalNumber(body.temperature, 'temperature', 0, 1);
  checkOptionalNumber(body.top_p, 'top_p', 0, 1);
  if (present(body.top_k)) checkInteger(body.top_k, 'top_k', 0);
  checkMetadata(body.metadata);
  checkThinking(body.thinking);
  checkOutputConfig(body.output_config);
  checkOutputFormat(body.output_format, 'output_format');
  checkCacheControl(body.cache_control, '');
  checkOptionalBoolean(body.stream, 'stream');
}

function validate(body: unknown, countingTokens: boolean): Record<string, unknown> {
  if (!isObject(body)) throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json');
  try {
    checkBody(body, countingTokens);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    throw new InvalidRequestError(`${error.param}: ${error.problem}`, error.param, 'invalid_value');
  }
  return body;
}

/** Returns the body as a Messages request, or throws the 400 the client should see. */
export function validateMessagesRequest(body: unknown): MessagesRequest {
  return validate(body, false) as unknown as MessagesRequest;
}

/** The same rules for `count_tokens`, where `max_tokens` is not required. */
export function validateCountTokensRequest(body: unknown): CountTokensRequest {
  return validate(body, true) as unknown as CountTokensRequest;
}
