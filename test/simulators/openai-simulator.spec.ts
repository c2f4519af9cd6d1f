import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingResponse } from '../../src/common/openai.types.js';
import { OpenAiSimulator } from './openai-simulator.js';

const API_KEY = 'sk-simulator-test';
const AUTH = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };

/** Reads a response body as text, keeping what arrived before the connection failed. */
async function readUntilEnd(response: Response): Promise<{ text: string; failed: boolean }> {
  const reader = response.body!.getReader();
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
});
