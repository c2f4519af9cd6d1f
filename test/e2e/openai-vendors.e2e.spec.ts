/**
 * OpenAI-compatible vendors through the official `openai` SDK: per vendor, a gateway with `type: openai` and
 * `options.vendor` in front of the simulator in that vendor's mode answers a completion and a stream, and handles
 * the vendor's quirk; the same gateway without the preset shows the quirk (so each test can fail).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import OpenAI from 'openai';
import { OpenAiSimulator, type OpenAiSimulatorOptions, type Vendor } from '../simulators/openai-simulator.js';
import { type RunningGateway, startGateway } from './harness.js';

type Params = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;
type StreamParams = OpenAI.Chat.ChatCompletionCreateParamsStreaming & Record<string, unknown>;

interface Pair {
  sim: OpenAiSimulator;
  /** The gateway with the preset (`model: 'with'`) and without it (`model: 'without'`). */
  client: OpenAI;
}

const running: Array<{ sim: OpenAiSimulator; gateway: RunningGateway }> = [];

/** One simulator in the vendor's mode; deployments `with` (options.vendor) and `without` (plain openai) on it. */
async function vendorPair(
  vendor: Vendor,
  upstreamModel: string,
  simOptions: OpenAiSimulatorOptions = {},
  options: Record<string, unknown> = { vendor },
): Promise<Pair> {
  const sim = new OpenAiSimulator({ vendor, name: vendor, ...simOptions });
  const baseUrl = await sim.start();
  const provider = (name: string, providerOptions: Record<string, unknown>) => ({
    name,
    type: 'openai',
    baseUrl,
    apiKey: 'sk-sim-upstream-secret',
    options: providerOptions,
    retry: { retries: 0 },
    timeouts: { connectMs: 1_000, firstByteMs: 5_000, totalMs: 10_000 },
  });
  const gateway = await startGateway({
    providers: [provider('with-preset', options), provider('plain', {})],
    models: [
      { name: 'with', deployments: [{ provider: 'with-preset', model: upstreamModel }] },
      { name: 'without', deployments: [{ provider: 'plain', model: upstreamModel }] },
    ],
  });
  running.push({ sim, gateway });
  return { sim, client: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 }) };
}

const user = (content: string): OpenAI.Chat.ChatCompletionMessageParam[] => [{ role: 'user', content }];

/** A streamed answer's text, reasoning and usage. */
async function streamOf(client: OpenAI, params: StreamParams) {
  const stream = await client.chat.completions.create(params);
  let text = '';
  let reasoning = '';
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null = null;
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta as
      (OpenAI.Chat.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }) | undefined;
    text += delta?.content ?? '';
    reasoning += delta?.reasoning_content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, reasoning, usage, finish };
}

