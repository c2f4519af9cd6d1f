import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../common/openai.types.js';
import { readEventStreamMessages } from './bedrock-event-stream.js';
import {
  type BedrockRequestDefaults,
  createBedrockStreamState,
  fromBedrockConverseResponse,
  readBedrockChunks,
  toBedrockConverseRequest,
  toGatewayErrorFromBedrock,
} from './bedrock.mapper.js';
import type { BedrockConverseRequest, BedrockConverseResponse } from './bedrock.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const CLAUDE = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';

function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as T;
}

function bytes(name: string): Buffer {
  return readFileSync(`${FIXTURES}${name}`);
}

function request(overrides: Partial<ChatCompletionRequest> = {}, messages?: ChatMessage[]): ChatCompletionRequest {
  return { model: CLAUDE, messages: messages ?? [{ role: 'user', content: 'hi' }], ...overrides };
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

async function translate(data: AsyncIterable<Buffer>, includeUsage = true): Promise<ChatCompletionChunk[]> {
  const state = createBedrockStreamState({
    provider: 'bedrock',
    model: 'claude-test',
    id: 'chatcmpl-fixture',
    includeUsage,
    now: 1_750_000_000_000,
  });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of readBedrockChunks(readEventStreamMessages(data), state)) chunks.push(chunk);
  return chunks;
}

function rejectsWith(call: () => unknown, param: string): void {
  assert.throws(call, (error: unknown) => error instanceof InvalidRequestError && error.param === param);
}

