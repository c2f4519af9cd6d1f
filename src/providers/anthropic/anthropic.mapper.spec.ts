import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import {
  type AnthropicRequestDefaults,
  createAnthropicStreamState,
  fromAnthropicResponse,
  fromAnthropicStreamEvent,
  readAnthropicChunks,
  toAnthropicRequest,
  toFinishReason,
  toGatewayErrorFromAnthropic,
} from './anthropic.mapper.js';
import type { AnthropicMessagesResponse, AnthropicStopReason } from './anthropic.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');
const fixture = <T>(name: string): T => JSON.parse(fixtureText(name)) as T;

const DEFAULTS: AnthropicRequestDefaults = {
  defaultMaxTokens: 4096,
  version: '2023-06-01',
  structuredOutput: 'native',
};
const NOW = 1_764_300_000_000;
const MODEL = 'claude-sonnet-4-5';

const chatRequest = (overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: MODEL,
  messages: [{ role: 'user', content: 'Hi' }],
  ...overrides,
});

function expectInvalid(request: ChatCompletionRequest, param: string, code?: string): void {
  assert.throws(
    () => toAnthropicRequest(request, DEFAULTS),
    (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, param);
      if (code) assert.equal(error.code, code);
      return true;
    },
  );
}

/** Splits a transcript into small pieces so that events and lines straddle chunk boundaries. */
function pieces(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const result: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) result.push(bytes.subarray(offset, offset + size));
  return result;
}

async function collect(
  transcript: string,
  includeUsage: boolean,
): Promise<{ chunks: ChatCompletionChunk[]; error?: unknown }> {
  const state = createAnthropicStreamState({ provider: 'anthropic', model: MODEL, includeUsage, now: NOW });
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of readAnthropicChunks(Readable.from(pieces(transcript, 7)), state)) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks };
}

