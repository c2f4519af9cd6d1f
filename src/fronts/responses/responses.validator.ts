/**
 * Validation of `POST /v1/responses` bodies with the Responses API's types and ranges, as one pass of plain checks
 * (the chat validator's style: this is the hot path, so no class-validator). Only known fields are checked; unknown
 * fields stay in the body for native passthrough. The first problem becomes a 400 `invalid_value` whose `param`
 * names the field as OpenAI does (`input[2].content[0].image_url`, `tools[3].type`).
 *
 * Types and ranges from https://platform.openai.com/docs/api-reference/responses/create (OpenAI's OpenAPI document
 * and the `openai` SDK's ResponseCreateParams); `max_output_tokens` >= 16 as OpenAI answers it
 * ("Expected a value >= 16", quoted in vectorize-io/hindsight#58).
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { ResponsesRequest } from './responses.types.js';

/** Tool types of the Responses API (the `Tool` union of OpenAI's OpenAPI document). */
const TOOL_TYPES: ReadonlySet<string> = new Set([
  'function',
  'custom',
  'namespace',
  'file_search',
  'computer',
  'computer_use_preview',
  'web_search',
  'web_search_2025_08_26',
  'web_search_preview',
  'web_search_preview_2025_03_11',
  'mcp',
  'code_interpreter',
  'programmatic_tool_calling',
  'image_generation',
  'local_shell',
  'shell',
  'tool_search',
  'apply_patch',
]);

/** Input item types of the Responses API (the `InputItem` and `Item` unions). */
const ITEM_TYPES: ReadonlySet<unknown> = new Set([
  'message',
  'reasoning',
  'function_call',
  'function_call_output',
  'custom_tool_call',
  'custom_tool_call_output',
  'item_reference',
  'file_search_call',
  'computer_call',
  'computer_call_output',
  'web_search_call',
  'tool_search_call',
  'tool_search_output',
  'additional_tools',
  'compaction',
  'compaction_trigger',
  'image_generation_call',
  'code_interpreter_call',
  'local_shell_call',
  'local_shell_call_output',
  'shell_call',
  'shell_call_output',
  'apply_patch_call',
  'apply_patch_call_output',
  'mcp_list_tools',
  'mcp_approval_request',
  'mcp_approval_response',
  'mcp_call',
  'program',
  'program_output',
]);

/** Tool choices that force one of OpenAI's built-in tools (`ToolChoiceTypes` and the specific ones). */
const BUILTIN_TOOL_CHOICES: ReadonlySet<unknown> = new Set([
  'file_search',
  'web_search_preview',
  'web_search_preview_2025_03_11',
  'computer',
  'computer_use',
  'computer_use_preview',
  'image_generation',
  'code_interpreter',
  'apply_patch',
  'shell',
  'programmatic_tool_calling',
]);

const INCLUDABLE: ReadonlySet<unknown> = new Set([
  'file_search_call.results',
  'web_search_call.results',
  'web_search_call.action.sources',
  'message.input_image.image_url',
  'computer_call_output.output.image_url',
  'code_interpreter_call.outputs',
  'reasoning.encrypted_content',
  'message.output_text.logprobs',
]);