describe('toBedrockConverseRequest', () => {
  it('translates a whole conversation: system and cache points, images, reasoning, tool calls and results', () => {
    const {
      request: input,
      defaults,
      converse,
    } = fixture<{
      request: ChatCompletionRequest;
      defaults: BedrockRequestDefaults;
      converse: BedrockConverseRequest;
    }>('request-conversation.json');
    assert.deepEqual(toBedrockConverseRequest(input, defaults), converse);
  });

  it('maps reasoning_effort to a Claude thinking budget with room for the answer, capped by the request limit', () => {
    assert.deepEqual(toBedrockConverseRequest(request({ reasoning_effort: 'medium' })), {
      messages: [{ role: 'user', content: [{ text: 'hi' }] }],
      inferenceConfig: { maxTokens: 2048 + 4096 },
      additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 2048 } },
    });
    const capped = toBedrockConverseRequest(request({ reasoning_effort: 'high', max_tokens: 3000 }));
    assert.deepEqual(capped.additionalModelRequestFields, { thinking: { type: 'enabled', budget_tokens: 2999 } });
    assert.equal(capped.inferenceConfig?.maxTokens, 3000);
    const tooSmall = toBedrockConverseRequest(request({ reasoning_effort: 'low', max_tokens: 500 }));
    assert.equal(tooSmall.additionalModelRequestFields, undefined, 'no budget of at least 1024 fits');
    const adaptive = toBedrockConverseRequest(request({ thinking: { type: 'adaptive' }, reasoning_effort: 'high' }));
    assert.deepEqual(adaptive.additionalModelRequestFields, { thinking: { type: 'adaptive' } });
    assert.equal(adaptive.inferenceConfig, undefined);
  });

  it('lets the request override the configured model fields, and keeps Claude fields off other models', () => {
    const defaults = { additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 }, x: 1 } };
    const off = toBedrockConverseRequest(request({ reasoning_effort: 'none' }), defaults);
    assert.deepEqual(off.additionalModelRequestFields, { x: 1 });
    const nova = toBedrockConverseRequest(
      request({ model: NOVA, reasoning_effort: 'high', top_k: 5, thinking: { type: 'adaptive' } }),
    );
    assert.equal(nova.additionalModelRequestFields, undefined);
    assert.equal(nova.inferenceConfig, undefined);
    const arn = 'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0';
    assert.deepEqual(toBedrockConverseRequest(request({ model: arn, top_k: 5 })).additionalModelRequestFields, {
      top_k: 5,
    });
  });

  it('maps tool_choice, and sends no toolConfig for none unless the conversation already used tools', () => {
    const tools: ChatCompletionRequest['tools'] = [{ type: 'function', function: { name: 'lookup' } }];
    const choice = (tool_choice: ChatCompletionRequest['tool_choice']) =>
      toBedrockConverseRequest(request({ tools, tool_choice })).toolConfig;
    const spec = { toolSpec: { name: 'lookup', inputSchema: { json: { type: 'object', properties: {} } } } };
    assert.deepEqual(choice(undefined), { tools: [spec] });
    assert.deepEqual(choice('auto'), { tools: [spec], toolChoice: { auto: {} } });
    assert.deepEqual(choice('required'), { tools: [spec], toolChoice: { any: {} } });
    assert.deepEqual(choice({ type: 'function', function: { name: 'lookup' } }), {
      tools: [spec],
      toolChoice: { tool: { name: 'lookup' } },
    });
    assert.equal(choice('none'), undefined);
    const history: ChatMessage[] = [
      { role: 'user', content: 'look it up' },
      {
        role: 'assistant',
        tool_calls: [{ id: 't1', type: 'function', function: { name: 'lookup', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 't1', content: 'found' },
    ];
    assert.deepEqual(toBedrockConverseRequest(request({ tools, tool_choice: 'none' }, history)).toolConfig, {
      tools: [spec],
    });
    rejectsWith(
      () =>
        toBedrockConverseRequest(
          request({ tools, tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } }),
        ),
      'tool_choice',
    );
  });

  it('sends json_schema as outputConfig with the schema as a string, and refuses json_object', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const body = toBedrockConverseRequest(
      request({
        response_format: { type: 'json_schema', json_schema: { name: 'place', description: 'A place', schema } },
      }),
    );
    assert.deepEqual(body.outputConfig, {
      textFormat: {
        type: 'json_schema',
        structure: { jsonSchema: { schema: JSON.stringify(schema), name: 'place', description: 'A place' } },
      },
    });
    rejectsWith(
      () => toBedrockConverseRequest(request({ response_format: { type: 'json_object' } })),
      'response_format',
    );
    assert.equal(toBedrockConverseRequest(request({ response_format: { type: 'text' } })).outputConfig, undefined);
  });

  it('opens with a user turn, merges repeated roles and drops blank text', () => {
    const body = toBedrockConverseRequest(
      request({}, [
        { role: 'assistant', content: 'Hello!' },
        { role: 'user', content: 'one' },
        { role: 'user', content: [{ type: 'text', text: '  ' }] },
        { role: 'user', content: 'two' },
      ]),
    );
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ text: '.' }] },
      { role: 'assistant', content: [{ text: 'Hello!' }] },
      { role: 'user', content: [{ text: 'one' }, { text: 'two' }] },
    ]);
  });

  it('sends documents as bytes with a valid name', () => {
    const body = toBedrockConverseRequest(
      request({}, [
        {
          role: 'user',
          content: [
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'Q3 report_v2.pdf' } },
            { type: 'text', text: 'Summarise it.' },
          ],
        },
      ]),
    );
    assert.deepEqual(body.messages[0].content[0], {
      document: { format: 'pdf', name: 'Q3 report-v2', source: { bytes: 'JVBERi0=' } },
    });
  });

  it('refuses what Converse cannot express, naming the parameter', () => {
    const user = (content: ChatMessage['content']): ChatMessage[] => [{ role: 'user', content }];
    rejectsWith(() => toBedrockConverseRequest(request({ n: 2 })), 'n');
    rejectsWith(() => toBedrockConverseRequest(request({ logprobs: true })), 'logprobs');
    rejectsWith(() => toBedrockConverseRequest(request({ logit_bias: { 42: 1 } })), 'logit_bias');
    rejectsWith(
      () =>
        toBedrockConverseRequest(
          request({}, user([{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }])),
        ),
      'messages[0].content[0].image_url.url',
    );
    rejectsWith(
      () =>
        toBedrockConverseRequest(
          request({}, user([{ type: 'input_audio', input_audio: { data: '', format: 'wav' } }])),
        ),
      'messages[0].content[0]',
    );
    rejectsWith(() => toBedrockConverseRequest(request({}, [{ role: 'function', content: 'x' }])), 'messages[0].role');
    rejectsWith(() => toBedrockConverseRequest(request({}, [{ role: 'system', content: 'only rules' }])), 'messages');
    rejectsWith(
      () =>
        toBedrockConverseRequest(
          request({}, [
            { role: 'user', content: 'x' },
            { role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{' } }] },
          ]),
        ),
      'messages[1].tool_calls[0].function.arguments',
    );
  });
});