describe('toAnthropicRequest', () => {
  it('translates a recorded multi-turn tool conversation', () => {
    const { openai, anthropic } = fixture<{ openai: ChatCompletionRequest; anthropic: unknown }>(
      'request-conversation.json',
    );
    assert.deepEqual(toAnthropicRequest(openai, DEFAULTS), anthropic);
  });

  it('keeps string user content a string and uses the default max_tokens', () => {
    assert.deepEqual(toAnthropicRequest(chatRequest(), DEFAULTS), {
      model: MODEL,
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(toAnthropicRequest(chatRequest({ max_tokens: 300 }), DEFAULTS).max_tokens, 300);
  });

  it('merges consecutive same-role turns and opens with a placeholder user turn when needed', () => {
    const body = toAnthropicRequest(
      chatRequest({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'assistant', content: [{ type: 'text', text: 'How can I help?' }] },
          { role: 'user', content: 'Hi' },
          { role: 'system', content: 'Late rule.' },
          { role: 'user', content: [{ type: 'text', text: 'there' }] },
          { role: 'assistant', content: null },
        ],
      }),
      DEFAULTS,
    );
    assert.equal(body.system, 'Be brief.\n\nLate rule.');
    assert.deepEqual(body.messages, [
      { role: 'user', content: '.' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Hello!' },
          { type: 'text', text: 'How can I help?' },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi' },
          { type: 'text', text: 'there' },
        ],
      },
    ]);
  });

  it('turns empty tool arguments into an empty input object', () => {
    const body = toAnthropicRequest(
      chatRequest({
        messages: [
          { role: 'user', content: 'time?' },
          {
            role: 'assistant',
            content: '',
            tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_time', arguments: '' } }],
          },
          { role: 'tool', tool_call_id: 'toolu_1', content: '12:00' },
        ],
      }),
      DEFAULTS,
    );
    assert.deepEqual(body.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_time', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '12:00' }] },
    ]);
  });

  it('clamps temperature to 0–1 and omits sampling parameters on API version 2026-10-21', () => {
    assert.equal(toAnthropicRequest(chatRequest({ temperature: 0.3 }), DEFAULTS).temperature, 0.3);
    assert.equal(toAnthropicRequest(chatRequest({ temperature: 2 }), DEFAULTS).temperature, 1);
    const newVersion = { ...DEFAULTS, version: '2026-10-21' };
    const dropped = toAnthropicRequest(chatRequest({ temperature: 0.3, top_p: 0.5 }), newVersion);
    assert.equal(dropped.temperature, undefined);
    assert.equal(dropped.top_p, undefined);
    assert.equal(toAnthropicRequest(chatRequest({ temperature: 1 }), newVersion).temperature, 1);
  });

  it('maps every tool_choice form', () => {
    const tools: ChatCompletionRequest['tools'] = [{ type: 'function', function: { name: 'get_weather' } }];
    const choiceOf = (request: Partial<ChatCompletionRequest>) =>
      toAnthropicRequest(chatRequest({ tools, ...request }), DEFAULTS).tool_choice;
    assert.equal(choiceOf({}), undefined);
    assert.deepEqual(choiceOf({ tool_choice: 'auto' }), { type: 'auto' });
    assert.deepEqual(choiceOf({ tool_choice: 'none' }), { type: 'none' });
    assert.deepEqual(choiceOf({ tool_choice: 'none', parallel_tool_calls: false }), { type: 'none' });
    assert.deepEqual(choiceOf({ tool_choice: 'required' }), { type: 'any' });
    assert.deepEqual(choiceOf({ tool_choice: { type: 'function', function: { name: 'get_weather' } } }), {
      type: 'tool',
      name: 'get_weather',
    });
    assert.deepEqual(choiceOf({ parallel_tool_calls: false }), { type: 'auto', disable_parallel_tool_use: true });
    assert.equal(toAnthropicRequest(chatRequest({ tool_choice: 'auto' }), DEFAULTS).tool_choice, undefined);
  });

  it('rejects what Anthropic cannot do with a 400 naming the parameter', () => {
    expectInvalid(chatRequest({ n: 2 }), 'n', 'unsupported_parameter');
    expectInvalid(chatRequest({ logprobs: true }), 'logprobs', 'unsupported_parameter');
    expectInvalid(chatRequest({ logit_bias: { '50256': -100 } }), 'logit_bias', 'unsupported_parameter');
    expectInvalid(chatRequest({ audio: { voice: 'alloy', format: 'wav' } }), 'audio', 'unsupported_parameter');
    expectInvalid(
      chatRequest({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }),
      'response_format.json_schema.schema',
    );
    expectInvalid(
      chatRequest({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'transcribe' },
              { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            ],
          },
        ],
      }),
      'messages[0].content[1]',
      'unsupported_value',
    );
    expectInvalid(
      chatRequest({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }],
      }),
      'messages[0].content[0].image_url.url',
    );
    expectInvalid(
      chatRequest({
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/tiff;base64,AAAA' } }] },
        ],
      }),
      'messages[0].content[0].image_url.url',
      'unsupported_value',
    );
    expectInvalid(
      chatRequest({
        messages: [
          { role: 'user', content: 'x' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
          },
        ],
      }),
      'messages[1].tool_calls[0].function.arguments',
    );
    expectInvalid(chatRequest({ messages: [{ role: 'function', content: 'x', name: 'f' }] }), 'messages[0].role');
    expectInvalid(chatRequest({ messages: [{ role: 'system', content: 'only rules' }] }), 'messages');
    expectInvalid(
      chatRequest({
        tools: [{ type: 'function', function: { name: 'f' } }],
        tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } },
      }),
      'tool_choice',
    );
  });
});