const ROLES: ReadonlySet<unknown> = new Set(['user', 'assistant', 'system', 'developer']);
const INPUT_PARTS: ReadonlySet<unknown> = new Set(['input_text', 'input_image', 'input_file']);
/** Assistant turns carry output parts; easy input messages may also give them as input_text. */
const ASSISTANT_PARTS: ReadonlySet<unknown> = new Set(['output_text', 'refusal', 'input_text']);
const IMAGE_DETAILS: ReadonlySet<unknown> = new Set(['low', 'high', 'auto', 'original']);
const FILE_DETAILS: ReadonlySet<unknown> = new Set(['low', 'high', 'auto']);
const EFFORTS: ReadonlySet<unknown> = new Set(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']);
const SUMMARIES: ReadonlySet<unknown> = new Set(['auto', 'concise', 'detailed']);
const VERBOSITIES: ReadonlySet<unknown> = new Set(['low', 'medium', 'high']);
const SERVICE_TIERS: ReadonlySet<unknown> = new Set(['auto', 'default', 'flex', 'scale', 'priority']);
const TRUNCATIONS: ReadonlySet<unknown> = new Set(['auto', 'disabled']);
const CACHE_RETENTIONS: ReadonlySet<unknown> = new Set(['in_memory', '24h']);
const FORMAT_TYPES: ReadonlySet<unknown> = new Set(['text', 'json_object', 'json_schema']);
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
const SCHEMA_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_METADATA_PAIRS = 16;
const MAX_METADATA_KEY = 64;
const MAX_METADATA_VALUE = 512;
const MAX_SAFETY_IDENTIFIER = 64;
const MIN_OUTPUT_TOKENS = 16;

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

/** Absent fields, and fields set to null, are not checked (OpenAI accepts null for optional fields). */
function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkObject(value: unknown, param: string): asserts value is Record<string, unknown> {
  if (!isObject(value)) fail(param, `${param} must be an object`);
}

function checkString(value: unknown, param: string): asserts value is string {
  if (typeof value !== 'string') fail(param, `${param} must be a string`);
}

function checkNonEmptyString(value: unknown, param: string): void {
  checkString(value, param);
  if (value === '') fail(param, `${param} must not be empty`);
}

function checkOptionalString(value: unknown, param: string, maxLength = Infinity): void {
  if (!present(value)) return;
  checkString(value, param);
  if (value.length > maxLength) fail(param, `${param} must be at most ${maxLength} characters`);
}

function checkOptionalBoolean(value: unknown, param: string): void {
  if (present(value) && typeof value !== 'boolean') fail(param, `${param} must be a boolean value`);
}

function checkOptionalEnum(value: unknown, param: string, allowed: ReadonlySet<unknown>): void {
  if (present(value) && !allowed.has(value)) fail(param, `${param} must be one of: ${[...allowed].join(', ')}`);
}

function checkOptionalNumber(value: unknown, param: string, min: number, max: number): void {
  if (!present(value)) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(param, `${param} must be a number`);
  if (value < min) fail(param, `${param} must not be less than ${min}`);
  if (value > max) fail(param, `${param} must not be greater than ${max}`);
}

/** Integers must be exact in a double: beyond ±2^53 a JSON number is not the integer the client wrote. */
function checkOptionalInteger(value: unknown, param: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!present(value)) return;
  if (!Number.isSafeInteger(value)) fail(param, `${param} must be an integer number`);
  if ((value as number) < min) fail(param, `${param} must not be less than ${min}`);
  if ((value as number) > max) fail(param, `${param} must not be greater than ${max}`);
}

function checkCacheBreakpoint(value: unknown, param: string): void {
  if (!present(value)) return;
  checkObject(value, param);
  if (value.mode !== 'explicit') fail(`${param}.mode`, "mode must be 'explicit'");
}

function checkPart(part: unknown, param: string, allowed: ReadonlySet<unknown>): void {
  checkObject(part, param);
  const type = part.type;
  if (!allowed.has(type)) fail(`${param}.type`, `type must be one of: ${[...allowed].join(', ')}`);
  switch (type) {
    case 'input_text':
    case 'output_text':
      checkString(part.text, `${param}.text`);
      break;
    case 'refusal':
      checkString(part.refusal, `${param}.refusal`);
      break;
    case 'input_image':
      checkOptionalString(part.image_url, `${param}.image_url`);
      checkOptionalString(part.file_id, `${param}.file_id`);
      if (!present(part.image_url) && !present(part.file_id)) {
        fail(`${param}.image_url`, 'an input_image needs image_url or file_id');
      }
      checkOptionalEnum(part.detail, `${param}.detail`, IMAGE_DETAILS);
      break;
    case 'input_file':
      checkOptionalString(part.file_id, `${param}.file_id`);
      checkOptionalString(part.file_data, `${param}.file_data`);
      checkOptionalString(part.file_url, `${param}.file_url`);
      checkOptionalString(part.filename, `${param}.filename`);
      if (!present(part.file_id) && !present(part.file_data) && !present(part.file_url)) {
        fail(`${param}.file_data`, 'an input_file needs file_id, file_data or file_url');
      }
      checkOptionalEnum(part.detail, `${param}.detail`, FILE_DETAILS);
      break;
  }
  checkCacheBreakpoint(part.prompt_cache_breakpoint, `${param}.prompt_cache_breakpoint`);
}

