import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { Cancellation } from '../../src/common/cancellation.js';
import { GatewayError } from '../../src/common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../src/common/openai.types.js';
import type { LlmProvider, ProviderCallContext } from '../../src/providers/llm-provider.js';
import { buildProvider } from '../support/providers.js';
import { AnthropicSimulator } from './anthropic-simulator.js';
import { arrayAt, at, isObject, type Json, jsonOf, numberAt, objectAt } from './sim-json.js';

const MODEL = 'claude-sim-1';
const TOOLS: ChatCompletionRequest['tools'] = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];

function context(cancellation = new Cancellation()): ProviderCallContext {
  return { cancellation, requestId: 'req-test' };
}

async function drain(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ chunks: ChatCompletionChunk[]; error?: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks };
}

describe('AnthropicSimulator with AnthropicProvider', () => {
  const sim = new AnthropicSimulator();
  let baseUrl = '';
  let provider: LlmProvider;

  const providerFor = (apiKey: string, options = {}) =>
    buildProvider({
      name: 'anthropic',
      type: 'anthropic',
      baseUrl,
      apiKey,
      options,
      // Fast retries: the defaults wait up to seconds between attempts.
      retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5 },
    });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${baseUrl}/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': sim.apiKey,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
        ...headers,
      },
      body: JSON.stringify(body),
    });

  before(async () => {
    baseUrl = await sim.start();
    provider = await providerFor(sim.apiKey);
  });
  after(async () => {
    provider.close?.();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('answers a chat completion and receives the headers and body Anthropic expects', async () => {
    const completion = await provider.chat(
      {
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi there' },
        ],
        temperature: 1.5,
      },
      context(),
    );
    assert.equal(completion.choices[0].message.content, `Hello from ${MODEL}: Hi there`);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.match(completion.id, /^chatcmpl-msg_sim_\d+$/);
    assert.equal(completion.model, MODEL);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 7,
      completion_tokens: 5,
      total_tokens: 12,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
    const [recorded] = sim.requests;
    assert.equal(recorded.path, '/v1/messages');
    assert.equal(recorded.headers['x-api-key'], sim.apiKey);
    assert.equal(recorded.headers['anthropic-version'], '2023-06-01');
    assert.match(String(recorded.headers['content-type']), /^application\/json/);
    assert.deepEqual(recorded.body, {
      model: MODEL,
      max_tokens: 4096,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Hi there' }],
      temperature: 1,
    });
  });

  it('sends the configured anthropic-version and default max_tokens', async () => {
    const custom = await providerFor(sim.apiKey, { version: '2024-01-01', defaultMaxTokens: 3 });
    try {
      const completion = await custom.chat(
        { model: MODEL, messages: [{ role: 'user', content: 'one two three' }] },
        context(),
      );
      assert.equal(sim.requests[0].headers['anthropic-version'], '2024-01-01');
      assert.equal((sim.requests[0].body as { max_tokens: number }).max_tokens, 3);
      assert.equal(completion.choices[0].message.content, `Hello from ${MODEL}:`);
      assert.equal(completion.choices[0].finish_reason, 'length');
    } finally {
      custom.close?.();
    }
  });

  it('streams text in several deltas, then the finish and usage chunks', async () => {
    const stream = await provider.chatStream(
      {
        model: MODEL,
        messages: [{ role: 'user', content: 'Tell me a story' }],
        stream: true,
        stream_options: { include_usage: true },
      },
      context(),
    );
    const { chunks, error } = await drain(stream);
    assert.equal(error, undefined);
    assert.equal((sim.requests[0].body as { stream: boolean }).stream, true);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const contentChunks = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
    assert.ok(contentChunks.length >= 3);
    assert.equal(
      contentChunks.map((chunk) => chunk.choices[0].delta.content).join(''),
      `Hello from ${MODEL}: Tell me a story`,
    );
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(chunks.at(-1)!.usage, {
      prompt_tokens: 7,
      completion_tokens: 7,
      total_tokens: 14,
      prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 0 },
    });
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
  });

  it('round-trips a tool call, streamed and not', async () => {
    const question: ChatMessage = { role: 'user', content: 'Weather in Paris?' };
    const call = await provider.chat({ model: MODEL, messages: [question], tools: TOOLS }, context());
    const message = call.choices[0].message;
    assert.equal(call.choices[0].finish_reason, 'tool_calls');
    assert.equal(message.content, null);
    assert.equal(message.tool_calls?.length, 1);
    const toolCall = message.tool_calls[0];
    assert.equal(toolCall.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(toolCall.function.arguments), { city: 'Paris' });

    const stream = await provider.chatStream(
      { model: MODEL, messages: [question], tools: TOOLS, stream: true },
      context(),
    );
    const { chunks } = await drain(stream);
    const deltas = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    assert.ok(deltas.length >= 4, 'the call start and at least three argument fragments');
    assert.ok(deltas.every((delta) => delta.index === 0));
    assert.equal(deltas[0].function?.name, 'get_weather');
    assert.ok(deltas[0].id);
    assert.equal(deltas.map((delta) => delta.function?.arguments ?? '').join(''), '{"city":"Paris"}');
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');

    const answer = await provider.chat(
      {
        model: MODEL,
        messages: [
          question,
          { role: 'assistant', content: null, tool_calls: [toolCall] },
          { role: 'tool', tool_call_id: toolCall.id, content: '22°C' },
        ],
        tools: TOOLS,
      },
      context(),
    );
    assert.equal(answer.choices[0].message.content, 'Tool said: 22°C');
    assert.equal(answer.choices[0].finish_reason, 'stop');
  });

  it('retries 529 and then reports it as a 503 overloaded GatewayError', async () => {
    sim.enqueueFault({ status: 529, times: 3 });
    await assert.rejects(
      () => provider.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, context()),
      (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.status, 503);
        assert.equal(error.code, 'overloaded');
        assert.equal(error.message, 'anthropic: Overloaded');
        assert.equal(error.retryable, true);
        return true;
      },
    );
    assert.equal(sim.received, 3);

    sim.enqueueFault({ status: 529 });
    const completion = await provider.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, context());
    assert.equal(completion.choices[0].message.content, `Hello from ${MODEL}: Hi`);
  });

  it('reports a 429 with its retry-after and a rejected key as a 502', async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 30 });
    await assert.rejects(
      () => provider.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, context()),
      (error: unknown) => error instanceof GatewayError && error.status === 429 && error.retryAfterMs === 30_000,
    );
    const wrongKey = await providerFor('sk-ant-wrong');
    try {
      await assert.rejects(
        () => wrongKey.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, context()),
        (error: unknown) =>
          error instanceof GatewayError && error.status === 502 && error.code === 'upstream_auth_error',
      );
    } finally {
      wrongKey.close?.();
    }
  });

  it('throws from the stream on a mid-stream error event and on a dropped connection', async () => {
    const request: ChatCompletionRequest = {
      model: MODEL,
      messages: [{ role: 'user', content: 'a b c d e f' }],
      stream: true,
    };
    sim.enqueueFault({ midStreamError: true });
    const failed = await drain(await provider.chatStream(request, context()));
    assert.ok(failed.error instanceof GatewayError);
    assert.equal(failed.error.code, 'overloaded');
    assert.equal(failed.chunks.filter((chunk) => chunk.choices[0]?.delta.content).length, 2);

    sim.enqueueFault({ dropAfterEvents: 4 });
    const dropped = await drain(await provider.chatStream(request, context()));
    assert.ok(dropped.error instanceof GatewayError);
    assert.equal(dropped.error.code, 'upstream_stream_interrupted');
    assert.ok(dropped.chunks.every((chunk) => chunk.choices[0]?.finish_reason === null));
    assert.equal(sim.hungUp, 0);
  });

  it('counts a client that hangs up mid-stream', async () => {
    sim.eventDelayMs = 20;
    try {
      const controller = new AbortController();
      const stream = await provider.chatStream(
        { model: MODEL, messages: [{ role: 'user', content: 'a long story' }], stream: true },
        context(Cancellation.following(controller.signal)),
      );
      const { error } = await drain(
        (async function* () {
          for await (const chunk of stream) {
            controller.abort();
            yield chunk;
          }
        })(),
      );
      assert.ok(error instanceof GatewayError);
      for (let i = 0; i < 50 && sim.hungUp === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(sim.hungUp, 1);
      assert.equal(sim.requests[0].hungUp, true);
    } finally {
      sim.eventDelayMs = 0;
    }
  });

  it('rejects what the real API rejects, in Anthropic error shape', async () => {
    const valid = { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] };
    const cases: Array<{
      body: unknown;
      headers?: Record<string, string>;
      status: number;
      type: string;
      message: RegExp;
    }> = [
      {
        body: valid,
        headers: { 'x-api-key': 'nope' },
        status: 401,
        type: 'authentication_error',
        message: /invalid x-api-key/,
      },
      {
        body: valid,
        headers: { 'anthropic-version': '' },
        status: 400,
        type: 'invalid_request_error',
        message: /anthropic-version/,
      },
      {
        body: { ...valid, max_tokens: undefined },
        status: 400,
        type: 'invalid_request_error',
        message: /^max_tokens: Field required$/,
      },
      {
        body: { ...valid, messages: [{ role: 'assistant', content: 'Hi' }] },
        status: 400,
        type: 'invalid_request_error',
        message: /first message must use the "user" role/,
      },
      {
        body: {
          ...valid,
          messages: [
            { role: 'user', content: 'a' },
            { role: 'user', content: 'b' },
          ],
        },
        status: 400,
        type: 'invalid_request_error',
        message: /roles must alternate/,
      },
      {
        body: {
          ...valid,
          messages: [
            { role: 'user', content: 'a' },
            { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }] },
            { role: 'user', content: 'b' },
          ],
        },
        status: 400,
        type: 'invalid_request_error',
        message: /`tool_use` ids were found without `tool_result` blocks/,
      },
    ];
    for (const { body, headers, status, type, message } of cases) {
      const response = await post(body, headers);
      assert.equal(response.status, status, JSON.stringify(body));
      const error = (await response.json()) as {
        type: string;
        error: { type: string; message: string };
        request_id: string;
      };
      assert.equal(error.type, 'error');
      assert.equal(error.error.type, type);
      assert.match(error.error.message, message);
      assert.match(response.headers.get('request-id') ?? '', /^req_sim_/);
    }
  });

  it('streams the exact Anthropic event sequence with a ping and split input_json', async () => {
    const response = await post({
      model: MODEL,
      max_tokens: 100,
      stream: true,
      tools: [{ name: 'get_weather', input_schema: { type: 'object' } }],
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    const text = await response.text();
    const events = text
      .trim()
      .split('\n\n')
      .map((block) => {
        const [eventLine, dataLine] = block.split('\n');
        const data = JSON.parse(dataLine.slice('data: '.length)) as { type: string };
        assert.equal(eventLine, `event: ${data.type}`);
        return data.type;
      });
    assert.deepEqual(events, [
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The wire format itself, checked with the official client and the types of the installed @anthropic-ai/sdk.

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = Exclude<keyof T, RequiredKeys<T>>;
type Complete<All, Listed> = [Exclude<All, Listed>] extends [never] ? unknown : never;

interface Shape {
  name: string;
  required: readonly string[];
  optional: readonly string[];
}

/**
 * The keys an SDK type declares, listed by hand but checked by the compiler: leaving out a key of `T` (or naming
 * one it does not have) fails the build, so a runtime check against the shape is a check against the SDK type.
 */
function shapeOf<T>(name: string) {
  return <const R extends readonly RequiredKeys<T>[], const O extends readonly OptionalKeys<T>[] = []>(
    required: R & Complete<RequiredKeys<T>, R[number]>,
    optional?: O & Complete<OptionalKeys<T>, O[number]>,
  ): Shape => ({ name, required: required as readonly string[], optional: (optional ?? []) as readonly string[] });
}

const MESSAGE = shapeOf<Anthropic.Message>('Message')([
  'id',
  'container',
  'content',
  'diagnostics',
  'model',
  'role',
  'stop_details',
  'stop_reason',
  'stop_sequence',
  'type',
  'usage',
]);
const USAGE = shapeOf<Anthropic.Usage>('Usage')([
  'cache_creation',
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'inference_geo',
  'input_tokens',
  'output_tokens',
  'output_tokens_details',
  'server_tool_use',
  'service_tier',
  'speed',
]);
const CACHE_CREATION = shapeOf<Anthropic.CacheCreation>('CacheCreation')([
  'ephemeral_1h_input_tokens',
  'ephemeral_5m_input_tokens',
]);
const OUTPUT_TOKENS_DETAILS = shapeOf<Anthropic.OutputTokensDetails>('OutputTokensDetails')(['thinking_tokens']);
const BLOCKS: Record<string, Shape> = {
  text: shapeOf<Anthropic.TextBlock>('TextBlock')(['citations', 'text', 'type']),
  thinking: shapeOf<Anthropic.ThinkingBlock>('ThinkingBlock')(['signature', 'thinking', 'type']),
  redacted_thinking: shapeOf<Anthropic.RedactedThinkingBlock>('RedactedThinkingBlock')(['data', 'type']),
  tool_use: shapeOf<Anthropic.ToolUseBlock>('ToolUseBlock')(
    ['id', 'caller', 'input', 'name', 'type'],
    ['toolset_name'],
  ),
};
const DELTAS: Record<string, Shape> = {
  text_delta: shapeOf<Anthropic.TextDelta>('TextDelta')(['text', 'type']),
  input_json_delta: shapeOf<Anthropic.InputJSONDelta>('InputJSONDelta')(['partial_json', 'type']),
  thinking_delta: shapeOf<Anthropic.ThinkingDelta>('ThinkingDelta')(['thinking', 'type']),
  signature_delta: shapeOf<Anthropic.SignatureDelta>('SignatureDelta')(['signature', 'type']),
};
const EVENTS: Record<string, Shape> = {
  message_start: shapeOf<Anthropic.RawMessageStartEvent>('RawMessageStartEvent')(['message', 'type']),
  content_block_start: shapeOf<Anthropic.RawContentBlockStartEvent>('RawContentBlockStartEvent')([
    'content_block',
    'index',
    'type',
  ]),
  content_block_delta: shapeOf<Anthropic.RawContentBlockDeltaEvent>('RawContentBlockDeltaEvent')([
    'delta',
    'index',
    'type',
  ]),
  content_block_stop: shapeOf<Anthropic.RawContentBlockStopEvent>('RawContentBlockStopEvent')(['index', 'type']),
  message_delta: shapeOf<Anthropic.RawMessageDeltaEvent>('RawMessageDeltaEvent')(['delta', 'type', 'usage']),
  message_stop: shapeOf<Anthropic.RawMessageStopEvent>('RawMessageStopEvent')(['type']),
};
const MESSAGE_DELTA = shapeOf<Anthropic.RawMessageDeltaEvent.Delta>('RawMessageDeltaEvent.Delta')([
  'container',
  'stop_details',
  'stop_reason',
  'stop_sequence',
]);
const MESSAGE_DELTA_USAGE = shapeOf<Anthropic.MessageDeltaUsage>('MessageDeltaUsage')([
  'cache_creation_input_tokens',
  'cache_read_input_tokens',
  'input_tokens',
  'output_tokens',
  'output_tokens_details',
  'server_tool_use',
]);
const MODEL_INFO = shapeOf<Anthropic.ModelInfo>('ModelInfo')([
  'id',
  'capabilities',
  'created_at',
  'deprecated_at',
  'display_name',
  'lifecycle',
  'line',
  'max_input_tokens',
  'max_tokens',
  'retires_at',
  'type',
]);
/** `ping` and `error` are documented stream events that the SDK's RawMessageStreamEvent union leaves out. */
const PING_EVENT: Shape = { name: 'ping event', required: ['type'], optional: [] };
const ERROR_EVENT: Shape = { name: 'error event', required: ['type', 'error'], optional: [] };
const TOKENS_COUNT = shapeOf<Anthropic.MessageTokensCount>('MessageTokensCount')(['input_tokens']);

function assertShape(value: unknown, shape: Shape): Json {
  assert.ok(isObject(value), `${shape.name} is an object`);
  for (const key of shape.required) assert.ok(key in value, `${shape.name} has ${key}`);
  for (const key of Object.keys(value)) {
    assert.ok(shape.required.includes(key) || shape.optional.includes(key), `${shape.name} declares ${key}`);
  }
  return value;
}

function assertBlock(block: unknown): void {
  const type = isObject(block) ? String(block.type) : '';
  assert.ok(BLOCKS[type], `known block type ${type}`);
  assertShape(block, BLOCKS[type]);
}

function assertUsage(usage: unknown): void {
  const checked = assertShape(usage, USAGE);
  assertShape(checked.cache_creation, CACHE_CREATION);
  if (checked.output_tokens_details !== null) assertShape(checked.output_tokens_details, OUTPUT_TOKENS_DETAILS);
  for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']) {
    assert.equal(typeof checked[key], 'number', `usage.${key}`);
  }
}

function assertMessage(message: unknown): void {
  const checked = assertShape(message, MESSAGE);
  assert.equal(checked.type, 'message');
  assert.equal(checked.role, 'assistant');
  arrayAt(checked, 'content').forEach(assertBlock);
  assertUsage(checked.usage);
}

/** Checks one streamed event against the SDK type of its kind. */
function assertEvent(event: unknown): void {
  assert.ok(isObject(event));
  if (event.type === 'ping' || event.type === 'error') {
    assertShape(event, event.type === 'ping' ? PING_EVENT : ERROR_EVENT);
    return;
  }
  const shape = EVENTS[String(event.type)];
  assert.ok(shape, `known event type ${String(event.type)}`);
  assertShape(event, shape);
  if (event.type === 'message_start') {
    assertShape(event.message, MESSAGE);
    assertUsage(at(event, 'message', 'usage'));
  }
  if (event.type === 'content_block_start') assertBlock(event.content_block);
  if (event.type === 'content_block_delta') {
    const delta = objectAt(event, 'delta');
    assert.ok(DELTAS[String(delta.type)], `known delta type ${String(delta.type)}`);
    assertShape(delta, DELTAS[String(delta.type)]);
  }
  if (event.type === 'message_delta') {
    assertShape(event.delta, MESSAGE_DELTA);
    assertShape(event.usage, MESSAGE_DELTA_USAGE);
  }
}

interface SseEvent {
  event: string;
  data: Json;
}

function parseSse(text: string): SseEvent[] {
  return text
    .trim()
    .split('\n\n')
    .map((frame) => {
      const [eventLine, dataLine] = frame.split('\n');
      const data = objectAt(JSON.parse(dataLine.slice('data: '.length)));
      assert.equal(eventLine, `event: ${String(data.type)}`);
      return { event: String(data.type), data };
    });
}

function words(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

function textOf(message: Anthropic.Message): string {
  return message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
}

/** A finished SDK stream's message without what the SDK adds (`parsed_output`) or what differs per call (`id`). */
function comparable(message: Anthropic.Message): Json {
  const { id: _id, parsed_output: _parsed, ...rest } = message as Anthropic.Message & { parsed_output?: unknown };
  return rest;
}

// ajv-formats is CommonJS; under NodeNext its default export arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

const WIRE_MODEL = 'claude-sonnet-5-5';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};
const ENABLED_THINKING = { type: 'enabled' as const, budget_tokens: 1024 };

describe('AnthropicSimulator on the wire, read with @anthropic-ai/sdk', { timeout: 60_000 }, () => {
  const sim = new AnthropicSimulator({ apiKey: 'sk-ant-wire' });
  let root = '';
  let client: Anthropic;

  /** POSTs with the usual headers; a header given as undefined is left out. */
  const post = (path: string, body: unknown, headers: Record<string, string | undefined> = {}) =>
    fetch(`${root}${path}`, {
      method: 'POST',
      headers: Object.entries({
        'x-api-key': sim.apiKey,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
        ...headers,
      }).filter((entry): entry is [string, string] => entry[1] !== undefined),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const errorOf = async (response: Response) => {
    const body = (await response.json()) as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    return body.error;
  };

  before(async () => {
    root = (await sim.start()).replace(/\/v1$/, '');
    client = new Anthropic({ apiKey: sim.apiKey, baseURL: root, maxRetries: 0, timeout: 10_000 });
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  describe('Message objects and streams', () => {
    it('sends every field of the SDK Message type, and a stream the SDK folds into the same message', async () => {
      const params = { model: WIRE_MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: 'Hi there' }] };
      const message = await client.messages.create(params);
      assertMessage(message);
      assert.deepEqual(message.content, [
        { type: 'text', text: `Hello from ${WIRE_MODEL}: Hi there`, citations: null },
      ]);
      assert.equal(message.stop_reason, 'end_turn');
      assert.deepEqual(
        { input: message.usage.input_tokens, output: message.usage.output_tokens },
        { input: 2 + 3, output: 5 },
      );

      const events: unknown[] = [];
      const stream = client.messages.stream(params);
      stream.on('streamEvent', (event) => events.push(event));
      const streamed = await stream.finalMessage();
      assert.deepEqual(comparable(streamed), comparable(message));
      events.forEach(assertEvent);

      const raw = parseSse(await (await post('/v1/messages', { ...params, stream: true })).text());
      raw.forEach(({ data }) => assertEvent(data));
      assert.deepEqual(
        raw.map(({ event }) => event),
        [
          'message_start',
          'content_block_start',
          'ping',
          ...Array<string>(5).fill('content_block_delta'),
          'content_block_stop',
          'message_delta',
          'message_stop',
        ],
      );
      const start = objectAt(raw[0].data, 'message');
      assert.deepEqual([start.stop_reason, at(start, 'usage', 'output_tokens')], [null, 1]);
      assert.equal(at(raw.at(-2)?.data, 'usage', 'output_tokens'), 5, 'message_delta carries the total');
    });

    it('sends pings every N events when asked, which the SDK skips', async () => {
      sim.pingEveryEvents = 2;
      try {
        const params = {
          model: WIRE_MODEL,
          max_tokens: 100,
          messages: [{ role: 'user' as const, content: 'a b c d e f' }],
        };
        const raw = parseSse(await (await post('/v1/messages', { ...params, stream: true })).text());
        const runs = raw
          .map(({ event }) => (event === 'ping' ? '|' : 'e'))
          .join('')
          .split('|');
        assert.ok(runs.length >= 4, `${runs.length - 1} pings`);
        assert.ok(
          runs.every((run) => run.length <= 2),
          'at most two events between pings',
        );
        assert.notEqual(raw.at(-1)!.event, 'ping', 'message_stop ends the stream');
        const streamed = await client.messages.stream(params).finalMessage();
        assert.equal(textOf(streamed), `Hello from ${WIRE_MODEL}: a b c d e f`);
      } finally {
        sim.pingEveryEvents = 0;
      }
    });
  });

  describe('thinking', () => {
    it('starts with a signed thinking block, counted in output_tokens', async () => {
      const message = await client.messages.create({
        model: WIRE_MODEL,
        max_tokens: 2048,
        thinking: ENABLED_THINKING,
        messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      });
      assertMessage(message);
      assert.deepEqual(
        message.content.map((block) => block.type),
        ['thinking', 'text'],
      );
      const thinking = message.content[0] as Anthropic.ThinkingBlock;
      assert.match(thinking.thinking, /Why is the sky blue\?/);
      assert.equal(Buffer.from(thinking.signature, 'base64').toString('base64'), thinking.signature, 'base64');
      assert.ok(sim.verifyThinkingBlock(thinking));
      assert.ok(!sim.verifyThinkingBlock({ ...thinking, thinking: `${thinking.thinking}!` }));
      assert.ok(!new AnthropicSimulator({ thinkingSecret: 'another' }).verifyThinkingBlock(thinking));
      const thinkingTokens = words(thinking.thinking);
      assert.equal(message.usage.output_tokens, thinkingTokens + words(textOf(message)));
      assert.deepEqual(message.usage.output_tokens_details, { thinking_tokens: thinkingTokens });
    });

    it('streams thinking as thinking_delta events, then a signature_delta, as the docs show', async () => {
      const params = {
        model: WIRE_MODEL,
        max_tokens: 2048,
        thinking: { type: 'adaptive' as const },
        messages: [
          { role: 'user' as const, content: 'SIM_THINKING Let me weigh both options carefully first.\nPick one' },
        ],
      };
      const raw = parseSse(await (await post('/v1/messages', { ...params, stream: true })).text());
      raw.forEach(({ data }) => assertEvent(data));
      const thinkingEvents = raw.filter(({ data }) => data.index === 0);
      assert.deepEqual(thinkingEvents[0].data.content_block, { type: 'thinking', thinking: '', signature: '' });
      const deltas = thinkingEvents
        .filter(({ event }) => event === 'content_block_delta')
        .map(({ data }) => objectAt(data, 'delta'));
      assert.ok(deltas.length >= 4);
      assert.ok(deltas.slice(0, -1).every((delta) => delta.type === 'thinking_delta'));
      assert.equal(deltas.at(-1)!.type, 'signature_delta', 'the signature comes just before content_block_stop');
      assert.equal(thinkingEvents.at(-1)!.event, 'content_block_stop');
      const thought = deltas
        .slice(0, -1)
        .map((delta) => delta.thinking)
        .join('');
      assert.equal(thought, 'Let me weigh both options carefully first.');
      assert.ok(sim.verifyThinkingBlock({ type: 'thinking', thinking: thought, signature: deltas.at(-1)!.signature }));

      const streamed = await client.messages.stream(params).finalMessage();
      const block = streamed.content[0] as Anthropic.ThinkingBlock;
      assert.equal(block.thinking, thought);
      assert.ok(sim.verifyThinkingBlock(block));
    });

    it('sends redacted_thinking on SIM_REDACTED_THINKING, streamed as one block start', async () => {
      const params = {
        model: WIRE_MODEL,
        max_tokens: 2048,
        thinking: ENABLED_THINKING,
        messages: [{ role: 'user' as const, content: 'SIM_REDACTED_THINKING\nTell me' }],
      };
      const message = await client.messages.create(params);
      assertMessage(message);
      const redacted = message.content[0] as Anthropic.RedactedThinkingBlock;
      assert.equal(redacted.type, 'redacted_thinking');
      assert.ok(sim.verifyThinkingBlock(redacted));
      assert.ok(
        !sim.verifyThinkingBlock({ type: 'redacted_thinking', data: Buffer.from('forged').toString('base64') }),
      );
      const raw = parseSse(await (await post('/v1/messages', { ...params, stream: true })).text());
      const first = raw.filter(({ data }) => data.index === 0).map(({ event }) => event);
      assert.deepEqual(first, ['content_block_start', 'content_block_stop']);
      assert.equal(at(raw[1].data, 'content_block', 'type'), 'redacted_thinking');
    });

    it('requires the thinking block back, unchanged, in front of the tool_use it came with', async () => {
      const request = { model: WIRE_MODEL, max_tokens: 4096, thinking: ENABLED_THINKING, tools: [WEATHER_TOOL] };
      const question = { role: 'user' as const, content: 'Weather in Paris?' };
      const first = await client.messages.create({ ...request, messages: [question] });
      assert.deepEqual(
        first.content.map((block) => block.type),
        ['thinking', 'tool_use'],
      );
      assert.equal(first.stop_reason, 'tool_use');
      const [thinking, toolUse] = first.content as [Anthropic.ThinkingBlock, Anthropic.ToolUseBlock];
      const result = {
        role: 'user' as const,
        content: [{ type: 'tool_result' as const, tool_use_id: toolUse.id, content: '22°C' }],
      };
      const conversation = (assistant: unknown[]) => ({
        ...request,
        messages: [question, { role: 'assistant', content: assistant }, result],
      });

      const answer = await client.messages.create(
        conversation(first.content) as Anthropic.MessageCreateParamsNonStreaming,
      );
      assert.deepEqual(answer.content, [{ type: 'text', text: 'Tool said: 22°C', citations: null }], 'no new thinking');
      const interleaved = await client.messages.create(
        conversation(first.content) as Anthropic.MessageCreateParamsNonStreaming,
        { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14' } },
      );
      assert.deepEqual(
        interleaved.content.map((block) => block.type),
        ['thinking', 'text'],
        'interleaved thinking after the tool result',
      );

      const missing = await post('/v1/messages', conversation([toolUse]));
      assert.equal(missing.status, 400);
      assert.deepEqual(await errorOf(missing), {
        type: 'invalid_request_error',
        message:
          'messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking',
      });
      const unmodifiable =
        'messages.1.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.';
      for (const changed of [
        { ...thinking, thinking: `${thinking.thinking} Also.` },
        { ...thinking, signature: Buffer.from('not ours').toString('base64') },
      ]) {
        const response = await post('/v1/messages', conversation([changed, toolUse]));
        assert.equal(response.status, 400);
        assert.deepEqual(await errorOf(response), { type: 'invalid_request_error', message: unmodifiable });
      }
      await assert.rejects(
        () => client.messages.create(conversation([toolUse]) as Anthropic.MessageCreateParamsNonStreaming),
        (error: unknown) => error instanceof Anthropic.BadRequestError && error.status === 400,
      );
    });

    it('checks every thinking block of an interleaved tool loop, and redacted_thinking data too', async () => {
      const request = {
        model: WIRE_MODEL,
        max_tokens: 4096,
        thinking: { type: 'adaptive' as const },
        tools: [WEATHER_TOOL],
      };
      const question = { role: 'user' as const, content: 'SIM_TOOL get_weather {"city":"Oslo"}' };
      const first = await client.messages.create({ ...request, messages: [question] });
      const firstUse = first.content[1] as Anthropic.ToolUseBlock;
      assert.deepEqual(firstUse.input, { city: 'Oslo' });
      const chained = {
        role: 'user' as const,
        content: [
          { type: 'tool_result' as const, tool_use_id: firstUse.id, content: 'SIM_TOOL get_weather {"city":"Rome"}' },
        ],
      };
      const second = await client.messages.create({
        ...request,
        messages: [question, { role: 'assistant', content: first.content }, chained],
      } as Anthropic.MessageCreateParamsNonStreaming);
      assert.deepEqual(
        second.content.map((block) => block.type),
        ['thinking', 'tool_use'],
        'adaptive thinking interleaves without the beta header',
      );
      const secondUse = second.content[1] as Anthropic.ToolUseBlock;
      const history = (firstContent: unknown[], secondContent: unknown[]) => ({
        ...request,
        messages: [
          question,
          { role: 'assistant', content: firstContent },
          chained,
          { role: 'assistant', content: secondContent },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: secondUse.id, content: '18°C' }] },
        ],
      });
      const done = await client.messages.create(
        history(first.content, second.content) as Anthropic.MessageCreateParamsNonStreaming,
      );
      assert.equal(textOf(done), 'Tool said: 18°C');

      const firstThinking = first.content[0] as Anthropic.ThinkingBlock;
      const earlier = await post(
        '/v1/messages',
        history([{ ...firstThinking, thinking: 'edited' }, firstUse], second.content),
      );
      assert.deepEqual(await errorOf(earlier), {
        type: 'invalid_request_error',
        message: 'messages.1.content.0: Invalid `signature` in `thinking` block',
      });
      const dropped = await post('/v1/messages', history(first.content, [secondUse]));
      assert.deepEqual(await errorOf(dropped), {
        type: 'invalid_request_error',
        message:
          'messages.3.content.0: `thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.',
      });

      const redactedFirst = await client.messages.create({
        ...request,
        messages: [{ role: 'user', content: 'SIM_REDACTED_THINKING\nSIM_TOOL get_weather {"city":"Lima"}' }],
      });
      assert.deepEqual(
        redactedFirst.content.map((block) => block.type),
        ['redacted_thinking', 'tool_use'],
      );
      const redactedUse = redactedFirst.content[1] as Anthropic.ToolUseBlock;
      const withRedacted = (content: unknown[]) => ({
        ...request,
        messages: [
          { role: 'user', content: 'SIM_REDACTED_THINKING\nSIM_TOOL get_weather {"city":"Lima"}' },
          { role: 'assistant', content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: redactedUse.id, content: '25°C' }] },
        ],
      });
      assert.equal((await post('/v1/messages', withRedacted(redactedFirst.content))).status, 200);
      const filtered = await post('/v1/messages', withRedacted([redactedUse]));
      assert.match(
        (await errorOf(filtered)).message,
        /^messages\.1\.content\.0\.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`/,
      );
    });

    it('rejects thinking settings the API rejects, with its messages', async () => {
      const base = { model: WIRE_MODEL, max_tokens: 2048, messages: [{ role: 'user', content: 'Hi' }] };
      const cases: Array<{ body: Json; message: string }> = [
        {
          body: { ...base, thinking: { type: 'enabled', budget_tokens: 512 } },
          message: 'thinking.enabled.budget_tokens: Input should be greater than or equal to 1024',
        },
        {
          body: { ...base, thinking: { type: 'enabled', budget_tokens: 4096 } },
          message:
            '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
        },
        {
          body: { ...base, thinking: ENABLED_THINKING, tools: [WEATHER_TOOL], tool_choice: { type: 'any' } },
          message: 'Thinking may not be enabled when tool_choice forces tool use.',
        },
        {
          body: { ...base, thinking: { type: 'adaptive' }, temperature: 0.5 },
          message: '`temperature` may only be set to 1 when thinking is enabled or in adaptive mode',
        },
        {
          body: { ...base, context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] } },
          message: '`clear_thinking_20251015` strategy requires `thinking` to be enabled or adaptive',
        },
        {
          body: {
            ...base,
            messages: [
              { role: 'user', content: 'Hi' },
              {
                role: 'assistant',
                content: [{ type: 'thinking', thinking: 'Hmm.', signature: sim.signThinking('Hmm.') }],
              },
            ],
          },
          message:
            'messages.1.content.0: When thinking is disabled, an `assistant` message in the final position cannot contain `thinking`. To use thinking blocks, enable `thinking` in your request.',
        },
        {
          body: { ...base, thinking: { type: 'sometimes' } },
          message:
            "thinking: Input tag 'sometimes' found using 'type' does not match any of the expected tags: 'adaptive', 'between_tools', 'disabled', 'enabled'",
        },
      ];
      for (const { body, message } of cases) {
        const response = await post('/v1/messages', body);
        assert.equal(response.status, 400, message);
        assert.deepEqual(await errorOf(response), { type: 'invalid_request_error', message });
      }
      const interleavedBudget = await post(
        '/v1/messages',
        { ...base, thinking: { type: 'enabled', budget_tokens: 4096 } },
        { 'anthropic-beta': 'interleaved-thinking-2025-05-14' },
      );
      assert.equal(interleavedBudget.status, 200, 'interleaved thinking lets the budget exceed max_tokens');

      const forced = await client.messages.create({
        ...base,
        messages: [{ role: 'user', content: 'Weather?' }],
        thinking: { type: 'adaptive' },
        tools: [WEATHER_TOOL],
        tool_choice: { type: 'tool', name: 'get_weather' },
      });
      assert.deepEqual(
        forced.content.map((block) => block.type),
        ['tool_use'],
        'adaptive thinking is skipped when tool use is forced',
      );
      const omitted = await client.messages.create({
        ...base,
        messages: [{ role: 'user', content: 'Hi' }],
        thinking: { type: 'adaptive', display: 'omitted' },
      });
      const hidden = omitted.content[0] as Anthropic.ThinkingBlock;
      assert.equal(hidden.thinking, '');
      assert.ok(sim.verifyThinkingBlock(hidden));
      assert.ok((omitted.usage.output_tokens_details?.thinking_tokens ?? 0) > 0, 'omitted thinking is still billed');
    });
  });

  describe('what Claude Code sends', () => {
    const claudeCodeBetas = [
      'claude-code-20250219',
      'interleaved-thinking-2025-05-14',
      'thinking-token-count-2026-05-13',
      'context-management-2025-06-27',
      'prompt-caching-scope-2026-01-05',
      'mid-conversation-system-2026-04-07',
      'effort-2025-11-24',
    ];
    /** The request Claude Code 2.1.197 sends (fronts.md), shortened to two tools, plus a field nobody knows yet. */
    const claudeCodeBody = {
      model: 'claude-opus-5-5',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>\nToday is 2026-12-06.\n</system-reminder>\n\n' },
            {
              type: 'text',
              text: 'SIM_TOOL Bash {"command":"ls","description":"List files"}',
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
        { role: 'system', content: 'Available agent types for the Agent tool: general-purpose.' },
      ],
      system: [
        { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.0b9; cc_entrypoint=sdk-cli;' },
        {
          type: 'text',
          text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
          cache_control: { type: 'ephemeral' },
        },
        {
          type: 'text',
          text: 'You are an interactive agent that helps users with software engineering tasks.',
          cache_control: { type: 'ephemeral' },
        },
      ],
      tools: [
        {
          name: 'Bash',
          description: 'Executes a given bash command and returns its output.',
          input_schema: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            type: 'object',
            properties: {
              command: { type: 'string', description: 'The command to execute' },
              timeout: { type: 'number', description: 'Optional timeout in milliseconds' },
              description: { type: 'string' },
              run_in_background: { type: 'boolean' },
              dangerouslyDisableSandbox: { type: 'boolean' },
            },
            required: ['command'],
            additionalProperties: false,
          },
        },
        {
          name: 'Write',
          description: 'Writes a file to the local filesystem.',
          input_schema: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            type: 'object',
            properties: { file_path: { type: 'string' }, content: { type: 'string' } },
            required: ['file_path', 'content'],
            additionalProperties: false,
          },
        },
      ],
      metadata: { user_id: JSON.stringify({ device_id: 'd1', account_uuid: '', session_id: 's1' }) },
      max_tokens: 32000,
      thinking: { type: 'adaptive' },
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      output_config: { effort: 'high' },
      stream: true,
      future_field: { anything: [1, 2, 3] },
    };
    const claudeCodeHeaders = {
      // ANTHROPIC_AUTH_TOKEN: the key as a Bearer token, no x-api-key.
      authorization: `Bearer sk-ant-wire`,
      'x-api-key': undefined,
      'anthropic-beta': claudeCodeBetas.join(','),
      'x-claude-code-session-id': '2f0c8a52-9a0e-4c55-a3f8-5a8d1c7b9e10',
      'x-app': 'cli',
      'anthropic-dangerous-direct-browser-access': 'true',
    };

    it('accepts the request unchanged on /v1/messages?beta=true and records it byte for byte', async () => {
      // Unusual spacing on purpose: a passthrough must forward these bytes, not a re-serialization.
      const text = JSON.stringify(claudeCodeBody, null, 1);
      const response = await post('/v1/messages?beta=true', text, claudeCodeHeaders);
      assert.equal(response.status, 200);
      const events = parseSse(await response.text());
      events.forEach(({ data }) => assertEvent(data));
      const starts = events
        .filter(({ event }) => event === 'content_block_start')
        .map(({ data }) => at(data, 'content_block', 'type'));
      assert.deepEqual(starts, ['thinking', 'tool_use']);
      const toolStart = events.find(({ data }) => at(data, 'content_block', 'type') === 'tool_use');
      assert.equal(at(toolStart?.data, 'content_block', 'name'), 'Bash');

      const [recorded] = sim.requests;
      assert.equal(recorded.path, '/v1/messages');
      assert.deepEqual(recorded.query, { beta: 'true' });
      assert.equal(recorded.rawBody, text);
      assert.deepEqual(recorded.body, claudeCodeBody);
      assert.deepEqual(recorded.betas, claudeCodeBetas);
      assert.equal(recorded.anthropicVersion, '2023-06-01');
      assert.equal(recorded.headers['x-claude-code-session-id'], claudeCodeHeaders['x-claude-code-session-id']);
      const written = numberAt(events[0].data, 'message', 'usage', 'cache_creation_input_tokens');
      assert.ok(written > 0, 'the marked system and prompt blocks are written');
    });

    it('counts the same request with count_tokens', async () => {
      const { max_tokens: _max, stream: _stream, ...countable } = claudeCodeBody;
      const response = await post('/v1/messages/count_tokens?beta=true', countable, claudeCodeHeaders);
      assert.equal(response.status, 200);
      const counted = assertShape(await response.json(), TOKENS_COUNT);
      const answered = await post('/v1/messages?beta=true', { ...claudeCodeBody, stream: false }, claudeCodeHeaders);
      const usage = ((await answered.json()) as Anthropic.Message).usage;
      assert.equal(
        counted.input_tokens,
        usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0),
      );
    });
  });

  describe('prompt caching', () => {
    const system = [
      {
        type: 'text' as const,
        text: 'You are a careful assistant who answers in one line.',
        cache_control: { type: 'ephemeral' as const },
      },
    ];
    const ask = (question: string) => ({
      model: WIRE_MODEL,
      max_tokens: 100,
      system,
      messages: [{ role: 'user' as const, content: question }],
    });
    const cacheOf = (usage: Anthropic.Usage) => ({
      input: usage.input_tokens,
      write: usage.cache_creation_input_tokens,
      read: usage.cache_read_input_tokens,
      write5m: usage.cache_creation?.ephemeral_5m_input_tokens,
      write1h: usage.cache_creation?.ephemeral_1h_input_tokens,
    });

    it('writes a marked prefix once, then reads it; input_tokens is only the uncached rest', async () => {
      const first = await client.messages.create(ask('What is two plus two?'));
      assert.deepEqual(cacheOf(first.usage), { input: 5 + 3, write: 10, read: 0, write5m: 10, write1h: 0 });
      const second = await client.messages.create(ask('And three plus three?'));
      assert.deepEqual(cacheOf(second.usage), { input: 4 + 3, write: 0, read: 10, write5m: 0, write1h: 0 });

      const other = await client.messages.create({ ...ask('And three plus three?'), model: 'claude-haiku-5-5' });
      assert.equal(other.usage.cache_read_input_tokens, 0, 'another model has its own cache');
      const reworded = await client.messages.create({
        ...ask('And three plus three?'),
        system: [{ ...system[0], text: `${system[0].text} ` }],
      });
      assert.equal(reworded.usage.cache_read_input_tokens, 0, 'a changed byte misses');
    });

    it('reports cache usage in message_start and message_delta when streaming', async () => {
      await client.messages.create(ask('Warm the cache.'));
      const raw = parseSse(await (await post('/v1/messages', { ...ask('Now read it.'), stream: true })).text());
      const start = objectAt(raw[0].data, 'message', 'usage');
      const delta = objectAt(raw.find(({ event }) => event === 'message_delta')?.data, 'usage');
      for (const usage of [start, delta]) {
        assert.deepEqual(
          [usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens],
          [3 + 3, 10, 0],
        );
      }
      assert.deepEqual(start.cache_creation, { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 });
    });

    it('splits writes by TTL, reads earlier breakpoints of a growing conversation, and caches automatically', async () => {
      const tools = [{ ...WEATHER_TOOL, cache_control: { type: 'ephemeral' as const, ttl: '1h' as const } }];
      const turn1 = [
        {
          role: 'user' as const,
          content: [
            { type: 'text' as const, text: 'First question here', cache_control: { type: 'ephemeral' as const } },
          ],
        },
      ];
      const first = await client.messages.create({
        model: WIRE_MODEL,
        max_tokens: 100,
        tools,
        system,
        messages: turn1,
        tool_choice: { type: 'none' },
      });
      const written = cacheOf(first.usage);
      assert.ok(written.write1h! > 0 && written.write5m! > 0);
      assert.equal(written.write, written.write1h! + written.write5m!);
      assert.equal(written.input, 0, 'everything up to the last breakpoint is written');

      const turn2 = [
        { role: 'user' as const, content: 'First question here' },
        { role: 'assistant' as const, content: 'An answer.' },
        {
          role: 'user' as const,
          content: [{ type: 'text' as const, text: 'Second one', cache_control: { type: 'ephemeral' as const } }],
        },
      ];
      const second = await client.messages.create({
        model: WIRE_MODEL,
        max_tokens: 100,
        tools,
        system,
        messages: turn2,
        tool_choice: { type: 'none' },
      });
      assert.equal(second.usage.cache_read_input_tokens, written.write, 'the previous breakpoint is found by lookback');
      assert.equal(second.usage.cache_creation_input_tokens, 2 + 3 + (2 + 3), 'the new turns are written');
      assert.equal(second.usage.input_tokens, 0);

      const automatic = {
        model: WIRE_MODEL,
        max_tokens: 100,
        cache_control: { type: 'ephemeral' as const },
        messages: [{ role: 'user' as const, content: 'Cache me automatically' }],
      };
      assert.equal((await client.messages.create(automatic)).usage.cache_creation_input_tokens, 3 + 3);
      assert.equal((await client.messages.create(automatic)).usage.cache_read_input_tokens, 3 + 3);
    });

    it('rejects a fifth breakpoint and skips prefixes below the minimum length', async () => {
      const marked = { type: 'ephemeral' };
      const response = await post('/v1/messages', {
        model: WIRE_MODEL,
        max_tokens: 10,
        cache_control: marked,
        system: [1, 2, 3].map((n) => ({ type: 'text', text: `part ${n}`, cache_control: marked })),
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: marked }] }],
      });
      assert.deepEqual(await errorOf(response), {
        type: 'invalid_request_error',
        message: 'A maximum of 4 blocks with cache_control may be provided. Found 5.',
      });
      const badTtl = await post('/v1/messages', {
        ...ask('Hi'),
        system: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '2h' } }],
      });
      assert.equal(
        (await errorOf(badTtl)).message,
        "system.0.cache_control.ephemeral.ttl: Input should be '5m' or '1h'",
      );

      const strict = new AnthropicSimulator({ apiKey: sim.apiKey, minCacheableTokens: 1024 });
      const strictRoot = (await strict.start()).replace(/\/v1$/, '');
      try {
        const strictClient = new Anthropic({ apiKey: sim.apiKey, baseURL: strictRoot, maxRetries: 0 });
        for (let i = 0; i < 2; i++) {
          const usage = (await strictClient.messages.create(ask('Too short to cache.'))).usage;
          assert.deepEqual([usage.cache_creation_input_tokens, usage.cache_read_input_tokens], [0, 0]);
        }
      } finally {
        await strict.stop();
      }
    });
  });

  describe('structured output', () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string' },
        age: { type: 'integer', minimum: 18 },
        tags: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 2 },
        kind: { enum: ['cat', 'dog'] },
        address: { $ref: '#/$defs/address' },
        note: { type: 'string' },
        contact: { anyOf: [{ type: 'string', format: 'email' }, { type: 'null' }] },
      },
      required: ['name', 'age', 'tags', 'kind', 'address', 'contact'],
      additionalProperties: false,
      $defs: {
        address: {
          type: 'object',
          properties: { city: { type: 'string', minLength: 2 }, since: { type: ['string', 'null'], format: 'date' } },
          required: ['city', 'since'],
          additionalProperties: false,
        },
      },
    };

    it('answers output_config.format with a minimal instance of the schema, and the legacy output_format too', async () => {
      const ajv = new Ajv2020({ strict: false });
      addFormats(ajv);
      const validate = ajv.compile(schema);
      const message = await client.messages.create({
        model: WIRE_MODEL,
        max_tokens: 200,
        messages: [{ role: 'user', content: 'Describe a pet.' }],
        output_config: { format: { type: 'json_schema', schema } },
      });
      assertMessage(message);
      const instance = JSON.parse(textOf(message)) as unknown;
      assert.ok(validate(instance), JSON.stringify(validate.errors));
      assert.deepEqual(instance, {
        name: '',
        age: 18,
        tags: ['a', 'a'],
        kind: 'cat',
        address: { city: 'aa', since: '1970-01-01' },
        contact: 'user@example.com',
      });
      const streamed = await client.messages
        .stream({
          model: WIRE_MODEL,
          max_tokens: 200,
          messages: [{ role: 'user', content: 'Again.' }],
          output_config: { format: { type: 'json_schema', schema } },
        })
        .finalMessage();
      assert.deepEqual(JSON.parse(textOf(streamed)), instance, 'streamed, the same instance');

      const legacy = await post(
        '/v1/messages',
        {
          model: WIRE_MODEL,
          max_tokens: 200,
          messages: [{ role: 'user', content: 'Legacy.' }],
          output_format: { type: 'json_schema', schema },
        },
        { 'anthropic-beta': 'structured-outputs-2025-11-13' },
      );
      assert.deepEqual(JSON.parse(textOf((await legacy.json()) as Anthropic.Message)), instance);

      const invalid = await post('/v1/messages', {
        model: WIRE_MODEL,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'x' }],
        output_config: { format: { type: 'json_object' } },
      });
      assert.equal((await errorOf(invalid)).message, "output_config.format.type: Input should be 'json_schema'");
      const effort = await post('/v1/messages', {
        model: WIRE_MODEL,
        max_tokens: 10,
        messages: [{ role: 'user', content: 'x' }],
        output_config: { effort: 'extreme' },
      });
      assert.equal(
        (await errorOf(effort)).message,
        "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
      );
    });
  });

  describe('count_tokens and models', () => {
    it('counts tokens with the SDK, without max_tokens, validating like messages', async () => {
      const prompt = {
        model: WIRE_MODEL,
        system: 'Be brief.',
        tools: [WEATHER_TOOL],
        messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
      };
      const counted = await client.messages.countTokens(prompt);
      assertShape(counted, TOKENS_COUNT);
      const answered = await client.messages.create({ ...prompt, max_tokens: 100 });
      assert.equal(counted.input_tokens, answered.usage.input_tokens);
      assert.ok(counted.input_tokens > 2 + 3 + 3, 'the tools count too');
      assert.equal(sim.stats().countTokens, 1);

      const alternating = await post('/v1/messages/count_tokens', {
        model: WIRE_MODEL,
        messages: [
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ],
      });
      assert.equal(alternating.status, 400);
      assert.match((await errorOf(alternating)).message, /roles must alternate/);
      const noVersion = await post('/v1/messages/count_tokens', prompt, { 'anthropic-version': '' });
      assert.equal(noVersion.status, 400);
    });

    it('lists and retrieves models in the Models API format', async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) {
        assertShape(model, MODEL_INFO);
        ids.push(model.id);
      }
      assert.deepEqual(ids.slice(0, 3), ['claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-5-5']);
      const page = await jsonOf(
        await fetch(`${root}/v1/models?limit=2`, {
          headers: { 'x-api-key': sim.apiKey, 'anthropic-version': '2023-06-01' },
        }),
      );
      assert.deepEqual(
        { ...page, data: arrayAt(page, 'data').map((model) => at(model, 'id')) },
        { data: ids.slice(0, 2), has_more: true, first_id: ids[0], last_id: ids[1] },
      );
      const next = await client.models.list({ limit: 2, after_id: ids[1] });
      assert.deepEqual(
        next.data.map((model) => model.id),
        ids.slice(2, 4),
      );
      const before = await client.models.list({ limit: 2, before_id: ids[3] });
      assert.deepEqual(
        before.data.map((model) => model.id),
        ids.slice(1, 3),
      );
      const model = await client.models.retrieve('claude-opus-4-8');
      assert.deepEqual([model.display_name, model.type, model.line], ['Claude Opus 4.8', 'model', 'opus']);
      assert.ok(!Number.isNaN(Date.parse(model.created_at)));
      await assert.rejects(
        () => client.models.retrieve('claude-nope-1'),
        (error: unknown) => error instanceof Anthropic.NotFoundError && /model: claude-nope-1/.test(error.message),
      );
    });
  });

  describe('errors, headers and faults', () => {
    const hello = { model: WIRE_MODEL, max_tokens: 50, messages: [{ role: 'user' as const, content: 'Hello' }] };

    it('sends request-id and anthropic-ratelimit-* headers, and 429 with retry-after and nothing remaining', async () => {
      const ok = await post('/v1/messages', hello);
      assert.match(ok.headers.get('request-id') ?? '', /^req_sim_\d+$/);
      for (const kind of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
        assert.ok(Number(ok.headers.get(`anthropic-ratelimit-${kind}-remaining`)) > 0, kind);
        assert.match(ok.headers.get(`anthropic-ratelimit-${kind}-reset`) ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      }
      sim.enqueueFault({ status: 429, retryAfterSeconds: 7 });
      const limited = await post('/v1/messages', hello);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '7');
      assert.equal(limited.headers.get('anthropic-ratelimit-requests-remaining'), '0');
      const resetIn = Date.parse(limited.headers.get('anthropic-ratelimit-requests-reset')!) - Date.now();
      assert.ok(resetIn > 4_000 && resetIn <= 8_000, `resets in ${resetIn} ms`);
      assert.equal((await errorOf(limited)).type, 'rate_limit_error');
    });

    it('surfaces 529 overloaded and a mid-stream overloaded_error event through the SDK', async () => {
      sim.enqueueFault({ status: 529 });
      await assert.rejects(
        () => client.messages.create(hello),
        (error: unknown) =>
          error instanceof Anthropic.APIError &&
          error.status === 529 &&
          /^req_sim_/.test(error.requestID ?? '') &&
          (error.error as { error?: { type?: string } }).error?.type === 'overloaded_error',
      );
      sim.enqueueFault({ midStreamError: true });
      const stream = client.messages.stream({ ...hello, messages: [{ role: 'user', content: 'a b c d e f' }] });
      await assert.rejects(
        () => stream.finalMessage(),
        (error: unknown) =>
          error instanceof Anthropic.APIError &&
          (error.error as { error?: { type?: string; message?: string } }).error?.type === 'overloaded_error',
      );
    });

    it('keeps a stalled stream alive with pings, and takes faults for other paths over HTTP', async () => {
      sim.enqueueFault({ stallAfterEvents: 2, stallMs: 150, pingIntervalMs: 40 });
      const started = Date.now();
      const raw = parseSse(await (await post('/v1/messages', { ...hello, stream: true })).text());
      assert.ok(Date.now() - started >= 140);
      const pings = raw.slice(2).filter(({ event }) => event === 'ping').length;
      assert.ok(pings >= 3, `${pings} keep-alive pings`);
      assert.equal(raw.at(-1)!.event, 'message_stop');

      const queued = await post('/__sim/faults', [{ status: 529, paths: ['/messages/count_tokens'] }]);
      assert.deepEqual(await queued.json(), { queued: 1 });
      assert.equal((await post('/v1/messages', hello)).status, 200, 'messages are not affected');
      assert.equal((await post('/v1/messages/count_tokens', hello)).status, 529);
    });
  });

  describe('SIM_TOOL and SIM_TEXT', () => {
    const tools = [
      WEATHER_TOOL,
      {
        name: 'search',
        description: 'Search the web',
        input_schema: { type: 'object' as const, properties: { q: { type: 'string' } } },
      },
    ];
    const ask = (content: string, extra: Json = {}) =>
      client.messages.create({
        model: WIRE_MODEL,
        max_tokens: 200,
        tools,
        messages: [{ role: 'user', content }],
        ...extra,
      });
    const calls = (message: Anthropic.Message) =>
      message.content.flatMap((block) => (block.type === 'tool_use' ? [{ name: block.name, input: block.input }] : []));

    it('calls the named tool with exactly the given arguments, several in parallel, else the default tool', async () => {
      const one = await ask('Please search.\nSIM_TOOL search {"q":"llm gateway","page":[1,2]}');
      assert.deepEqual(calls(one), [{ name: 'search', input: { q: 'llm gateway', page: [1, 2] } }]);
      assert.equal(one.stop_reason, 'tool_use');
      const two = await ask('SIM_TOOL search {"q":"a"}\nSIM_TOOL get_weather {"city":"Rome"}');
      assert.deepEqual(calls(two), [
        { name: 'search', input: { q: 'a' } },
        { name: 'get_weather', input: { city: 'Rome' } },
      ]);
      assert.equal(new Set(two.content.map((block) => (block as Anthropic.ToolUseBlock).id)).size, 2);
      const serial = await ask('SIM_TOOL search {"q":"a"}\nSIM_TOOL get_weather {"city":"Rome"}', {
        tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      });
      assert.equal(calls(serial).length, 1);
      const unknown = await ask('SIM_TOOL translate {"text":"hi"}');
      assert.deepEqual(calls(unknown), [{ name: 'get_weather', input: { city: 'Paris' } }]);
      const none = await ask('SIM_TOOL search {"q":"a"}', { tool_choice: { type: 'none' } });
      assert.deepEqual(calls(none), []);
    });

    it('answers exactly the SIM_TEXT text, alone or before a call, and refuses on SIM_REFUSAL', async () => {
      const text = await ask('Say it\nSIM_TEXT  Exactly this, with  spaces. ');
      assert.deepEqual(text.content, [{ type: 'text', text: ' Exactly this, with  spaces. ', citations: null }]);
      assert.equal(text.stop_reason, 'end_turn');
      const both = await ask('SIM_TEXT Checking the weather.\nSIM_TOOL get_weather {"city":"Nice"}');
      assert.deepEqual(
        both.content.map((block) => block.type),
        ['text', 'tool_use'],
      );
      const refused = await ask('SIM_REFUSAL');
      assert.deepEqual(
        [refused.stop_reason, refused.stop_details, refused.content],
        ['refusal', { type: 'refusal', category: null, explanation: null }, []],
      );
    });
  });

  const claudeBinary = join(process.cwd(), 'node_modules', '.bin', 'claude');
  it(
    'serves a real Claude Code tool loop, thinking blocks and all',
    { skip: !existsSync(claudeBinary) && 'Claude Code is not installed', timeout: 120_000 },
    async () => {
      const home = await mkdtemp(join(tmpdir(), 'anthropic-sim-claude-'));
      try {
        const prompt = 'SIM_TOOL Bash {"command":"echo sim-ok","description":"Print a marker"}';
        const child = spawn(claudeBinary, ['-p', prompt, '--allowedTools', 'Bash', '--model', WIRE_MODEL], {
          cwd: home,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...process.env,
            HOME: home,
            ANTHROPIC_BASE_URL: root,
            ANTHROPIC_API_KEY: sim.apiKey,
            ANTHROPIC_DEFAULT_HAIKU_MODEL: WIRE_MODEL,
            ANTHROPIC_DEFAULT_SONNET_MODEL: WIRE_MODEL,
            ANTHROPIC_DEFAULT_OPUS_MODEL: WIRE_MODEL,
            ANTHROPIC_SMALL_FAST_MODEL: WIRE_MODEL,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
            DISABLE_AUTOUPDATER: '1',
          },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
        clearTimeout(killer);
        assert.equal(code, 0, stderr);
        assert.equal(stdout.trim(), 'Tool said: sim-ok');

        const calls = sim.requests.filter((request) => request.method === 'POST' && request.path === '/v1/messages');
        assert.ok(calls.length >= 2);
        assert.ok(
          calls.every(
            (request) => request.query.beta === 'true' && request.betas.includes('interleaved-thinking-2025-05-14'),
          ),
        );
        const followUp = calls.at(-1)!.body as { messages: Array<{ role: string; content: Json[] }> };
        const assistant = followUp.messages.findLast((message) => message.role === 'assistant')!;
        assert.equal(assistant.content[0].type, 'thinking', 'Claude Code sent the thinking block back');
        assert.ok(sim.verifyThinkingBlock(assistant.content[0]));
      } finally {
        await rm(home, { recursive: true, force: true });
      }
    },
  );
});