describe('fromAnthropicResponse', () => {
  it('joins text blocks and counts cache tokens into prompt_tokens', () => {
    const completion = fromAnthropicResponse(fixture('response-text.json'), MODEL, 'anthropic', NOW);
    assert.deepEqual(completion, {
      id: 'chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: 1_764_300_000,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Paris is warmer today (22°C vs 14°C).', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 171,
        completion_tokens: 14,
        total_tokens: 185,
        prompt_tokens_details: { cached_tokens: 50, cache_creation_tokens: 100 },
      },
    });
  });

  it('turns tool_use blocks into tool_calls', () => {
    const completion = fromAnthropicResponse(fixture('response-tool-use.json'), MODEL, 'anthropic', NOW);
    assert.deepEqual(completion.choices[0], {
      index: 0,
      message: {
        role: 'assistant',
        content: "I'll look up the weather in Paris.",
        refusal: null,
        tool_calls: [
          {
            id: 'toolu_01A09q90qw90lq917835lq9',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
          },
        ],
      },
      logprobs: null,
      finish_reason: 'tool_calls',
    });
    assert.equal(completion.usage?.total_tokens, 563);
  });

  it('reports content null when there are only tool calls, and rejects a body without content', () => {
    const response = fixture<AnthropicMessagesResponse>('response-tool-use.json');
    response.content = response.content.filter((block) => block.type === 'tool_use');
    assert.equal(fromAnthropicResponse(response, MODEL, 'anthropic', NOW).choices[0].message.content, null);
    assert.throws(
      () => fromAnthropicResponse({} as AnthropicMessagesResponse, MODEL, 'anthropic'),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_invalid_response',
    );
  });

  it('maps every stop_reason', () => {
    const expected: Record<AnthropicStopReason, string> = {
      end_turn: 'stop',
      stop_sequence: 'stop',
      pause_turn: 'stop',
      max_tokens: 'length',
      model_context_window_exceeded: 'length',
      tool_use: 'tool_calls',
      refusal: 'content_filter',
    };
    for (const [reason, finish] of Object.entries(expected)) {
      assert.equal(toFinishReason(reason as AnthropicStopReason), finish, reason);
    }
    assert.equal(toFinishReason(null), 'stop');
  });
});

