import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { openAiSimConfig, postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const messages = [{ role: 'user', content: 'ping' }];

describe('POST /v1/chat/completions (real HTTP to the OpenAI simulator)', () => {
  const sim = new OpenAiSimulator({ apiKey: 'sk-sim-upstream-secret' });
  let gateway: RunningGateway;
  let chatUrl: string;
  let simUrl: string;

  before(async () => {
    simUrl = await sim.start();
    gateway = await startGateway(openAiSimConfig(simUrl, { server: { bodyLimitBytes: 4096 } }));
    chatUrl = `${gateway.url}/v1/chat/completions`;
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('returns a chat.completion with a generated x-request-id, or the one the client sent', async () => {
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const body = (await response.json()) as { object: string; choices: Array<{ message: { content: string } }> };
    assert.equal(body.object, 'chat.completion');
    assert.match(body.choices[0].message.content, /ping/);

    const echoed = await postJson(chatUrl, { model: 'gpt-test', messages }, { 'x-request-id': 'client-req-42' });
    assert.equal(echoed.headers.get('x-request-id'), 'client-req-42');
  });

  it('forwards the client body to the upstream with the upstream model name, unknown fields untouched', async () => {
    await postJson(chatUrl, { model: 'gpt-test', messages, top_k: 7, chat_template_kwargs: { thinking: false } });
    const forwarded = sim.requests[0].body as Record<string, unknown>;
    assert.equal(forwarded.model, 'sim-model');
    assert.equal(forwarded.top_k, 7);
    assert.deepEqual(forwarded.chat_template_kwargs, { thinking: false });
    assert.equal(sim.requests[0].headers.authorization, 'Bearer sk-sim-upstream-secret');
  });

  it('streams chat.completion.chunk events, the usage chunk when asked, and [DONE]', async () => {
    const response = await postJson(chatUrl, {
      model: 'gpt-test',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(response.headers.get('x-request-id'));
    const data = sseData(await response.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data
      .slice(0, -1)
      .map((d) => JSON.parse(d) as { object: string; choices: unknown[]; usage: unknown });
    assert.ok(chunks.length >= 4);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  it('retries a 503 and succeeds (two upstream requests)', async () => {
    sim.enqueueFault({ status: 503 });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 200);
    assert.equal(sim.received, 2);
  });

  it("waits for a 429's Retry-After before retrying", async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 1 });
    const started = Date.now();
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 200);
    assert.equal(sim.received, 2);
    assert.ok(Date.now() - started >= 1_000, 'the retry came before the Retry-After elapsed');
  });

  it('passes a 429 on, with Retry-After, when the upstream asks for a longer wait than configured', async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 30 });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '30');
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'rate_limit_exceeded');
    assert.equal(sim.received, 1);
  });

  it('gives up after the transport retry budget with a 5xx in OpenAI format', async () => {
    sim.enqueueFault({ status: 500, times: 5 });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 500);
    const body = (await response.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(sim.received, 3);
  });

  it('answers 502 without the provider key when the upstream rejects the gateway credential', async () => {
    const strictSim = new OpenAiSimulator({ apiKey: 'sk-a-different-key' });
    const strictGateway = await startGateway(openAiSimConfig(await strictSim.start()));
    try {
      const response = await postJson(`${strictGateway.url}/v1/chat/completions`, { model: 'gpt-test', messages });
      assert.equal(response.status, 502);
      assert.equal(response.headers.get('x-should-retry'), 'false');
      const text = await response.text();
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_auth_error');
      assert.doesNotMatch(text, /sk-sim-upstream-secret|sk-a-different-key/);
      assert.equal(strictSim.received, 1, 'an auth failure is not retried');
    } finally {
      await strictGateway.close();
      await strictSim.stop();
    }
  });

  it('answers 504 when the upstream sends no headers within firstByteMs (retries included)', async () => {
    const slowGateway = await startGateway(
      openAiSimConfig(simUrl, {
        providers: [
          {
            name: 'sim',
            type: 'openai',
            baseUrl: simUrl,
            apiKey: 'sk-sim-upstream-secret',
            retry: { retries: 0 },
            timeouts: { firstByteMs: 150, totalMs: 5_000 },
          },
        ],
      }),
    );
    try {
      sim.enqueueFault({ firstByteDelayMs: 1_000 });
      const response = await postJson(`${slowGateway.url}/v1/chat/completions`, { model: 'gpt-test', messages });
      assert.equal(response.status, 504);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
      await sim.waitForHangUp(500);
    } finally {
      await slowGateway.close();
    }
  });

  it('maps bad JSON to 400, an unknown model to 404 and a too-large body to 413', async () => {
    const badJson = await postJson(chatUrl, '{"model": "gpt-test", "messages": [');
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as { error: { type: string } }).error.type, 'invalid_request_error');

    const unknown = await postJson(chatUrl, { model: 'no-such-model', messages });
    assert.equal(unknown.status, 404);
    const unknownBody = (await unknown.json()) as { error: { code: string; param: string } };
    assert.equal(unknownBody.error.code, 'model_not_found');
    assert.equal(unknownBody.error.param, 'model');

    const tooBig = await postJson(chatUrl, {
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'x'.repeat(5000) }],
    });
    assert.equal(tooBig.status, 413);
    assert.equal(((await tooBig.json()) as { error: { code: string } }).error.code, 'request_too_large');
    assert.equal(sim.received, 0);
  });

  it('rejects invalid fields with 400 naming the param', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ model: 'gpt-test', messages, temperature: 2.5 }, 'temperature'],
      [{ model: 'gpt-test', messages, top_p: -0.1 }, 'top_p'],
      [{ model: 'gpt-test', messages: [] }, 'messages'],
      [{ model: 'gpt-test', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
      [{ model: 'gpt-test', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
      [{ model: 'gpt-test', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }, 'messages[0].content'],
      [{ model: 'gpt-test', messages, stream_options: { include_usage: true } }, 'stream_options'],
      [{ model: 'gpt-test', messages, n: 0 }, 'n'],
      [{ model: 'gpt-test', messages, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ model: 'gpt-test', messages, tool_choice: 'sometimes' }, 'tool_choice'],
      [{ model: 'gpt-test', messages, response_format: { type: 'yaml' } }, 'response_format.type'],
      [{ messages }, 'model'],
    ];
    for (const [body, param] of cases) {
      const response = await postJson(chatUrl, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      const error = ((await response.json()) as { error: { param: string; type: string } }).error;
      assert.equal(error.param, param, JSON.stringify(body));
      assert.equal(error.type, 'invalid_request_error');
    }
    assert.equal(sim.received, 0);
  });

  it('accepts every message role and content form', async () => {
    const response = await postJson(chatUrl, {
      model: 'gpt-test',
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'system', content: [{ type: 'text', text: 'sys' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'see' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AA==' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'result' },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {} } },
      max_completion_tokens: 50,
      seed: 1,
      user: 'u1',
    });
    assert.equal(response.status, 200);
  });

  it('ends the stream with one error event when the upstream drops mid-stream', async () => {
    sim.enqueueFault({ dropAfterChunks: 2 });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages, stream: true });
    assert.equal(response.status, 200);
    const data = sseData(await response.text());
    assert.notEqual(data.at(-1), '[DONE]');
    const last = JSON.parse(data.at(-1)!) as { error: { type: string; code: string } };
    assert.equal(last.error.code, 'upstream_stream_interrupted');
    assert.equal(data.length, 3);
  });

  it('forwards an upstream mid-stream error as an error event', async () => {
    sim.enqueueFault({ midStreamError: true });
    const data = sseData(await (await postJson(chatUrl, { model: 'gpt-test', messages, stream: true })).text());
    assert.ok((JSON.parse(data.at(-1)!) as { error?: unknown }).error);
    assert.ok(!data.includes('[DONE]'));
  });

  it('answers an upstream failure before the first chunk with a real HTTP status', async () => {
    sim.enqueueFault({
      status: 400,
      body: { error: { message: 'bad thing', type: 'invalid_request_error', param: 'foo', code: null } },
    });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages, stream: true });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { param: string; message: string } };
    assert.equal(body.error.param, 'foo');
    assert.equal(body.error.message, 'sim: bad thing');
  });

  it('maps a non-JSON upstream body to 502', async () => {
    sim.enqueueFault({ malformed: true });
    const response = await postJson(chatUrl, { model: 'gpt-test', messages });
    assert.equal(response.status, 502);
  });

  it('aborts the upstream call when the client hangs up (non-streaming)', async () => {
    sim.enqueueFault({ hang: true });
    const controller = new AbortController();
    const pending = postJson(chatUrl, { model: 'gpt-test', messages }, {}, controller.signal).catch(() => undefined);
    await waitUntil(() => sim.inFlight === 1);
    controller.abort();
    await pending;
    await sim.waitForHangUp(500);
  });

  it('aborts the upstream stream when the client hangs up mid-stream', async () => {
    sim.enqueueFault({ chunkDelayMs: 100 });
    const controller = new AbortController();
    const response = await postJson(chatUrl, { model: 'gpt-test', messages, stream: true }, {}, controller.signal);
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await sim.waitForHangUp(500);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