function checkParts(value: unknown, param: string, allowed: ReadonlySet<unknown>): void {
  if (!Array.isArray(value)) fail(param, `${param} must be a string or an array of content parts`);
  for (let j = 0; j < value.length; j++) checkPart(value[j], `${param}[${j}]`, allowed);
}

function checkMessage(item: Record<string, unknown>, param: string): void {
  if (!ROLES.has(item.role)) fail(`${param}.role`, `role must be one of: ${[...ROLES].join(', ')}`);
  if (typeof item.content === 'string') return;
  checkParts(item.content, `${param}.content`, item.role === 'assistant' ? ASSISTANT_PARTS : INPUT_PARTS);
}

function checkToolOutput(value: unknown, param: string): void {
  if (typeof value === 'string') return;
  checkParts(value, param, INPUT_PARTS);
}

function checkReasoning(item: Record<string, unknown>, param: string): void {
  const summary = item.summary;
  if (!Array.isArray(summary)) fail(`${param}.summary`, `${param}.summary must be an array`);
  for (let j = 0; j < summary.length; j++) {
    const part: unknown = summary[j];
    checkObject(part, `${param}.summary[${j}]`);
    if (part.type !== 'summary_text') fail(`${param}.summary[${j}].type`, "type must be 'summary_text'");
    checkString(part.text, `${param}.summary[${j}].text`);
  }
  checkOptionalString(item.encrypted_content, `${param}.encrypted_content`);
  if (!present(item.content)) return;
  if (!Array.isArray(item.content)) fail(`${param}.content`, `${param}.content must be an array`);
  for (let j = 0; j < item.content.length; j++) {
    const part: unknown = item.content[j];
    checkObject(part, `${param}.content[${j}]`);
    checkString(part.text, `${param}.content[${j}].text`);
  }
}

function checkItem(item: unknown, param: string): void {
  checkObject(item, param);
  const type = item.type ?? (present(item.role) ? 'message' : present(item.id) ? 'item_reference' : undefined);
  if (!ITEM_TYPES.has(type)) fail(`${param}.type`, `type must be one of: ${[...ITEM_TYPES].join(', ')}`);
  switch (type) {
    case 'message':
      checkMessage(item, param);
      break;
    case 'function_call':
      checkNonEmptyString(item.call_id, `${param}.call_id`);
      checkString(item.name, `${param}.name`);
      checkString(item.arguments, `${param}.arguments`);
      checkOptionalString(item.namespace, `${param}.namespace`);
      break;
    case 'custom_tool_call':
      checkNonEmptyString(item.call_id, `${param}.call_id`);
      checkString(item.name, `${param}.name`);
      checkString(item.input, `${param}.input`);
      checkOptionalString(item.namespace, `${param}.namespace`);
      break;
    case 'function_call_output':
    case 'custom_tool_call_output':
      checkNonEmptyString(item.call_id, `${param}.call_id`);
      checkToolOutput(item.output, `${param}.output`);
      break;
    case 'reasoning':
      checkReasoning(item, param);
      break;
    case 'item_reference':
      checkString(item.id, `${param}.id`);
      break;
  }
}

function checkInput(value: unknown): void {
  if (!present(value) || typeof value === 'string') return;
  if (!Array.isArray(value)) fail('input', 'input must be a string or an array of input items');
  for (let i = 0; i < value.length; i++) checkItem(value[i], `input[${i}]`);
}