describe('Anthropic stream translation', () => {
  const transcript = fixtureText('stream-tool-calls.sse');

  it('turns a recorded text + two tool calls transcript into the exact OpenAI chunk sequence', async () => {
    const { chunks, error } = await collect(transcript, true);
    assert.equal(error, undefined);
    assert.deepEqual(chunks, fixture('stream-tool-calls.chunks.json'));
  });

  it('keeps the OpenAI stream invariants chunk by chunk', async () => {
    const { chunks } = await collect(transcript, true);
    const first = chunks[0];
    const seenCalls = new Set<number>();
    const argumentsByCall = new Map<number, string>();
    chunks.forEach((chunk, n) => {
      assert.equal(chunk.id, first.id, `chunk ${n} id`);
      assert.equal(chunk.created, first.created, `chunk ${n} created`);
      assert.equal(chunk.model, MODEL, `chunk ${n} model`);
      assert.equal(chunk.object, 'chat.completion.chunk');
      const isUsageChunk = n === chunks.length - 1;
      if (isUsageChunk) {
        assert.deepEqual(chunk.choices, []);
        assert.ok(chunk.usage);
        return;
      }
      assert.equal(chunk.usage, null, `chunk ${n} usage`);
      const choice = chunk.choices[0];
      assert.equal(choice.delta.role !== undefined, n === 0, `chunk ${n} role`);
      assert.equal(choice.finish_reason !== null, n === chunks.length - 2, `chunk ${n} finish_reason`);
      for (const call of choice.delta.tool_calls ?? []) {
        const isFirst = !seenCalls.has(call.index);
        seenCalls.add(call.index);
        assert.equal(call.id !== undefined, isFirst, `chunk ${n}: id only on the first delta of call ${call.index}`);
        assert.equal(call.type !== undefined, isFirst, `chunk ${n}: type only on the first delta`);
        assert.equal(call.function?.name !== undefined, isFirst, `chunk ${n}: name only on the first delta`);
        argumentsByCall.set(call.index, (argumentsByCall.get(call.index) ?? '') + (call.function?.arguments ?? ''));
      }
    });
    assert.deepEqual([...seenCalls], [0, 1]);
    assert.deepEqual(JSON.parse(argumentsByCall.get(0)!), { city: 'Paris', unit: 'celsius' });
    assert.deepEqual(JSON.parse(argumentsByCall.get(1)!), { city: 'London', unit: 'celsius' });
  });

  it('sends no usage fields and no usage chunk unless include_usage is set', async () => {
    const { chunks } = await collect(transcript, false);
    assert.equal(chunks.length, 12);
    assert.ok(chunks.every((chunk) => !('usage' in chunk)));
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');
  });

  it('throws streamInterrupted when the stream ends without message_stop, with no finish chunk sent', async () => {
    const cut = transcript.slice(0, transcript.indexOf('event: message_delta'));
    const { chunks, error } = await collect(cut, true);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'upstream_stream_interrupted');
    assert.equal(error.status, 502);
    assert.equal(chunks.length, 11);
    assert.ok(chunks.every((chunk) => chunk.choices[0]?.finish_reason === null));
  });

  it('maps an error event: overloaded_error to overloaded, anything else to streamInterrupted', async () => {
    const head = transcript.slice(0, transcript.indexOf('event: content_block_stop'));
    const overloaded = await collect(
      `${head}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`,
      true,
    );
    assert.equal(overloaded.chunks.length, 3);
    assert.ok(overloaded.error instanceof GatewayError);
    assert.equal(overloaded.error.status, 503);
    assert.equal(overloaded.error.code, 'overloaded');
    const apiError = await collect(
      `${head}event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal server error"}}\n\n`,
      true,
    );
    assert.ok(apiError.error instanceof GatewayError);
    assert.equal(apiError.error.code, 'upstream_stream_interrupted');
    assert.equal(apiError.error.message, 'anthropic: Internal server error');
  });

  it('ignores unknown events and anything after message_stop', () => {
    const state = createAnthropicStreamState({ provider: 'anthropic', model: MODEL, includeUsage: false, now: NOW });
    const start = fixture<AnthropicMessagesResponse>('response-text.json');
    assert.equal(
      fromAnthropicStreamEvent(state, { type: 'message_start', message: { ...start, content: [] } }).length,
      1,
    );
    assert.deepEqual(fromAnthropicStreamEvent(state, { type: 'future_event' } as never), []);
    assert.deepEqual(
      fromAnthropicStreamEvent(state, {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'citations_delta', citation: {} },
      }),
      [],
    );
    assert.equal(fromAnthropicStreamEvent(state, { type: 'message_stop' }).length, 1);
    assert.deepEqual(fromAnthropicStreamEvent(state, { type: 'message_stop' }), []);
  });

  it('rejects content before message_start and events that are not JSON', async () => {
    const state = createAnthropicStreamState({ provider: 'anthropic', model: MODEL, includeUsage: false });
    assert.throws(
      () => fromAnthropicStreamEvent(state, { type: 'content_block_stop', index: 0 }),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_invalid_response',
    );
    const { error } = await collect('event: message_start\ndata: {"type":"message_st\n\n', false);
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'upstream_invalid_response');
  });

  it('reports a broken connection as streamInterrupted', async () => {
    const state = createAnthropicStreamState({ provider: 'anthropic', model: MODEL, includeUsage: false });
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from(transcript.slice(0, 600));
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    }
    await assert.rejects(
      async () => {
        for await (const chunk of readAnthropicChunks(broken(), state)) assert.ok(chunk);
      },
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_stream_interrupted',
    );
  });
});

describe('toGatewayErrorFromAnthropic', () => {
  interface ErrorCase {
    name: string;
    status: number;
    headers: Record<string, string>;
    body: unknown;
    expected: {
      status: number;
      type: string;
      code: string;
      retryable: boolean;
      param?: string | null;
      retryAfterMs?: number;
      message?: string;
    };
  }

  for (const errorCase of fixture<ErrorCase[]>('errors.json')) {
    it(`maps ${errorCase.name}`, () => {
      const error = toGatewayErrorFromAnthropic('anthropic', errorCase.status, errorCase.body, errorCase.headers);
      const { expected } = errorCase;
      assert.equal(error.status, expected.status);
      assert.equal(error.type, expected.type);
      assert.equal(error.code, expected.code);
      assert.equal(error.retryable, expected.retryable);
      if ('param' in expected) assert.equal(error.param, expected.param);
      if (expected.retryAfterMs !== undefined) assert.equal(error.retryAfterMs, expected.retryAfterMs);
      if (expected.message !== undefined) assert.equal(error.message, expected.message);
      assert.ok(error.message.startsWith('anthropic: '));
    });
  }
});