describe('fromBedrockConverseResponse', () => {
  it('returns reasoning with its signature, tool calls, the stop reason and cache-aware usage', () => {
    const recorded = fixture<{ headers: { 'x-amzn-requestid': string }; body: BedrockConverseResponse }>(
      'response-reasoning-tool.json',
    );
    const completion = fromBedrockConverseResponse(recorded.body, {
      model: 'claude-test',
      provider: 'bedrock',
      id: `chatcmpl-${recorded.headers['x-amzn-requestid']}`,
      now: 1_750_000_000_000,
    });
    const thinking = 'The user asked about "Weather in Paris?". I will answer directly.';
    assert.deepEqual(completion, {
      id: 'chatcmpl-6ddc164a-1c28-4b19-abbd-4f7214a80364',
      object: 'chat.completion',
      created: 1_750_000_000,
      model: 'claude-test',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            reasoning_content: thinking,
            thinking_blocks: [
              {
                type: 'thinking',
                thinking,
                signature:
                  '7c57VnKu2+r1PgIHzBpAw1pXeQAP35qaBdoG4RAoXHU5Kf8e6yJfYBSbbDZ8Pl1lB6gEEwbbsLYdqwoHnHBZGlvMaL+a2xrDTXlMKv9A2K7brfSDGHo0umOG1KHDz+2n2Qa5sSgHp2XLf1pA8YFAPd+3o/7k3HKi56ZW6CVKEfU=',
              },
            ],
            tool_calls: [
              {
                id: 'tooluse_F2W_zlQjneRYzDxBYPM8Rh',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 17,
        completion_tokens: 15,
        total_tokens: 32,
        prompt_tokens_details: { cached_tokens: 0, cache_creation_tokens: 11 },
      },
    });
    assert.equal(completion.usage?.total_tokens, recorded.body.usage?.totalTokens);
  });

  it('maps every stop reason', () => {
    const finish = (stopReason: string) =>
      fromBedrockConverseResponse(
        { output: { message: { role: 'assistant', content: [{ text: 'x' }] } }, stopReason } as BedrockConverseResponse,
        { model: 'm', provider: 'bedrock', id: 'chatcmpl-x' },
      ).choices[0].finish_reason;
    assert.equal(finish('end_turn'), 'stop');
    assert.equal(finish('stop_sequence'), 'stop');
    assert.equal(finish('tool_use'), 'tool_calls');
    assert.equal(finish('max_tokens'), 'length');
    assert.equal(finish('model_context_window_exceeded'), 'length');
    assert.equal(finish('guardrail_intervened'), 'content_filter');
    assert.equal(finish('content_filtered'), 'content_filter');
    assert.equal(finish('something_new'), 'stop');
  });

  it('refuses an answer without an output message', () => {
    assert.throws(
      () => fromBedrockConverseResponse({}, { model: 'm', provider: 'b', id: 'x' }),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_invalid_response',
    );
  });
});

describe('ConverseStream translation', () => {
  it('yields the same chunks however the recorded frames are cut: byte by byte, in odd pieces, all at once', async () => {
    for (const name of ['stream-reasoning-tool', 'stream-redacted-text']) {
      const recorded = bytes(`${name}.eventstream`);
      const expected = fixture<ChatCompletionChunk[]>(`${name}.chunks.json`);
      for (const size of [1, 3, 7, 64, recorded.length]) {
        assert.deepEqual(await translate(chunksOf(recorded, size)), expected, `${name} in pieces of ${size}`);
      }
    }
  });

  it('streams reasoning text, then the signature, then tool-call deltas, then finish and usage once', async () => {
    const chunks = fixture<ChatCompletionChunk[]>('stream-reasoning-tool.chunks.json');
    const deltas = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta));
    const reasoning = deltas.map((delta) => delta.reasoning_content ?? '').join('');
    assert.equal(reasoning, 'The user asked about "Weather in Paris?". I will answer directly.');
    const signed = deltas.filter((delta) => delta.thinking_blocks?.some((b) => b.type === 'thinking' && b.signature));
    assert.equal(signed.length, 1);
    const toolDeltas = deltas.filter((delta) => delta.tool_calls);
    assert.equal(toolDeltas[0].tool_calls?.[0].id, 'tooluse_dvdRqRiOS1ocpzYVM-2XVi');
    assert.equal(
      toolDeltas.map((delta) => delta.tool_calls?.[0].function?.arguments ?? '').join(''),
      '{"city":"Paris"}',
    );
    assert.deepEqual(
      chunks.filter((chunk) => chunk.choices[0]?.finish_reason).map((chunk) => chunk.choices[0].finish_reason),
      ['tool_calls'],
    );
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 17,
      completion_tokens: 15,
      total_tokens: 32,
      prompt_tokens_details: { cached_tokens: 11, cache_creation_tokens: 0 },
    });
    const withoutUsage = await translate(chunksOf(bytes('stream-reasoning-tool.eventstream'), 100), false);
    assert.equal(withoutUsage.length, chunks.length - 1);
    assert.ok(withoutUsage.every((chunk) => chunk.usage === undefined && chunk.choices.length === 1));
  });

  it('throws an exception frame mapped like the HTTP error, after the chunks before it', async () => {
    const chunks: ChatCompletionChunk[] = [];
    const state = createBedrockStreamState({ provider: 'bedrock', model: 'm', id: 'x', includeUsage: true });
    await assert.rejects(
      (async () => {
        const messages = readEventStreamMessages(chunksOf(bytes('stream-throttled.eventstream'), 5));
        for await (const chunk of readBedrockChunks(messages, state)) chunks.push(chunk);
      })(),
      (error: unknown) =>
        error instanceof GatewayError &&
        error.status === 429 &&
        error.retryable &&
        /Too many requests/.test(error.message),
    );
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'Hello from ');
  });

  it('reports a stream cut inside a frame, a corrupt frame, or one that ends before its metadata', async () => {
    const recorded = bytes('stream-reasoning-tool.eventstream');
    const interrupted = (error: unknown) =>
      error instanceof GatewayError && error.code === 'upstream_stream_interrupted';
    await assert.rejects(translate(chunksOf(recorded.subarray(0, recorded.length - 10), 50)), interrupted);
    const corrupt = Buffer.from(recorded);
    corrupt[40] ^= 0xff;
    await assert.rejects(translate(chunksOf(corrupt, 50)), interrupted);
    let lastStart = 0;
    for (let offset = 0; offset < recorded.length; offset += recorded.readUInt32BE(offset)) lastStart = offset;
    await assert.rejects(translate(chunksOf(recorded.subarray(0, lastStart), 50)), interrupted);
    const broken = async function* () {
      yield recorded.subarray(0, 200);
      throw new Error('socket hang up');
    };
    await assert.rejects(translate(broken()), interrupted);
  });

  it('pulls the body one chunk at a time and returns it when the consumer stops', async () => {
    const recorded = bytes('stream-reasoning-tool.eventstream');
    let pulled = 0;
    let returned = false;
    const body = async function* () {
      try {
        for (let offset = 0; offset < recorded.length; offset += 32) {
          pulled++;
          yield recorded.subarray(offset, offset + 32);
        }
      } finally {
        returned = true;
      }
    };
    const messages = readEventStreamMessages(body());
    const first = await messages.next();
    assert.ok(!first.done);
    assert.equal(first.value.type, 'messageStart');
    const firstLength = recorded.readUInt32BE(0);
    assert.equal(pulled, Math.ceil(firstLength / 32), 'no read beyond the first message');
    await messages.return(undefined);
    assert.ok(returned);
  });
});

