import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Cancellation } from '../../src/common/cancellation.js';
import { GatewayError } from '../../src/common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from '../../src/common/openai.types.js';
import { ProviderConfig, RetryConfig } from '../../src/config/gateway-config.js';
import { AnthropicProvider } from '../../src/providers/anthropic/anthropic.provider.js';
import type { ProviderCallContext } from '../../src/providers/llm-provider.js';
import { AnthropicSimulator } from './anthropic-simulator.js';

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
  let provider: AnthropicProvider;

  const providerFor = (apiKey: string, options = {}) =>
    new AnthropicProvider(
      Object.assign(new ProviderConfig(), {
        name: 'anthropic',
        type: 'anthropic',
        baseUrl,
        apiKey,
        // Fast retries: the defaults wait up to seconds between attempts.
        retry: Object.assign(new RetryConfig(), { retries: 2, baseDelayMs: 1, maxDelayMs: 5 }),
      }),
      options,
    );

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
    provider = providerFor(sim.apiKey);
  });
  after(async () => {
    provider.close();
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
      prompt_tokens_details: { cached_tokens: 0 },
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
    const custom = providerFor(sim.apiKey, { version: '2024-01-01', defaultMaxTokens: 3 });
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
      custom.close();
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
      prompt_tokens_details: { cached_tokens: 0 },
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
    const toolCall = message.tool_calls![0];
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
    const wrongKey = providerFor('sk-ant-wrong');
    try {
      await assert.rejects(
        () => wrongKey.chat({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }, context()),
        (error: unknown) =>
          error instanceof GatewayError && error.status === 502 && error.code === 'upstream_auth_error',
      );
    } finally {
      wrongKey.close();
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
