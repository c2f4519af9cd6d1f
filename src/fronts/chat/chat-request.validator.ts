/**
 * Validation of `POST /v1/chat/completions` bodies with OpenAI's types and ranges, as one pass of plain checks.
 * Only known fields are checked; unknown fields stay in the body and are forwarded to OpenAI-compatible upstreams.
 * The first problem becomes a 400 `invalid_value` whose `param` names the field as OpenAI does
 * (`messages[1].tool_call_id`).
 *
 * This is the hottest validation in the gateway, so it does not use class-validator: its metadata lookups and
 * class-transformer copy cost ~11 % of the gateway's CPU per request (see the README's performance section); this
 * pass costs about 1 %. The other bodies (embeddings) and the config file keep their class-validator DTOs.
 */
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionRequest } from '../../common/openai.types.js';
import { messageContentProblem } from '../../common/validation/openai-validators.js';

export const MESSAGE_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
const ROLES: ReadonlySet<unknown> = new Set(MESSAGE_ROLES);
const ROLE_PROBLEM = `role must be one of: ${MESSAGE_ROLES.join(', ')}`;
const TOOL_TYPES: ReadonlySet<unknown> = new Set(['function', 'custom']);
const RESPONSE_FORMAT_TYPES: ReadonlySet<unknown> = new Set(['text', 'json_object', 'json_schema']);
const FUNCTION_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TOOLS = 128;

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

function checkString(value: unknown, param: string): void {
  if (typeof value !== 'string') fail(param, `${param} must be a string`);
}

function checkOptionalString(value: unknown, param: string): void {
  if (present(value)) checkString(value, param);
}

function checkOptionalBoolean(value: unknown, param: string): void {
  if (present(value) && typeof value !== 'boolean') fail(param, `${param} must be a boolean value`);
}

function checkOptionalObject(value: unknown, param: string): void {
  if (present(value) && !isObject(value)) fail(param, `${param} must be an object`);
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
  if (!Number.isInteger(value)) fail(param, `${param} must be an integer number`);
  if (!Number.isSafeInteger(value)) fail(param, `${param} must be between -(2^53-1) and 2^53-1`);
  if ((value as number) < min) fail(param, `${param} must not be less than ${min}`);
  if ((value as number) > max) fail(param, `${param} must not be greater than ${max}`);
}

function checkNested(value: unknown, param: string): asserts value is Record<string, unknown> {
  if (!isObject(value)) fail(param, `nested property ${param} must be an object`);
}

function checkFunctionName(value: unknown, param: string, problem: string): void {
  if (typeof value !== 'string' || !FUNCTION_NAME.test(value)) fail(param, problem);
}

function checkToolCalls(value: unknown, param: string): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail(param, `${param} must be an array`);
  for (let i = 0; i < value.length; i++) {
    const at = `${param}[${i}]`;
    const call: unknown = value[i];
    checkNested(call, at);
    if (typeof call.id !== 'string' || call.id === '') fail(`${at}.id`, 'id must be a non-empty string');
    if (call.type !== 'function') fail(`${at}.type`, "type must be 'function'");
    const fn = call.function;
    checkNested(fn, `${at}.function`);
    checkString(fn.name, `${at}.function.name`);
    checkString(fn.arguments, `${at}.function.arguments`);
  }
}

function checkMessage(message: unknown, param: string): void {
  checkNested(message, param);
  const role = message.role;
  if (!ROLES.has(role)) fail(`${param}.role`, ROLE_PROBLEM);
  const contentProblem = messageContentProblem(message.content, role);
  if (contentProblem !== undefined) fail(`${param}.content`, contentProblem);
  checkOptionalString(message.name, `${param}.name`);
  if (role === 'tool') {
    if (typeof message.tool_call_id !== 'string')
      fail(`${param}.tool_call_id`, 'tool_call_id is required for tool messages');
  } else if (present(message.tool_call_id)) {
    fail(`${param}.tool_call_id`, 'tool_call_id is only allowed on tool messages');
  }
  if (role !== 'assistant') {
    if (present(message.tool_calls)) fail(`${param}.tool_calls`, 'tool_calls are only allowed on assistant messages');
    if (present(message.function_call)) {
      fail(`${param}.function_call`, 'function_call is only allowed on assistant messages');
    }
  }
  checkToolCalls(message.tool_calls, `${param}.tool_calls`);
  checkOptionalString(message.refusal, `${param}.refusal`);
}

function checkStop(value: unknown): void {
  if (!present(value) || typeof value === 'string') return;
  if (Array.isArray(value) && value.length <= 4 && value.every((s) => typeof s === 'string')) return;
  fail('stop', 'stop must be a string or an array of at most 4 strings');
}

