/** The official `openai` SDK, unchanged, against the gateway. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { openAiSimConfig, type RunningGateway, startGateway } from './harness.js';

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];

describe('official openai SDK against the gateway', () => {
  const sim = new OpenAiSimulator({ apiKey: 'sk-sim-upstream-secret' });
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    gateway = await startGateway(
      openAiSimConfig(await sim.start(), {
        models: [
          { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] },
          { name: 'embed-test', deployments: [{ provider: 'sim', model: 'sim-embed' }] },
        ],
      }),
    );
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('creates a chat completion', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hello sdk' }],
    });
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.choices[0].message.content ?? '', /hello sdk/);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.ok(completion.usage && completion.usage.total_tokens > 0);
  });

  it('streams a chat completion with usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.match(text, /stream please/);
    assert.ok(usage && usage.completion_tokens > 0);
  });

  it('round-trips a tool call, non-streaming and streaming', async () => {
    const first = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
    });
    const call = first.choices[0].message.tool_calls?.[0];
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.ok(call && call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

    const runner = client.chat.completions.stream({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
    });
    const streamed = await runner.finalChatCompletion();
    const streamedCall = streamed.choices[0].message.tool_calls?.[0];
    assert.ok(streamedCall && streamedCall.type === 'function');
    assert.deepEqual(JSON.parse(streamedCall.function.arguments), { city: 'Paris' });

    const answer = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [
        { role: 'user', content: 'weather in Paris?' },
        first.choices[0].message,
        { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' },
      ],
      tools,
    });
    assert.match(answer.choices[0].message.content ?? '', /sunny, 21C/);
  });

  it('surfaces errors as the typed SDK errors with the request id', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) =>
        error instanceof OpenAI.NotFoundError && error.code === 'model_not_found' && !!error.requestID,
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }], temperature: 9 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'temperature',
    );
    sim.enqueueFault({ status: 429, retryAfterSeconds: 30 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof OpenAI.RateLimitError,
    );
    sim.enqueueFault({ status: 500, times: 3 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }),
      (error: unknown) => error instanceof OpenAI.InternalServerError,
    );
  });

  it('raises an APIError when the stream breaks mid-way', async () => {
    sim.enqueueFault({ dropAfterChunks: 2 });
    const stream = await client.chat.completions.create({
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await assert.rejects(
      (async () => {
        for await (const chunk of stream) void chunk;
      })(),
      (error: unknown) => error instanceof OpenAI.APIError && /lost mid-stream/i.test(error.message),
    );
  });

  it('lists and retrieves models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ['gpt-test', 'embed-test']);
    assert.equal((await client.models.retrieve('gpt-test')).id, 'gpt-test');
    await assert.rejects(client.models.retrieve('missing'), OpenAI.NotFoundError);
  });

  it('decodes embeddings in the default base64 encoding to the same floats as float encoding', async () => {
    const viaBase64 = await client.embeddings.create({ model: 'embed-test', input: ['alpha', 'beta'] });
    const viaFloat = await client.embeddings.create({
      model: 'embed-test',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
    });
    assert.equal(viaBase64.data.length, 2);
    assert.deepEqual(
      viaBase64.data.map((d) => d.embedding),
      viaFloat.data.map((d) => d.embedding),
    );
    assert.ok(viaFloat.data[0].embedding.every((v) => typeof v === 'number' && v >= -1 && v <= 1));
    assert.equal((sim.requests[0].body as { encoding_format: string }).encoding_format, 'float');
  });
});
