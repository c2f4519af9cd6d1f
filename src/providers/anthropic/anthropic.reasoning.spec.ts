/**
 * Reasoning, prompt caching and structured output through the Anthropic mapper: thinking out (blocks with their
 * signatures, streamed as reasoning_content and thinking_blocks fragments) and back (first in the assistant turn),
 * `thinking` / `reasoning_effort` with Claude's constraints, cache_control on every kind of block, cache
 * reads and writes in usage, and response_format as output_config.format or a forced tool.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../common/openai.types.js';
import {
  type AnthropicRequestDefaults,
  createAnthropicStreamState,
  fromAnthropicResponse,
  fromAnthropicStreamEvent,
  readAnthropicChunks,
  structuredOutputTool,
  toAnthropicRequest,
} from './anthropic.mapper.js';
import type { AnthropicMessagesResponse } from './anthropic.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');
const fixture = <T>(name: string): T => JSON.parse(fixtureText(name)) as T;

const NATIVE: AnthropicRequestDefaults = { defaultMaxTokens: 4096, version: '2023-06-01', structuredOutput: 'native' };
const TOOL_MODE: AnthropicRequestDefaults = { ...NATIVE, structuredOutput: 'tool' };
const MODEL = 'claude-sonnet-4-5';
const NOW = 1_764_300_000_000;
const SCHEMA = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const WEATHER = {
  type: 'function' as const,
  function: { name: 'get_weather', parameters: { type: 'object', properties: {} } },
};

const chatRequest = (overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Hi' }],
  ...overrides,
});

function refused(request: ChatCompletionRequest, param: string, defaults = NATIVE): void {
  assert.throws(
    () => toAnthropicRequest(request, defaults),
    (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === param,
  );
}

describe('Anthropic thinking: request', () => {
  it('sends thinking as given and room for the answer above its budget', () => {
    const body = toAnthropicRequest(chatRequest({ thinking: { type: 'enabled', budget_tokens: 2000 } }), NATIVE);
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 2000 });
    assert.equal(body.max_tokens, 6096);
    const adaptive = toAnthropicRequest(chatRequest({ thinking: { type: 'adaptive' }, max_tokens: 900 }), NATIVE);
    assert.deepEqual(adaptive.thinking, { type: 'adaptive' });
    assert.equal(adaptive.max_tokens, 900);
  });

  it('turns reasoning_effort into a budget that fits under max_tokens, and none into no thinking', () => {
    const high = toAnthropicRequest(chatRequest({ reasoning_effort: 'high' }), NATIVE);
    assert.deepEqual(high.thinking, { type: 'enabled', budget_tokens: 4096 });
    assert.equal(high.max_tokens, 8192);
    const capped = toAnthropicRequest(chatRequest({ reasoning_effort: 'high', max_tokens: 3000 }), NATIVE);
    assert.deepEqual(capped.thinking, { type: 'enabled', budget_tokens: 2999 });
    assert.equal(capped.max_tokens, 3000);
    const tooSmall = toAnthropicRequest(chatRequest({ reasoning_effort: 'low', max_tokens: 500 }), NATIVE);
    assert.equal(tooSmall.thinking, undefined);
    assert.equal(toAnthropicRequest(chatRequest({ reasoning_effort: 'none' }), NATIVE).thinking, undefined);
  });

  it('leaves out the sampling Claude refuses while thinking, and keeps it otherwise', () => {
    const sampling = { temperature: 0.2, top_p: 0.5, top_k: 40 };
    const thinking = toAnthropicRequest(chatRequest({ ...sampling, reasoning_effort: 'medium' }), NATIVE);
    assert.equal(thinking.temperature, undefined);
    assert.equal(thinking.top_p, undefined);
    assert.equal(thinking.top_k, undefined);
    const allowed = toAnthropicRequest(
      chatRequest({ temperature: 1, top_p: 0.97, reasoning_effort: 'medium' }),
      NATIVE,
    );
    assert.equal(allowed.temperature, 1);
    assert.equal(allowed.top_p, 0.97);
    const plain = toAnthropicRequest(chatRequest(sampling), NATIVE);
    assert.deepEqual([plain.temperature, plain.top_p, plain.top_k], [0.2, 0.5, 40]);
  });

  it('refuses explicit thinking with a forced tool, and drops effort-derived thinking there', () => {
    refused(
      chatRequest({ tools: [WEATHER], tool_choice: 'required', thinking: { type: 'enabled', budget_tokens: 2000 } }),
      'thinking',
    );
    const effort = toAnthropicRequest(
      chatRequest({ tools: [WEATHER], tool_choice: 'required', reasoning_effort: 'high' }),
      NATIVE,
    );
    assert.equal(effort.thinking, undefined);
    assert.deepEqual(effort.tool_choice, { type: 'any' });
  });

  it('sends thinking blocks back first in their assistant turn, exactly, and drops unsigned ones', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        reasoning_content: 'I should call the tool.',
        thinking_blocks: [
          { type: 'thinking', thinking: 'I should call the tool.', signature: 'sig-1' },
          { type: 'redacted_thinking', data: 'opaque' },
          { type: 'thinking', thinking: 'from another provider' },
        ],
        tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: '22°C' },
    ];
    const body = toAnthropicRequest(chatRequest({ messages, tools: [WEATHER] }), NATIVE);
    assert.deepEqual(body.messages[1], {
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'I should call the tool.', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'opaque' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} },
      ],
    });
  });
});

describe('Anthropic thinking: response and stream', () => {
  it('returns thinking blocks with their signatures, their text as reasoning_content, and reasoning tokens', () => {
    const completion = fromAnthropicResponse(fixture('response-thinking.json'), MODEL, 'anthropic', NOW);
    const message = completion.choices[0].message;
    assert.equal(message.content, '27 * 453 = 12,231');
    assert.equal(message.reasoning_content, 'The user wants 27 * 453. 27 * 453 = 12231.');
    assert.deepEqual(message.thinking_blocks, [
      {
        type: 'thinking',
        thinking: 'The user wants 27 * 453. 27 * 453 = 12231.',
        signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds',
      },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP' },
    ]);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 12 + 2048 + 1024,
      completion_tokens: 96,
      total_tokens: 12 + 2048 + 1024 + 96,
      prompt_tokens_details: { cached_tokens: 1024, cache_creation_tokens: 2048 },
      completion_tokens_details: { reasoning_tokens: 80 },
    });
  });

  it('streams thinking as reasoning_content and block fragments that rebuild the same blocks, usage once', async () => {
    const state = createAnthropicStreamState({ provider: 'anthropic', model: MODEL, includeUsage: true, now: NOW });
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of readAnthropicChunks(Readable.from([fixtureText('stream-thinking.sse')]), state)) {
      chunks.push(chunk);
    }
    const deltas = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta));
    const reasoning = deltas.map((delta) => delta.reasoning_content ?? '').join('');
    assert.equal(reasoning, 'The user wants 27 * 453. 27 * 453 = 12231.');
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), '27 * 453 = 12,231');
    const fragments = deltas.flatMap((delta) => delta.thinking_blocks ?? []);
    assert.deepEqual(fragments, [
      { type: 'thinking', thinking: 'The user wants 27 * 453. ' },
      { type: 'thinking', thinking: '27 * 453 = 12231.' },
      { type: 'thinking', thinking: '', signature: 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds' },
      { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP' },
    ]);
    const usageChunks = chunks.filter((chunk) => chunk.usage);
    assert.equal(usageChunks.length, 1);
    assert.deepEqual(usageChunks[0].usage, {
      prompt_tokens: 3084,
      completion_tokens: 96,
      total_tokens: 3180,
      prompt_tokens_details: { cached_tokens: 1024, cache_creation_tokens: 2048 },
    });
  });
});

describe('Anthropic prompt caching: cache_control', () => {
  const marker = { type: 'ephemeral' as const };
  const hour = { type: 'ephemeral' as const, ttl: '1h' as const };

  it('keeps a plain system prompt a string, and makes blocks when a system entry carries a breakpoint', () => {
    const plain = toAnthropicRequest(
      chatRequest({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
        ],
      }),
      NATIVE,
    );
    assert.equal(plain.system, 'Be brief.');
    const marked = toAnthropicRequest(
      chatRequest({
        messages: [
          { role: 'system', content: 'Long policy.', cache_control: hour },
          {
            role: 'developer',
            content: [
              { type: 'text', text: 'Tools manual.', cache_control: marker },
              { type: 'text', text: 'Volatile part.' },
            ],
          },
          { role: 'user', content: 'Hi' },
        ],
      }),
      NATIVE,
    );
    assert.deepEqual(marked.system, [
      { type: 'text', text: 'Long policy.', cache_control: hour },
      { type: 'text', text: 'Tools manual.', cache_control: marker },
      { type: 'text', text: 'Volatile part.' },
    ]);
  });

  it('carries markers on parts, on whole messages (their last block), on tool results and on tools', () => {
    const body = toAnthropicRequest(
      chatRequest({
        tools: [{ ...WEATHER, cache_control: marker }],
        messages: [
          { role: 'user', content: 'A long document.', cache_control: marker },
          {
            role: 'assistant',
            content: 'Calling.',
            tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
            cache_control: marker,
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: '22°C', cache_control: marker },
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'https://example.com/a.png' }, cache_control: marker },
              { type: 'text', text: 'And this?', cache_control: hour },
            ],
          },
        ],
      }),
      NATIVE,
    );
    assert.deepEqual(body.tools?.[0].cache_control, marker);
    assert.deepEqual(body.messages[0].content, [{ type: 'text', text: 'A long document.', cache_control: marker }]);
    assert.deepEqual(body.messages[1].content, [
      { type: 'text', text: 'Calling.' },
      { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {}, cache_control: marker },
    ]);
    assert.deepEqual(body.messages[2].content, [
      { type: 'tool_result', tool_use_id: 'toolu_1', content: '22°C', cache_control: marker },
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.png' }, cache_control: marker },
      { type: 'text', text: 'And this?', cache_control: hour },
    ]);
  });
});

describe('Anthropic structured output', () => {
  const jsonSchema = { type: 'json_schema' as const, json_schema: { name: 'place', schema: SCHEMA } };

  it('sends json_schema as output_config.format natively', () => {
    const body = toAnthropicRequest(chatRequest({ response_format: jsonSchema }), NATIVE);
    assert.deepEqual(body.output_config, { format: { type: 'json_schema', schema: SCHEMA } });
    assert.equal(body.tools, undefined);
    assert.equal(structuredOutputTool(chatRequest({ response_format: jsonSchema }), NATIVE), undefined);
  });

  it('forces a tool with the schema in tool mode and for json_object, after the client’s own tools', () => {
    const body = toAnthropicRequest(chatRequest({ response_format: jsonSchema, tools: [WEATHER] }), TOOL_MODE);
    assert.equal(body.output_config, undefined);
    assert.deepEqual(
      body.tools?.map((tool) => [tool.name, tool.input_schema]),
      [
        ['get_weather', WEATHER.function.parameters],
        ['place', SCHEMA],
      ],
    );
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'place' });
    const object = toAnthropicRequest(chatRequest({ response_format: { type: 'json_object' } }), NATIVE);
    assert.deepEqual(object.tools?.[0].input_schema, { type: 'object' });
    assert.deepEqual(object.tool_choice, { type: 'tool', name: 'json_object' });
  });

  it('refuses a schema-less json_schema, a name taken by a client tool, and thinking with a forced answer tool', () => {
    refused(
      chatRequest({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }),
      'response_format.json_schema.schema',
    );
    refused(
      chatRequest({
        response_format: { type: 'json_schema', json_schema: { name: 'get_weather', schema: SCHEMA } },
        tools: [WEATHER],
      }),
      'response_format.json_schema.name',
      TOOL_MODE,
    );
    refused(
      chatRequest({ response_format: { type: 'json_object' }, thinking: { type: 'enabled', budget_tokens: 2000 } }),
      'thinking',
    );
  });

  it('returns the answer tool’s input as the content with finish_reason stop, whole and streamed', () => {
    const response: AnthropicMessagesResponse = {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'tool_use', id: 'toolu_9', name: 'place', input: { city: 'Paris' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5 },
    };
    const completion = fromAnthropicResponse(response, MODEL, 'anthropic', NOW, 'place');
    assert.equal(completion.choices[0].message.content, '{"city":"Paris"}');
    assert.equal(completion.choices[0].message.tool_calls, undefined);
    assert.equal(completion.choices[0].finish_reason, 'stop');

    const state = createAnthropicStreamState({
      provider: 'anthropic',
      model: MODEL,
      includeUsage: false,
      structuredTool: 'place',
    });
    const events = [
      { type: 'message_start', message: { ...response, content: [], stop_reason: null } },
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: 'toolu_9', name: 'place', input: {} },
      },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 5 } },
      { type: 'message_stop' },
    ] as const;
    const chunks = events.flatMap((event) => fromAnthropicStreamEvent(state, event as never));
    const deltas = chunks.map((chunk) => chunk.choices[0].delta);
    assert.equal(deltas.map((delta) => delta.content ?? '').join(''), '{"city":"Paris"}');
    assert.ok(deltas.every((delta) => delta.tool_calls === undefined));
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, 'stop');
  });
});