function checkToolChoice(value: unknown): void {
  if (!present(value) || value === 'none' || value === 'auto' || value === 'required') return;
  if (isObject(value)) {
    const fn = value.function;
    if (value.type === 'function' && isObject(fn) && typeof fn.name === 'string') return;
    if (value.type === 'allowed_tools' && isObject(value.allowed_tools)) return;
  }
  fail('tool_choice', "tool_choice must be 'none', 'auto', 'required' or {type: 'function', function: {name}}");
}

function checkTools(value: unknown): void {
  if (!present(value)) return;
  if (!Array.isArray(value)) fail('tools', 'tools must be an array');
  if (value.length > MAX_TOOLS) fail('tools', `tools must contain no more than ${MAX_TOOLS} elements`);
  for (let i = 0; i < value.length; i++) {
    const at = `tools[${i}]`;
    const tool: unknown = value[i];
    checkNested(tool, at);
    if (!TOOL_TYPES.has(tool.type)) fail(`${at}.type`, 'type must be one of the following values: function, custom');
    if (tool.type !== 'function') continue;
    const fn = tool.function;
    checkNested(fn, `${at}.function`);
    checkFunctionName(fn.name, `${at}.function.name`, 'function name must be 1-64 letters, digits, _ or -');
    checkOptionalString(fn.description, `${at}.function.description`);
    checkOptionalObject(fn.parameters, `${at}.function.parameters`);
    checkOptionalBoolean(fn.strict, `${at}.function.strict`);
  }
}

function checkResponseFormat(value: unknown): void {
  if (!present(value)) return;
  checkNested(value, 'response_format');
  if (!RESPONSE_FORMAT_TYPES.has(value.type)) {
    fail('response_format.type', 'type must be one of the following values: text, json_object, json_schema');
  }
  if (value.type !== 'json_schema') return;
  const schema = value.json_schema;
  checkNested(schema, 'response_format.json_schema');
  checkFunctionName(
    schema.name,
    'response_format.json_schema.name',
    'json_schema.name must be 1-64 letters, digits, _ or -',
  );
  checkOptionalString(schema.description, 'response_format.json_schema.description');
  checkOptionalObject(schema.schema, 'response_format.json_schema.schema');
  checkOptionalBoolean(schema.strict, 'response_format.json_schema.strict');
}

function checkStreamOptions(value: unknown, stream: unknown): void {
  if (!present(value)) return;
  if (stream !== true) fail('stream_options', "stream_options is only allowed when 'stream' is true");
  checkNested(value, 'stream_options');
  checkOptionalBoolean(value.include_usage, 'stream_options.include_usage');
  checkOptionalBoolean(value.include_obfuscation, 'stream_options.include_obfuscation');
}

function checkBody(body: Record<string, unknown>): void {
  const model = body.model;
  if (typeof model !== 'string') fail('model', 'model must be a string');
  if (model === '') fail('model', 'model should not be empty');
  const messages = body.messages;
  if (!Array.isArray(messages)) fail('messages', 'messages must be an array');
  if (messages.length === 0) fail('messages', 'messages must contain at least one message');
  for (let i = 0; i < messages.length; i++) checkMessage(messages[i], `messages[${i}]`);
  checkOptionalNumber(body.temperature, 'temperature', 0, 2);
  checkOptionalNumber(body.top_p, 'top_p', 0, 1);
  checkOptionalInteger(body.n, 'n', 1, 128);
  checkStop(body.stop);
  checkOptionalInteger(body.max_tokens, 'max_tokens', 1);
  checkOptionalInteger(body.max_completion_tokens, 'max_completion_tokens', 1);
  checkOptionalBoolean(body.stream, 'stream');
  checkStreamOptions(body.stream_options, body.stream);
  checkResponseFormat(body.response_format);
  checkOptionalInteger(body.seed, 'seed', -Number.MAX_SAFE_INTEGER);
  checkOptionalString(body.user, 'user');
  checkTools(body.tools);
  checkToolChoice(body.tool_choice);
  checkOptionalBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  checkOptionalNumber(body.frequency_penalty, 'frequency_penalty', -2, 2);
  checkOptionalNumber(body.presence_penalty, 'presence_penalty', -2, 2);
  checkOptionalBoolean(body.logprobs, 'logprobs');
  checkOptionalInteger(body.top_logprobs, 'top_logprobs', 0, 20);
  checkOptionalObject(body.logit_bias, 'logit_bias');
}

/** Returns the body as a chat request, or throws the 400 the client should see. */
export function validateChatRequest(body: unknown): ChatCompletionRequest {
  if (!isObject(body)) {
    throw new InvalidRequestError('The request body must be a JSON object.', null, 'invalid_json');
  }
  try {
    checkBody(body);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    throw new InvalidRequestError(`Invalid value for '${error.param}': ${error.problem}`, error.param, 'invalid_value');
  }
  return body as unknown as ChatCompletionRequest;
}