/** Basic completion and stream through the preset. */
async function answersAndStreams(client: OpenAI, prompt = 'Hello vendor') {
  const completion = await client.chat.completions.create({ model: 'with', messages: user(prompt) });
  assert.match(completion.choices[0].message.content ?? '', new RegExp(prompt));
  assert.equal(completion.choices[0].finish_reason, 'stop');
  const streamed = await streamOf(client, {
    model: 'with',
    messages: user(prompt),
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.match(streamed.text, new RegExp(prompt));
  assert.equal(streamed.finish, 'stop');
  assert.ok(streamed.usage && streamed.usage.total_tokens > 0);
}

const reasoningOf = (message: OpenAI.Chat.ChatCompletionMessage) =>
  (message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string }).reasoning_content;

describe('OpenAI-compatible vendor presets through the openai SDK', () => {
  after(async () => {
    for (const { sim, gateway } of running) {
      await gateway.close();
      await sim.stop();
    }
  });

  it('deepseek: reasoning_effort switches thinking on (reasoning_content, reasoning tokens), logprobs left out, cache hits as cached_tokens', async () => {
    const { client } = await vendorPair('deepseek', 'deepseek-chat');
    await answersAndStreams(client);
    const reasoned = await client.chat.completions.create({
      model: 'with',
      messages: user('9.11 or 9.8?'),
      reasoning_effort: 'high',
    });
    assert.match(reasoningOf(reasoned.choices[0].message) ?? '', /^Considering the request/);
    assert.ok((reasoned.usage?.completion_tokens_details?.reasoning_tokens ?? 0) > 0);
    const streamed = await streamOf(client, {
      model: 'with',
      messages: user('Hi'),
      reasoning_effort: 'low',
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.match(streamed.reasoning, /^Considering the request: Hi/);

    const system: OpenAI.Chat.ChatCompletionMessageParam = { role: 'system', content: 'Be exact.' };
    await client.chat.completions.create({ model: 'with', messages: [system, ...user('One')] });
    const cached = await client.chat.completions.create({ model: 'with', messages: [system, ...user('Two')] });
    assert.ok((cached.usage?.prompt_tokens_details?.cached_tokens ?? 0) > 0);

    // The reasoner refuses logprobs: dropped with the preset, DeepSeek's 400 without it.
    const reasoner = await vendorPair('deepseek', 'deepseek-reasoner');
    const logprobs = await reasoner.client.chat.completions.create({
      model: 'with',
      messages: user('Hi'),
      logprobs: true,
    });
    assert.match(reasoningOf(logprobs.choices[0].message) ?? '', /^Considering/);
    await assert.rejects(
      reasoner.client.chat.completions.create({ model: 'without', messages: user('Hi'), logprobs: true }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && /logprobs/.test(error.message),
    );
    // Without the preset, deepseek-chat is not named like a reasoning model: the knob is left out.
    const plain = await client.chat.completions.create({
      model: 'without',
      messages: user('9.11 or 9.8?'),
      reasoning_effort: 'high',
    });
    assert.equal(reasoningOf(plain.choices[0].message), undefined);
  });

  it('qwen: reasoning knobs as enable_thinking when streaming; a clear 400 naming stream otherwise', async () => {
    const { client } = await vendorPair('qwen', 'qwen-plus');
    await answersAndStreams(client);
    const streamed = await streamOf(client, {
      model: 'with',
      messages: user('Hi'),
      reasoning_effort: 'medium',
      stream: true,
    });
    assert.match(streamed.reasoning, /^Considering/);
    await assert.rejects(
      client.chat.completions.create({ model: 'with', messages: user('Hi'), reasoning_effort: 'medium' }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'stream',
    );
    // DashScope's own refusal, in its shape, reaches the client as an OpenAI error.
    await assert.rejects(
      client.chat.completions.create({ model: 'without', messages: user('Hi'), enable_thinking: true } as Params),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_parameter_error',
    );
    const plain = await streamOf(client, {
      model: 'without',
      messages: user('Hi'),
      reasoning_effort: 'medium',
      stream: true,
    });
    assert.equal(plain.reasoning, '', 'without the preset no thinking is asked for');
  });

  it("mistral: OpenAI's field names and fields it does not know no longer a 422; its 422 an OpenAI 400 naming the field", async () => {
    const { client } = await vendorPair('mistral', 'mistral-small-latest');
    await answersAndStreams(client);
    const params: Params = {
      model: 'with',
      messages: [...user('Hi'), { role: 'assistant', content: 'Hello', refusal: null }, ...user('Again')],
      max_completion_tokens: 50,
      seed: 7,
      user: 'u-1',
    };
    const completion = await client.chat.completions.create(params);
    assert.match(completion.choices[0].message.content ?? '', /Again/);
    await assert.rejects(
      client.chat.completions.create({ ...params, model: 'without' }),
      (error: unknown) =>
        error instanceof OpenAI.BadRequestError &&
        error.code === 'extra_forbidden' &&
        error.param === 'max_completion_tokens' &&
        /max_completion_tokens: Extra inputs are not permitted/.test(error.message),
    );
  });

  it('groq: logprobs and messages[].name left out, n > 1 a 400 naming n, usage counted', async () => {
    const { client, sim } = await vendorPair('groq', 'llama-3.3-70b-versatile');
    await answersAndStreams(client);
    const named: Params = {
      model: 'with',
      messages: [{ role: 'user', content: 'Hi', name: 'ada' }],
      logprobs: true,
      logit_bias: { '50256': -100 },
    };
    assert.match((await client.chat.completions.create(named)).choices[0].message.content ?? '', /Hi/);
    const sent = sim.requests.at(-1)?.body as Record<string, unknown>;
    assert.equal(sent.logprobs, undefined);
    await assert.rejects(
      client.chat.completions.create({ ...named, model: 'without' }),
      (error: unknown) => error instanceof OpenAI.BadRequestError,
    );
    const before = sim.received;
    await assert.rejects(
      client.chat.completions.create({ model: 'with', messages: user('Hi'), n: 2 }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'n',
    );
    assert.equal(sim.received, before, 'refused before any upstream call');
  });

  it("xai: grok-3-mini takes reasoning_effort (reasoning_content), xAI's {code, error} body as an OpenAI error", async () => {
    const { client, sim } = await vendorPair('xai', 'grok-3-mini');
    await answersAndStreams(client);
    const reasoned = await client.chat.completions.create({
      model: 'with',
      messages: user('Hi'),
      reasoning_effort: 'low',
    });
    assert.match(reasoningOf(reasoned.choices[0].message) ?? '', /^Considering/);
    assert.equal((sim.requests.at(-1)?.body as Record<string, unknown>).reasoning_effort, 'low');
    await client.chat.completions.create({ model: 'without', messages: user('Hi'), reasoning_effort: 'low' });
    assert.equal(
      (sim.requests.at(-1)?.body as Record<string, unknown>).reasoning_effort,
      undefined,
      'without the preset grok-3-mini is not named like a reasoning model',
    );
    sim.enqueueFault({ status: 429 });
    await assert.rejects(
      client.chat.completions.create({ model: 'with', messages: user('Hi') }),
      (error: unknown) => error instanceof OpenAI.RateLimitError && error.code === 'rate_limit_exceeded',
    );
  });

  it('openrouter: reasoning_effort as its reasoning object, its reasoning read as reasoning_content, its numeric error codes', async () => {
    const { client, sim } = await vendorPair('openrouter', 'openai/gpt-4o');
    await answersAndStreams(client);
    const reasoned = await client.chat.completions.create({
      model: 'with',
      messages: user('Hi'),
      reasoning_effort: 'low',
    });
    assert.match(reasoningOf(reasoned.choices[0].message) ?? '', /^Considering/);
    const streamed = await streamOf(client, {
      model: 'with',
      messages: user('Hi'),
      reasoning_effort: 'low',
      stream: true,
    });
    assert.match(streamed.reasoning, /^Considering/);
    const plain = await client.chat.completions.create({
      model: 'without',
      messages: user('Hi'),
      reasoning_effort: 'low',
    });
    assert.equal(reasoningOf(plain.choices[0].message), undefined);
    sim.enqueueFault({ status: 400 });
    await assert.rejects(
      client.chat.completions.create({ model: 'with', messages: user('Hi') }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && error.code === 'invalid_request',
    );
  });

  for (const [vendor, model] of [
    ['together', 'meta-llama/Llama-3.3-70B-Instruct-Turbo'],
    ['fireworks', 'accounts/fireworks/models/deepseek-r1'],
    ['vllm', 'Qwen/QwQ-32B'],
    ['sglang', 'Qwen/QwQ-32B'],
    ['ollama', 'qwen3-thinking'],
  ] as const) {
    it(`${vendor}: a base URL is enough; reasoning and its error shape reach the client as OpenAI's`, async () => {
      const { client, sim } = await vendorPair(vendor, model);
      await answersAndStreams(client);
      const completion = await client.chat.completions.create({ model: 'with', messages: user('Hi') });
      if (vendor !== 'together') assert.match(reasoningOf(completion.choices[0].message) ?? '', /^Considering/);
      sim.enqueueFault({ status: 404 });
      await assert.rejects(
        client.chat.completions.create({ model: 'with', messages: user('Hi') }),
        (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
      );
    });
  }

  it('streamEnd finish: a stream ending without [DONE] after its finish_reason is complete', async () => {
    const { client } = await vendorPair('vllm', 'm', { omitDone: true }, { streamEnd: 'finish' });
    const streamed = await streamOf(client, {
      model: 'with',
      messages: user('No done'),
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.match(streamed.text, /No done/);
    assert.ok(streamed.usage && streamed.usage.total_tokens > 0);
    await assert.rejects(
      streamOf(client, { model: 'without', messages: user('No done'), stream: true }),
      (error: unknown) => error instanceof Error,
      'without it the stream is interrupted',
    );
  });
});