function checkFunctionTool(tool: Record<string, unknown>, param: string): void {
  if (typeof tool.name !== 'string' || !FUNCTION_NAME.test(tool.name)) {
    fail(`${param}.name`, 'function name must be 1-128 letters, digits, _ or -');
  }
  checkOptionalString(tool.description, `${param}.description`);
  if (present(tool.parameters)) checkObject(tool.parameters, `${param}.parameters`);
  checkOptionalBoolean(tool.strict, `${param}.strict`);
}

function checkCustomTool(tool: Record<string, unknown>, param: string): void {
  checkNonEmptyString(tool.name, `${param}.name`);
  checkOptionalString(tool.description, `${param}.description`);
  const format = tool.format;
  if (!present(format)) return;
  checkObject(format, `${param}.format`);
  if (format.type === 'text') return;
  if (format.type !== 'grammar') fail(`${param}.format.type`, "type must be 'text' or 'grammar'");
  if (format.syntax !== 'lark' && format.syntax !== 'regex') {
    fail(`${param}.format.syntax`, "syntax must be 'lark' or 'regex'");
  }
  checkString(format.definition, `${param}.format.definition`);
}

function checkTool(tool: unknown, param: string, inNamespace: boolean): void {
  checkObject(tool, param);
  const type = tool.type;
  if (inNamespace ? type !== 'function' && type !== 'custom' : typeof type !== 'string' || !TOOL_TYPES.has(type)) {
    fail(`${param}.type`, `type must be one of: ${inNamespace ? 'function, custom' : [...TOOL_TYPES].join(', ')}`);
  }
  if (type === 'function') checkFunctionTool(tool, param);
  else if (type === 'custom') checkCustomTool(tool, param);
  else if (type === 'namespace') {
    checkNonEmptyString(tool.name, `${param}.name`);
    checkString(tool.description, `${param}.description`);
    const inner = tool.tools;
    if (!Array.isArray(inner) || inner.length === 0) fail(`${param}.tools`, 'tools must be a non-empty array');
    for (let j = 0; j < inner.length; j++) checkTool(inner[j], `${param}.tools[${j}]`, true);
  }
}

function checkTools(value: unknown): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail('tools', 'tools must be an array');
  for (let i = 0; i < value.length; i++) checkTool(value[i], `tools[${i}]`, false);
}

function checkToolChoice(value: unknown): void {
  if (!present(value) || value === 'none' || value === 'auto' || value === 'required') return;
  if (isObject(value)) {
    const type = value.type;
    if ((type === 'function' || type === 'custom') && typeof value.name === 'string') return;
    if (type === 'mcp' && typeof value.server_label === 'string') return;
    if (BUILTIN_TOOL_CHOICES.has(type)) return;
    if (type === 'allowed_tools') {
      checkOptionalEnum(value.mode, 'tool_choice.mode', new Set(['auto', 'required']));
      if (!Array.isArray(value.tools) || !value.tools.every(isObject)) {
        fail('tool_choice.tools', 'tools must be an array of tool references');
      }
      return;
    }
  }
  fail('tool_choice', "tool_choice must be 'none', 'auto', 'required' or a tool choice object");
}

function checkText(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'text');
  checkOptionalEnum(value.verbosity, 'text.verbosity', VERBOSITIES);
  const format = value.format;
  if (!present(format)) return;
  checkObject(format, 'text.format');
  if (!FORMAT_TYPES.has(format.type)) {
    fail('text.format.type', `type must be one of: ${[...FORMAT_TYPES].join(', ')}`);
  }
  if (format.type !== 'json_schema') return;
  if (typeof format.name !== 'string' || !SCHEMA_NAME.test(format.name)) {
    fail('text.format.name', 'name must be 1-64 letters, digits, _ or -');
  }
  checkObject(format.schema, 'text.format.schema');
  checkOptionalString(format.description, 'text.format.description');
  checkOptionalBoolean(format.strict, 'text.format.strict');
}

function checkReasoningConfig(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'reasoning');
  checkOptionalEnum(value.effort, 'reasoning.effort', EFFORTS);
  checkOptionalEnum(value.summary, 'reasoning.summary', SUMMARIES);
  checkOptionalEnum(value.generate_summary, 'reasoning.generate_summary', SUMMARIES);
}

