/** The `anthropic` provider end to end: official `openai` SDK → gateway → Anthropic simulator, over real HTTP. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { parseOpenAiStream, toolCallsFromDeltas } from './stream-assertions.js';

const UPSTREAM_KEY = 'sk-ant-e2e-upstream-secret';
const UPSTREAM_MODEL = 'claude-sim-1';

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];
const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };

/** One `anthropic` provider serving the public model `claude-test`; no transport retries, so faults surface at once. */
function anthropicConfig(baseUrl: string, apiKey = UPSTREAM_KEY): Record<string, unknown> {
  return {
    providers: [
      {
        name: 'claude',
        type: 'anthropic',
        baseUrl,
        apiKey,
        retry: { retries: 0 },
        timeouts: { connectMs: 1_000, firstByteMs: 2_000, totalMs: 5_000 },
      },
    ],
    models: [{ name: 'claude-test', deployments: [{ provider: 'claude', model: UPSTREAM_MODEL }] }],
  };
}

describe('anthropic provider through the gateway (official openai SDK)', () => {
  const sim = new AnthropicSimulator({ apiKey: UPSTREAM_KEY });
  let simUrl: string;
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    simUrl = await sim.start();
    gateway = await startGateway(anthropicConfig(simUrl));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('answers a non-streaming completion and translates the request to the Messages API', async () => {
    const completion = await client.chat.completions.create({
      model: 'claude-test',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello claude' },
      ],
      temperature: 1.5,
      stop: ['zzz'],
    });
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-msg_sim_/);
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(completion.choices[0].message.content, `Hello from ${UPSTREAM_MODEL}: hello claude`);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.ok(completion.usage && completion.usage.prompt_tokens > 0 && completion.usage.completion_tokens > 0);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);

    const upstream = sim.requests[0];
    assert.equal(upstream.path, '/v1/messages');
    assert.equal(upstream.headers['x-api-key'], UPSTREAM_KEY);
    assert.equal(upstream.headers['anthropic-version'], '2023-06-01');
    const body = upstream.body as Record<string, unknown>;
    assert.equal(body.model, UPSTREAM_MODEL);
    assert.equal(body.system, 'be brief');
    assert.equal(body.max_tokens, 4096);
    assert.equal(body.temperature, 1, 'OpenAI temperature 0–2 is clamped to Anthropic 0–1');
    assert.deepEqual(body.stop_sequences, ['zzz']);
    assert.deepEqual(body.messages, [{ role: 'user', content: 'hello claude' }]);
  });

  it('maps max_tokens truncation to finish_reason length', async () => {
    const completion = await client.chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'one two three four five' }],
      max_completion_tokens: 2,
    });
    assert.equal(completion.choices[0].finish_reason, 'length');
    assert.equal(completion.usage?.completion_tokens, 2);
  });

  it('streams text with the SDK, a usage chunk when asked, up to [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finishReason: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, `Hello from ${UPSTREAM_MODEL}: stream please`);
    assert.equal(finishReason, 'stop');
    assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert.ok(chunks >= 5, `only ${chunks} chunks`);
    assert.equal((sim.requests[0].body as { stream: boolean }).stream, true);
  });

  it('frames the stream exactly as OpenAI does (raw SSE)', async () => {
    const response = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: 'claude-test',
      messages: [{ role: 'user', content: 'frame check' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const chunks = parseOpenAiStream(await response.text(), true);
    assert.equal(
      chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''),
      `Hello from ${UPSTREAM_MODEL}: frame check`,
    );

    const withoutUsage = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: 'claude-test',
      messages: [{ role: 'user', content: 'no usage' }],
      stream: true,
    });
    parseOpenAiStream(await withoutUsage.text(), false);
  });

  it('round-trips a tool call without streaming', async () => {
    const first = await client.chat.completions.create({ model: 'claude-test', messages: [question], tools });
    const message = first.choices[0].message;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(message.tool_calls?.length, 1);
    const call = message.tool_calls[0];
    assert.ok(call.type === 'function');
    assert.match(call.id, /^toolu_sim_/);
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    const sentTools = (sim.requests[0].body as { tools: unknown }).tools;
    assert.deepEqual(sentTools, [
      {
        name: 'get_weather',
        description: 'Current weather of a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    ]);

    const answer = await client.chat.completions.create({
      model: 'claude-test',
      messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }],
      tools,
    });
    assert.equal(answer.choices[0].finish_reason, 'stop');
    assert.equal(answer.choices[0].message.content, 'Tool said: sunny, 21C');
    const sent = (sim.requests[1].body as { messages: unknown[] }).messages;
    assert.deepEqual(sent.slice(1), [
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: call.id, name: 'get_weather', input: { city: 'Paris' } }],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21C' }] },
    ]);
  });

  it('round-trips a tool call while streaming, with OpenAI tool-call deltas', async () => {
    const runner = client.chat.completions.stream({ model: 'claude-test', messages: [question], tools });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    runner.on('chunk', (chunk) => chunks.push(chunk));
    const final = await runner.finalChatCompletion();
    const message = final.choices[0].message;
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
    const call = message.tool_calls?.[0];
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

    const calls = toolCallsFromDeltas(chunks);
    assert.deepEqual(calls, [{ id: call.id, name: 'get_weather', arguments: { city: 'Paris' } }]);
    assert.ok(
      chunks.filter((c) => c.choices[0]?.delta.tool_calls).length >= 3,
      'the arguments arrive in several fragments',
    );

    const answer = client.chat.completions.stream({
      model: 'claude-test',
      messages: [
        question,
        { role: 'assistant', content: null, tool_calls: message.tool_calls },
        { role: 'tool', tool_call_id: call.id, content: 'rainy, 12C' },
      ],
      tools,
    });
    const text = await answer.finalContent();
    assert.equal(text, 'Tool said: rainy, 12C');
  });

  it('maps Anthropic 529 overloaded to an InternalServerError with status 503', async () => {
    sim.enqueueFault({ status: 529 });
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) =>
        error instanceof OpenAI.InternalServerError && error.status === 503 && error.code === 'overloaded',
    );
    sim.enqueueFault({ status: 529 });
    await assert.rejects(
      client.chat.completions.create({
        model: 'claude-test',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
      (error: unknown) => error instanceof OpenAI.InternalServerError && error.status === 503,
      'a failure before the first event is a real HTTP status',
    );
    assert.equal(sim.received, 2, 'retries are off for this provider');
  });

  it('maps Anthropic 429 to a RateLimitError carrying Retry-After', async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 7 });
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) =>
        error instanceof OpenAI.RateLimitError &&
        error.code === 'rate_limit_exceeded' &&
        error.headers?.get('retry-after') === '7',
    );
  });

  it('ends the stream with an error event when Anthropic sends `event: error` mid-stream', async () => {
    sim.enqueueFault({ midStreamError: true });
    const stream = await client.chat.completions.create({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'a longer message to stream' }],
      stream: true,
    });
    let text = '';
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
      (error: unknown) => error instanceof OpenAI.APIError && /Overloaded/.test(error.message),
    );
    assert.ok(text.length > 0, 'the text before the error was delivered');
  });

  it('rejects an unknown model with NotFoundError and an unsupported parameter with BadRequestError', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-nope', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }], n: 2 }),
      (error: unknown) =>
        error instanceof OpenAI.BadRequestError && error.param === 'n' && error.code === 'unsupported_parameter',
    );
    await assert.rejects(
      client.chat.completions.create({
        model: 'claude-test',
        messages: [{ role: 'user', content: 'x' }],
        logprobs: true,
      }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'logprobs',
    );
    assert.equal(sim.received, 0, 'refused before any upstream call');
  });

  it('answers 502 without leaking the key when Anthropic rejects the gateway credential', async () => {
    const wrongKey = 'sk-ant-e2e-wrong-key-0123456789';
    const strictGateway = await startGateway(anthropicConfig(simUrl, wrongKey));
    try {
      const strictClient = new OpenAI({ baseURL: `${strictGateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
      await assert.rejects(
        strictClient.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }] }),
        (error: unknown) =>
          error instanceof OpenAI.InternalServerError && error.status === 502 && error.code === 'upstream_auth_error',
      );
      const response = await postJson(`${strictGateway.url}/v1/chat/completions`, {
        model: 'claude-test',
        messages: [{ role: 'user', content: 'x' }],
      });
      assert.equal(response.status, 502);
      assert.equal(response.headers.get('x-should-retry'), 'false');
      const text = await response.text();
      assert.ok(!text.includes(wrongKey) && !text.includes(UPSTREAM_KEY), text);
    } finally {
      await strictGateway.close();
    }
  });
});
