import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingResponse } from '../../src/common/openai.types.js';
import { schemaErrors } from './openai-schemas.js';
import { OpenAiSimulator, type Vendor } from './openai-simulator.js';
import { arrayAt, asString, at, numberAt, objectAt, stringAt } from './sim-json.js';

const API_KEY = 'sk-simulator-test';
const AUTH = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

/** Reads a response body as text, keeping what arrived before the connection failed. */
async function readUntilEnd(response: Response): Promise<{ text: string; failed: boolean }> {
  // A fetch body is a byte stream; undici declares it as ReadableStream<any>.
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, failed: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, failed: true };
  }
}

function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}

describe('OpenAiSimulator', () => {
  const sim = new OpenAiSimulator({ apiKey: API_KEY, name: 'primary' });
  let baseUrl = '';

  const post = (path: string, body: unknown, signal?: AbortSignal) =>
    fetch(`${baseUrl}${path}`, { method: 'POST', headers: AUTH, body: JSON.stringify(body), signal });

  before(async () => {
    baseUrl = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  it('answers a chat completion deterministically with consistent usage', async () => {
    const response = await post('/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi there' }],
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-simulator'), 'primary');
    const completion = (await response.json()) as ChatCompletion;
    assert.match(completion.id, /^chatcmpl-sim-\d+$/);
    assert.equal(completion.model, 'gpt-4o-mini');
    assert.equal(completion.choices[0].message.content, 'Hello from gpt-4o-mini: Hi there');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.deepEqual(completion.usage, {
      prompt_tokens: 5,
      completion_tokens: 5,
      total_tokens: 10,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    });
    assert.equal(sim.received, 1);
    assert.deepEqual(sim.requests[0].body, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi there' }] });
  });

  it('streams chunks, the usage chunk and [DONE]', async () => {
    const response = await post('/chat/completions', {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Tell me a story' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = sseData(await response.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((line) => JSON.parse(line) as ChatCompletionChunk);
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(
      { prompt_tokens: usageChunk.usage?.prompt_tokens, completion_tokens: usageChunk.usage?.completion_tokens },
      { prompt_tokens: 7, completion_tokens: 7 },
    );
    assert.equal(usageChunk.usage?.total_tokens, 14);
    const finishChunk = chunks.at(-2)!;
    assert.deepEqual(finishChunk.choices[0].delta, {});
    assert.equal(finishChunk.choices[0].finish_reason, 'stop');
    const content = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.equal(content, 'Hello from gpt-4o: Tell me a story');
    assert.ok(chunks.slice(0, -1).every((chunk) => chunk.usage === null));
  });

  it('streams a tool call as a header delta and argument fragments', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const response = await post('/chat/completions', {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      stream: true,
    });
    const chunks = sseData(await response.text())
      .slice(0, -1)
      .map((line) => JSON.parse(line) as ChatCompletionChunk);
    const toolDeltas = chunks.flatMap((chunk) => chunk.choices[0].delta.tool_calls ?? []);
    assert.deepEqual(toolDeltas[0], {
      index: 0,
      id: toolDeltas[0].id,
      type: 'function',
      function: { name: 'get_weather', arguments: '' },
    });
    assert.ok(toolDeltas.length >= 4);
    assert.equal(toolDeltas.map((delta) => delta.function?.arguments).join(''), '{"city":"Paris"}');
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');
  });

  it('returns base64 float32 embeddings that match the float ones', async () => {
    const request = { model: 'text-embedding-3-small', input: ['alpha', 'beta gamma'], dimensions: 4 };
    const floats = (await (await post('/embeddings', request)).json()) as EmbeddingResponse;
    const encoded = (await (
      await post('/embeddings', { ...request, encoding_format: 'base64' })
    ).json()) as EmbeddingResponse;
    assert.deepEqual(floats.usage, { prompt_tokens: 3, total_tokens: 3 });
    const decoded = Array.from(
      new Float32Array(new Uint8Array(Buffer.from(encoded.data[1].embedding as string, 'base64')).buffer),
    );
    assert.deepEqual(decoded, floats.data[1].embedding);
    assert.ok((floats.data[0].embedding as number[]).every((value) => value >= -1 && value <= 1));
  });

  it('rejects a wrong key and an invalid body with OpenAI error bodies', async () => {
    const unauthorized = await fetch(`${baseUrl}/models`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(unauthorized.status, 401);
    const { error } = (await unauthorized.json()) as { error: { code: string; type: string } };
    assert.equal(error.code, 'invalid_api_key');
    assert.equal(error.type, 'invalid_request_error');
    const invalid = await fetch(`${baseUrl}/chat/completions`, { method: 'POST', headers: AUTH, body: '{not json' });
    assert.equal(invalid.status, 400);
  });

  it('answers an injected 429 with retry-after, then recovers', async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 2 });
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] };
    const limited = await post('/chat/completions', body);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    const { error } = (await limited.json()) as { error: { code: string } };
    assert.equal(error.code, 'rate_limit_exceeded');
    assert.equal((await post('/chat/completions', body)).status, 200);
  });

  it('accepts faults over HTTP and drops a stream after N chunks', async () => {
    const injected = await fetch(`${baseUrl.replace(/\/v1$/, '')}/__sim/faults`, {
      method: 'POST',
      body: JSON.stringify({ dropAfterChunks: 2 }),
    });
    assert.equal(injected.status, 200);
    const response = await post('/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'one two three four' }],
      stream: true,
    });
    const { text, failed } = await readUntilEnd(response);
    assert.ok(failed);
    assert.equal(sseData(text).length, 2);
    assert.ok(!text.includes('[DONE]'));
    assert.equal(sim.hungUp, 0);
  });

  it('counts a client that gives up on a hanging request as hung up', async () => {
    sim.enqueueFault({ hang: true });
    const controller = new AbortController();
    const pending = post(
      '/chat/completions',
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] },
      controller.signal,
    );
    while (sim.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await assert.rejects(pending);
    await sim.waitForHangUp(1_000);
    assert.equal(sim.hungUp, 1);
    assert.equal(sim.requests[0].hungUp, true);
    const stats = (await (await fetch(`${baseUrl.replace(/\/v1$/, '')}/__sim/stats`)).json()) as {
      hungUp: number;
      inFlight: number;
    };
    assert.deepEqual(stats, { received: 1, hungUp: 1, inFlight: 0 });
  });

  it('stops promptly with a hanging request pending', async () => {
    const other = new OpenAiSimulator();
    const url = await other.start();
    other.enqueueFault({ hang: true });
    const pending = fetch(`${url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    while (other.inFlight === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await other.stop();
    await assert.rejects(pending);
  });

  it('reports cached prompt tokens for the messages before the last user turn it served before', async () => {
    const system = { role: 'system', content: 'You are terse and exact.' };
    const first = (await (
      await post('/chat/completions', { model: 'gpt-4o', messages: [system, { role: 'user', content: 'One' }] })
    ).json()) as ChatCompletion;
    assert.equal(first.usage?.prompt_tokens_details?.cached_tokens, 0);
    const second = (await (
      await post('/chat/completions', {
        model: 'gpt-4o',
        prompt_cache_key: 'k1',
        messages: [
          system,
          { role: 'user', content: 'One' },
          first.choices[0].message,
          { role: 'user', content: 'Two' },
        ],
      })
    ).json()) as ChatCompletion;
    assert.equal(second.usage?.prompt_tokens_details?.cached_tokens, 8, 'the system message: 5 words + 3');
    assert.equal(schemaErrors('CreateChatCompletionResponse', second), '');
    assert.equal((sim.requests.at(-1)!.body as { prompt_cache_key: string }).prompt_cache_key, 'k1');
    const otherModel = (await (
      await post('/chat/completions', { model: 'gpt-4o-mini', messages: [system, { role: 'user', content: 'One' }] })
    ).json()) as ChatCompletion;
    assert.equal(otherModel.usage?.prompt_tokens_details?.cached_tokens, 0, 'the cache is per model');
  });

  it('counts reasoning tokens for reasoning models and checks reasoning_effort', async () => {
    const reasoned = (await (
      await post('/chat/completions', {
        model: 'o4-mini',
        reasoning_effort: 'high',
        messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      })
    ).json()) as ChatCompletion;
    const reasoningTokens = reasoned.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
    assert.ok(reasoningTokens > 0);
    assert.equal(reasoned.usage?.completion_tokens, reasoningTokens + 8, 'reasoning + 8 answer words');
    assert.equal((reasoned.choices[0].message as { reasoning_content?: unknown }).reasoning_content, undefined);
    const unsupported = await post('/chat/completions', {
      model: 'gpt-4o',
      reasoning_effort: 'low',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(unsupported.status, 400);
    const { error } = (await unsupported.json()) as { error: { param: string; code: string } };
    assert.deepEqual([error.param, error.code], ['reasoning_effort', 'unsupported_parameter']);
  });

  it('follows SIM_TOOL and SIM_TEXT in the last user turn, and answers a tool result', async () => {
    const tools = [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } },
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } },
    ];
    const call = (await (
      await post('/chat/completions', {
        model: 'gpt-4o',
        tools,
        messages: [{ role: 'user', content: 'Find it\nSIM_TOOL lookup {"q":"x y"}' }],
      })
    ).json()) as ChatCompletion;
    assert.deepEqual(call.choices[0].message.tool_calls?.[0].function, { name: 'lookup', arguments: '{"q":"x y"}' });
    const text = (await (
      await post('/chat/completions', {
        model: 'gpt-4o',
        tools,
        messages: [{ role: 'user', content: 'SIM_TEXT Just this.' }],
      })
    ).json()) as ChatCompletion;
    assert.equal(text.choices[0].message.content, 'Just this.');
    const answered = (await (
      await post('/chat/completions', {
        model: 'gpt-4o',
        tools,
        messages: [
          { role: 'user', content: 'Find it\nSIM_TOOL lookup {"q":"x y"}' },
          call.choices[0].message,
          { role: 'tool', tool_call_id: call.choices[0].message.tool_calls?.[0].id, content: 'found' },
        ],
      })
    ).json()) as ChatCompletion;
    assert.equal(answered.choices[0].message.content, 'Tool said: found');
  });

  it('validates completions and every chunk against the official schemas', async () => {
    const completion = await (
      await post('/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] })
    ).json();
    assert.equal(schemaErrors('CreateChatCompletionResponse', completion), '');
    const response = await post('/chat/completions', {
      model: 'gpt-4o',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Hi there' }],
    });
    for (const line of sseData(await response.text()).slice(0, -1)) {
      assert.equal(schemaErrors('CreateChatCompletionStreamResponse', JSON.parse(line)), '', line);
    }
  });
});

describe('OpenAiSimulator vendor quirks', () => {
  const started: OpenAiSimulator[] = [];
  const vendorSim = async (vendor: Vendor) => {
    const sim = new OpenAiSimulator({ vendor, name: vendor });
    started.push(sim);
    const url = await sim.start();
    const call = async (body: unknown) => {
      const response = await fetch(`${url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, text: await response.text() };
    };
    return { sim, call, json: async (body: unknown): Promise<unknown> => JSON.parse((await call(body)).text) };
  };
  const chunksOf = (text: string) =>
    sseData(text)
      .filter((line) => line !== '[DONE]')
      .map((line): unknown => JSON.parse(line));
  const user = (content: string) => [{ role: 'user', content }];

  after(async () => {
    for (const sim of started) await sim.stop();
  });

  it('deepseek: reasoning_content for the reasoner, cache hit/miss usage, its refusals', async () => {
    const { call, json } = await vendorSim('deepseek');
    const system = { role: 'system', content: 'Be exact.' };
    await json({ model: 'deepseek-chat', messages: [system, ...user('One')] });
    const cached = await json({ model: 'deepseek-chat', messages: [system, ...user('Two')] });
    assert.equal(at(cached, 'usage', 'prompt_cache_hit_tokens'), 5);
    assert.equal(at(cached, 'usage', 'prompt_cache_miss_tokens'), numberAt(cached, 'usage', 'prompt_tokens') - 5);
    assert.equal(at(cached, 'usage', 'prompt_tokens_details', 'cached_tokens'), 5);
    assert.equal(objectAt(cached, 'choices', 0, 'message').reasoning_content, undefined);

    const reasoned = await json({ model: 'deepseek-reasoner', messages: user('9.11 or 9.8?') });
    assert.match(stringAt(reasoned, 'choices', 0, 'message', 'reasoning_content'), /^Considering the request/);
    assert.ok(numberAt(reasoned, 'usage', 'completion_tokens_details', 'reasoning_tokens') > 0);
    const streamed = chunksOf((await call({ model: 'deepseek-reasoner', stream: true, messages: user('Hi') })).text);
    assert.deepEqual(at(streamed[0], 'choices', 0, 'delta'), {
      role: 'assistant',
      content: null,
      reasoning_content: '',
    });
    const reasoning = streamed
      .map((chunk) => asString(at(chunk, 'choices', 0, 'delta', 'reasoning_content')) ?? '')
      .join('');
    const content = streamed.map((chunk) => asString(at(chunk, 'choices', 0, 'delta', 'content')) ?? '').join('');
    assert.match(reasoning, /^Considering the request: Hi/);
    assert.equal(content, 'Hello from deepseek-reasoner: Hi');

    const logprobs = await call({ model: 'deepseek-reasoner', logprobs: true, messages: user('Hi') });
    assert.equal(logprobs.status, 400);
    assert.deepEqual(JSON.parse(logprobs.text), {
      error: {
        message: 'deepseek-reasoner does not support the parameter `logprobs`',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_request_error',
      },
    });
    const lostReasoning = await call({
      model: 'deepseek-reasoner',
      messages: [
        ...user('Weather?'),
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
    });
    assert.equal(lostReasoning.status, 400);
    assert.match(
      stringAt(JSON.parse(lostReasoning.text), 'error', 'message'),
      /^Missing `reasoning_content` field in the assistant message at message index 1/,
    );
  });

  it('openrouter: reasoning and reasoning_details, its error shape', async () => {
    const { call, json } = await vendorSim('openrouter');
    const reasoned = await json({ model: 'openai/gpt-4o', reasoning: { effort: 'low' }, messages: user('Hi') });
    const message = objectAt(reasoned, 'choices', 0, 'message');
    assert.match(stringAt(message, 'reasoning'), /^Considering the request/);
    assert.equal(at(message, 'reasoning_details', 0, 'type'), 'reasoning.text');
    assert.equal(at(message, 'reasoning_details', 0, 'text'), message.reasoning);
    const excluded = await json({
      model: 'openai/gpt-4o',
      reasoning: { effort: 'low', exclude: true },
      messages: user('Hi'),
    });
    assert.equal(objectAt(excluded, 'choices', 0, 'message').reasoning, undefined);
    const invalid = await call({ model: 'openai/gpt-4o' });
    assert.equal(invalid.status, 400);
    const body: unknown = JSON.parse(invalid.text);
    assert.equal(at(body, 'error', 'code'), 400);
    assert.equal(typeof at(body, 'error', 'message'), 'string');
  });

  it('vllm: reasoning_content, sampling extras accepted, its error shape', async () => {
    const { call, json } = await vendorSim('vllm');
    const reasoned = await json({ model: 'Qwen/QwQ-32B', top_k: 20, min_p: 0.1, messages: user('Hi') });
    assert.match(stringAt(reasoned, 'choices', 0, 'message', 'reasoning_content'), /^Considering/);
    const invalid = objectAt(JSON.parse((await call({ model: 'm' })).text));
    assert.deepEqual(Object.keys(invalid).sort(), ['code', 'message', 'object', 'param', 'type']);
    assert.deepEqual([invalid.object, invalid.type, invalid.code], ['error', 'BadRequestError', 400]);
  });

  it('groq: usage in x_groq of the last chunk; refuses n > 1 and logprobs', async () => {
    const { call } = await vendorSim('groq');
    const chunks = chunksOf(
      (await call({ model: 'llama-3.3-70b-versatile', stream: true, messages: user('Hi') })).text,
    );
    const last = chunks.at(-1);
    assert.equal(at(last, 'choices', 0, 'finish_reason'), 'stop');
    const usage = objectAt(last, 'x_groq', 'usage');
    assert.equal(usage.total_tokens, numberAt(usage, 'prompt_tokens') + numberAt(usage, 'completion_tokens'));
    assert.match(stringAt(chunks[0], 'x_groq', 'id'), /^req_/);
    assert.equal((await call({ model: 'm', n: 2, messages: user('Hi') })).status, 400);
    const logprobs: unknown = JSON.parse((await call({ model: 'm', logprobs: true, messages: user('Hi') })).text);
    assert.equal(at(logprobs, 'error', 'type'), 'invalid_request_error');
  });

  it('mistral: 422 extra_forbidden for fields it does not know, its error shape', async () => {
    const { call } = await vendorSim('mistral');
    const refused = await call({
      model: 'mistral-large-latest',
      max_completion_tokens: 10,
      messages: [...user('Hi'), { role: 'assistant', content: 'x', reasoning_content: 'r' }, ...user('Again')],
    });
    assert.equal(refused.status, 422);
    const body: unknown = JSON.parse(refused.text);
    assert.equal(at(body, 'object'), 'error');
    assert.deepEqual(
      arrayAt(body, 'message', 'detail').map((entry) => at(entry, 'loc')),
      [
        ['body', 'max_completion_tokens'],
        ['body', 'messages', 1, 'assistant', 'reasoning_content'],
      ],
    );
    assert.equal((await call({ model: 'mistral-small-latest', random_seed: 1, messages: user('Hi') })).status, 200);
  });

  it('ollama: reasoning field, fp_ollama, its error types', async () => {
    const { call, json } = await vendorSim('ollama');
    const reasoned = await json({ model: 'qwen3-thinking', messages: user('Hi') });
    assert.equal(at(reasoned, 'system_fingerprint'), 'fp_ollama');
    assert.match(stringAt(reasoned, 'choices', 0, 'message', 'reasoning'), /^Considering/);
    assert.equal(objectAt(reasoned, 'usage').prompt_tokens_details, undefined);
    const stream = await call({ model: 'llama3', stream: true, messages: user('Hi') });
    assert.equal(sseData(stream.text).at(-1), '[DONE]');
    assert.deepEqual(
      at(JSON.parse((await call({ model: 'llama3', messages: [] })).text), 'error', 'type'),
      'invalid_request_error',
    );
  });

  it('qwen: reasoning_content with enable_thinking, which it refuses without streaming', async () => {
    const { call } = await vendorSim('qwen');
    const refused = await call({ model: 'qwen-plus', enable_thinking: true, messages: user('Hi') });
    assert.equal(refused.status, 400);
    const body: unknown = JSON.parse(refused.text);
    assert.equal(at(body, 'error', 'code'), 'invalid_parameter_error');
    assert.ok(at(body, 'request_id'));
    const chunks = chunksOf(
      (await call({ model: 'qwen-plus', enable_thinking: true, stream: true, messages: user('Hi') })).text,
    );
    assert.ok(chunks.some((chunk) => at(chunk, 'choices', 0, 'delta', 'reasoning_content')));
  });

  it('xai: reasoning_content only on grok-3-mini, its {code, error} body', async () => {
    const { call, json } = await vendorSim('xai');
    const mini = await json({ model: 'grok-3-mini', messages: user('Hi') });
    assert.match(stringAt(mini, 'choices', 0, 'message', 'reasoning_content'), /^Considering/);
    const grok4 = await json({ model: 'grok-4-reasoning', messages: user('Hi') });
    assert.equal(objectAt(grok4, 'choices', 0, 'message').reasoning_content, undefined);
    assert.ok(numberAt(grok4, 'usage', 'completion_tokens_details', 'reasoning_tokens') > 0);
    assert.deepEqual(Object.keys(objectAt(JSON.parse((await call({ model: 'grok-4' })).text))).sort(), [
      'code',
      'error',
    ]);
  });

  it('vendor error shapes reach faults too', async () => {
    const { sim, call } = await vendorSim('fireworks');
    sim.enqueueFault({ status: 429 });
    const limited: unknown = JSON.parse((await call({ model: 'm', messages: user('Hi') })).text);
    assert.equal(at(limited, 'error', 'object'), 'error');
    const sglang = await vendorSim('sglang');
    assert.equal(at(JSON.parse((await sglang.call({ model: 'm' })).text), 'type'), 'BadRequest');
  });
});