function checkMetadata(value: unknown): void {
  if (!present(value)) return;
  checkObject(value, 'metadata');
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_PAIRS) fail('metadata', `metadata must have at most ${MAX_METADATA_PAIRS} pairs`);
  for (const [key, entry] of entries) {
    if (key.length > MAX_METADATA_KEY) fail('metadata', `metadata keys must be at most ${MAX_METADATA_KEY} characters`);
    if (typeof entry !== 'string') fail(`metadata.${key}`, 'metadata values must be strings');
    if (entry.length > MAX_METADATA_VALUE) {
      fail(`metadata.${key}`, `metadata values must be at most ${MAX_METADATA_VALUE} characters`);
    }
  }
}

function checkInclude(value: unknown): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail('include', 'include must be an array');
  for (let i = 0; i < value.length; i++) {
    if (!INCLUDABLE.has(value[i]))
      fail(`include[${i}]`, `include values must be one of: ${[...INCLUDABLE].join(', ')}`);
  }
}

function checkConversation(value: unknown, previousResponseId: unknown): void {
  if (!present(value)) return;
  if (present(previousResponseId)) fail('conversation', 'conversation cannot be used with previous_response_id');
  if (typeof value === 'string') return;
  checkObject(value, 'conversation');
  checkString(value.id, 'conversation.id');
}

function checkBody(body: Record<string, unknown>): void {
  checkNonEmptyString(body.model, 'model');
  checkInput(body.input);
  checkOptionalString(body.instructions, 'instructions');
  checkTools(body.tools);
  checkToolChoice(body.tool_choice);
  checkOptionalBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  checkOptionalInteger(body.max_output_tokens, 'max_output_tokens', MIN_OUTPUT_TOKENS);
  checkOptionalInteger(body.max_tool_calls, 'max_tool_calls', 1);
  checkOptionalNumber(body.temperature, 'temperature', 0, 2);
  checkOptionalNumber(body.top_p, 'top_p', 0, 1);
  checkOptionalInteger(body.top_logprobs, 'top_logprobs', 0, 20);
  checkText(body.text);
  checkReasoningConfig(body.reasoning);
  checkOptionalString(body.user, 'user');
  checkOptionalString(body.safety_identifier, 'safety_identifier', MAX_SAFETY_IDENTIFIER);
  checkOptionalString(body.prompt_cache_key, 'prompt_cache_key');
  checkOptionalEnum(body.prompt_cache_retention, 'prompt_cache_retention', CACHE_RETENTIONS);
  checkMetadata(body.metadata);
  checkOptionalBoolean(body.stream, 'stream');
  if (present(body.stream_options)) {
    if (body.stream !== true) fail('stream_options', "stream_options is only allowed when 'stream' is true");
    checkObject(body.stream_options, 'stream_options');
    checkOptionalBoolean(body.stream_options.include_obfuscation, 'stream_options.include_obfuscation');
  }
  checkOptionalBoolean(body.store, 'store');
  checkInclude(body.include);
  checkOptionalEnum(body.truncation, 'truncation', TRUNCATIONS);
  checkOptionalString(body.previous_response_id, 'previous_response_id');
  checkOptionalBoolean(body.background, 'background');
  checkOptionalEnum(body.service_tier, 'service_tier', SERVICE_TIERS);
  checkConversation(body.conversation, body.previous_response_id);
  if (present(body.prompt)) {
    checkObject(body.prompt, 'prompt');
    checkString(body.prompt.id, 'prompt.id');
  }
}

/** Returns the body as a Responses request, or throws the 400 the client should see. */
export function validateResponsesRequest(body: unknown): ResponsesRequest {
  if (!isObject(body)) {
    throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json');
  }
  try {
    checkBody(body);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    throw new InvalidRequestError(`Invalid value for '${error.param}': ${error.problem}`, error.param, 'invalid_value');
  }
  return body as unknown as ResponsesRequest;
}