describe('toGatewayErrorFromBedrock', () => {
  it('maps each recorded error to its status, code and retryability', () => {
    const recorded = fixture<Array<{ status: number; headers: IncomingHttpHeaders; body: unknown }>>('errors.json');
    const mapped = recorded.map(({ status, headers, body }) => {
      const error = toGatewayErrorFromBedrock('bedrock', status, body, headers);
      return [String(headers['x-amzn-errortype']).split(':')[0], error.status, error.code, error.retryable];
    });
    assert.deepEqual(mapped, [
      ['ThrottlingException', 429, 'rate_limit_exceeded', true],
      ['ModelNotReadyException', 503, 'overloaded', true],
      ['ServiceUnavailableException', 503, 'overloaded', true],
      ['ValidationException', 400, 'invalid_request', false],
      ['AccessDeniedException', 403, 'upstream_permission_denied', false],
      ['ResourceNotFoundException', 404, 'model_not_found', false],
      ['ModelTimeoutException', 504, 'upstream_timeout', true],
      ['InternalServerException', 500, 'upstream_error', true],
      ['ModelErrorException', 502, 'upstream_error', true],
      ['ServiceQuotaExceededException', 429, 'rate_limit_exceeded', true],
      ['UnrecognizedClientException', 502, 'upstream_auth_error', false],
      ['ExpiredTokenException', 502, 'upstream_auth_error', false],
      ['InvalidSignatureException', 502, 'upstream_auth_error', false],
    ]);
  });

  it('reads the type from the body when the header is missing, honours Retry-After, spots long inputs', () => {
    const fromBody = toGatewayErrorFromBedrock(
      'bedrock',
      400,
      { __type: 'com.amazon.bedrock#ThrottlingException' },
      {},
    );
    assert.equal(fromBody.status, 429);
    const later = toGatewayErrorFromBedrock('bedrock', 429, { message: 'slow down' }, { 'retry-after': '3' });
    assert.equal(later.retryAfterMs, 3000);
    const long = toGatewayErrorFromBedrock(
      'bedrock',
      400,
      { message: 'Input is too long for requested model.' },
      { 'x-amzn-errortype': 'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/' },
    );
    assert.equal(long.code, 'context_length_exceeded');
    assert.equal(toGatewayErrorFromBedrock('bedrock', 502, '<html>bad gateway</html>', {}).status, 502);
  });
});
