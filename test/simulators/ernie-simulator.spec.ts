import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Cancellation } from '../../src/common/cancellation.js';
import { GatewayError } from '../../src/common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../src/common/openai.types.js';
import type { LlmProvider, ProviderCallContext } from '../../src/providers/llm-provider.js';
import { ErnieOptions, ErnieProvider } from '../../src/providers/ernie/ernie.provider.js';
import { buildProvider } from '../support/providers.js';
import { ErnieSimulator } from './ernie-simulator.js';
import { at } from './sim-json.js';

const API_KEY = 'ak-sim';
const SECRET_KEY = 'sk-sim-secret';
const APP_ID = 'app-123';

function context(cancellation = new Cancellation()): ProviderCallContext {
  return { cancellation, requestId: 'req-test' };
}

function chatRequest(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'ERNIE-4.0-8K', messages: [{ role: 'user', content: 'Hi there' }], ...overrides };
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function expectGatewayError(status: number, code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.status, status);
    assert.equal(error.code, code);
    return true;
  };
}

describe('ErnieSimulator with the ernie provider', () => {
  const sim = new ErnieSimulator({ apiKey: API_KEY, secretKey: SECRET_KEY, appId: APP_ID });
  let root = '';
  const providers: LlmProvider[] = [];

  /** A provider built as the gateway builds it, from a config entry (`options` replace the v1 defaults). */
  const build = async (extra: Record<string, unknown> = {}, options: Record<string, unknown> = {}) => {
    const provider = await buildProvider({
      name: 'ernie',
      type: 'ernie',
      baseUrl: root,
      apiKey: API_KEY,
      retry: { retries: 0 },
      ...extra,
      options: { secretKey: SECRET_KEY, ...options },
    });
    providers.push(provider);
    return provider;
  };
  const v1 = (options: Record<string, unknown> = {}) => build({}, options);

  before(async () => {
    root = await sim.start();
  });
  after(async () => {
    for (const provider of providers) provider.close?.();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('builds a v1 provider by default, and refuses v1 without both keys', async () => {
    assert.ok((await v1()) instanceof ErnieProvider);
    await assert.rejects(build({}, { secretKey: undefined }), /secretKey/);
  });

  it('validates options with defaults', () => {
    const valid = plainToInstance(
      ErnieOptions,
      { endpoints: { 'my-bot': 'my_ep-1.0' } },
      { exposeDefaultValues: true },
    );
    assert.deepEqual(validateSync(valid), []);
    assert.equal(valid.mode, 'v1');
    const invalid = plainToInstance(ErnieOptions, {
      mode: 'v3',
      endpoints: { x: '../../oauth' },
      tokenUrl: 'not a url',
      tokenRefreshMarginSeconds: -1,
    });
    assert.deepEqual(
      validateSync(invalid)
        .map((error) => error.property)
        .sort(),
      ['endpoints', 'mode', 'tokenRefreshMarginSeconds', 'tokenUrl'],
    );
  });

  it('answers a non-stream chat', async () => {
    const completion = await (await v1()).chat(chatRequest({ temperature: 0, max_tokens: 10_000 }), context());
    assert.match(completion.id, /^chatcmpl-as-sim\d+$/);
    assert.equal(completion.model, 'ERNIE-4.0-8K');
    assert.equal(completion.choices[0].message.content, 'Hello from completions_pro: Hi there');
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.deepEqual(completion.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
    const chat = sim.requests.find((request) => request.path.includes('/chat/'));
    assert.equal(chat?.path, '/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions_pro?access_token=%3Credacted%3E');
    assert.deepEqual(chat?.body, {
      messages: [{ role: 'user', content: 'Hi there' }],
      temperature: 0.01,
      max_output_tokens: 2048,
      stream: false,
    });
  });

  it('streams chunks with one id, the role first, a finish chunk and a final usage chunk', async () => {
    const stream = await (
      await v1()
    ).chatStream(chatRequest({ stream: true, stream_options: { include_usage: true } }), context());
    const chunks = await collect(stream);
    assert.equal(new Set(chunks.map((chunk) => chunk.id)).size, 1);
    assert.equal(new Set(chunks.map((chunk) => chunk.created)).size, 1);
    assert.ok(chunks.every((chunk) => chunk.model === 'ERNIE-4.0-8K' && chunk.object === 'chat.completion.chunk'));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    assert.equal(text, 'Hello from completions_pro: Hi there');
    assert.ok(chunks.length >= 5, 'three sentences, the finish chunk and the usage chunk');
    const finish = chunks.at(-2)!;
    assert.deepEqual(finish.choices[0].delta, {});
    assert.equal(finish.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
    assert.ok(chunks.slice(0, -1).every((chunk) => chunk.usage === null));
  });

  it('refreshes an expired token once and replays the request', async () => {
    const provider = await v1();
    await provider.chat(chatRequest(), context());
    assert.equal(sim.tokenFetches, 1);
    sim.expireTokens();
    const completion = await provider.chat(chatRequest(), context());
    assert.equal(completion.choices[0].message.content, 'Hello from completions_pro: Hi there');
    assert.equal(sim.tokenFetches, 2);
    const stream = await provider.chatStream(chatRequest({ stream: true }), context());
    assert.ok((await collect(stream)).length > 0);
    assert.equal(sim.tokenFetches, 2, 'the new token is cached');
  });

  it('refreshes and replays a stream whose token was revoked (110)', async () => {
    const provider = await v1();
    await provider.chat(chatRequest(), context());
    sim.expireTokens(110);
    const chunks = await collect(await provider.chatStream(chatRequest({ stream: true }), context()));
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, 'stop');
    assert.equal(sim.tokenFetches, 2);
  });

  it('gives up with upstream_auth_error after one replay when the token error persists', async () => {
    const provider = await v1();
    sim.enqueueFault({ errorCode: 110, errorMsg: 'Access token invalid or no longer valid', times: 2 });
    await assert.rejects(provider.chat(chatRequest(), context()), expectGatewayError(502, 'upstream_auth_error'));
    assert.equal(sim.tokenFetches, 2);
    assert.equal(sim.requests.filter((request) => request.path.includes('/chat/')).length, 2);
  });

  it('fetches one token for 100 concurrent requests with a cold cache', async () => {
    const provider = await v1();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        provider.chat(chatRequest({ messages: [{ role: 'user', content: `n${i}` }] }), context()),
      ),
    );
    assert.equal(answers[99].choices[0].message.content, 'Hello from completions_pro: n99');
    assert.equal(sim.tokenFetches, 1);
  });

  it('refetches once when 100 concurrent requests find the token expired', async () => {
    const provider = await v1();
    await provider.chat(chatRequest(), context());
    sim.expireTokens();
    const answers = await Promise.all(Array.from({ length: 100 }, () => provider.chat(chatRequest(), context())));
    assert.equal(answers.length, 100);
    assert.equal(sim.tokenFetches, 2);
  });

  it('maps QPS error 18 to a retryable 429', async () => {
    sim.enqueueFault({ errorCode: 18, errorMsg: 'Open api qps request limit reached' });
    await assert.rejects((await v1()).chat(chatRequest(), context()), (error: unknown) => {
      expectGatewayError(429, 'rate_limit_exceeded')(error);
      assert.equal((error as GatewayError).retryable, true);
      assert.equal((error as GatewayError).message, 'ernie: Open api qps request limit reached (18)');
      return true;
    });
  });

  it('turns a stream request answered by a JSON error, or by an error event, into an error before any chunk', async () => {
    const provider = await v1();
    sim.enqueueFault({ errorCode: 336100, errorMsg: 'try again later' });
    await assert.rejects(
      provider.chatStream(chatRequest({ stream: true }), context()),
      expectGatewayError(503, 'overloaded'),
    );
    sim.enqueueFault({ errorCode: 17, errorMsg: 'Open api daily request limit reached', asSseEvent: true });
    await assert.rejects(
      provider.chatStream(chatRequest({ stream: true }), context()),
      expectGatewayError(429, 'insufficient_quota'),
    );
  });

  it('reports a stream dropped before is_end as streamInterrupted', async () => {
    sim.enqueueFault({ dropAfterChunks: 1 });
    const stream = await (await v1()).chatStream(chatRequest({ stream: true }), context());
    await assert.rejects(collect(stream), expectGatewayError(502, 'upstream_stream_interrupted'));
  });

  it('passes 400s from upstream validation through, and rejects bad requests before calling', async () => {
    sim.enqueueFault({ errorCode: 336006, errorMsg: 'the length of messages must be an odd number' });
    await assert.rejects((await v1()).chat(chatRequest(), context()), expectGatewayError(400, 'invalid_request'));
    const before = sim.requests.length;
    await assert.rejects(
      (await v1()).chat(chatRequest({ n: 3 }), context()),
      expectGatewayError(400, 'unsupported_parameter'),
    );
    await assert.rejects(
      (await v1()).chat(chatRequest({ model: 'no-such-model' }), context()),
      expectGatewayError(404, 'model_not_found'),
    );
    assert.equal(sim.requests.length, before);
  });

  it('uses a configured endpoint and does a function-call round trip', async () => {
    const provider = await v1({ endpoints: { 'my-bot': 'my_custom_ep' } });
    const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object' } } }];
    const first = await provider.chat(chatRequest({ model: 'my-bot', tools }), context());
    const call = first.choices[0].message.tool_calls?.[0];
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(call?.function.name, 'lookup');
    const second = await provider.chat(
      chatRequest({
        model: 'my-bot',
        tools,
        messages: [
          { role: 'user', content: 'Hi there' },
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'found it' },
        ],
      }),
      context(),
    );
    assert.equal(second.choices[0].message.content, 'Hello from my_custom_ep: found it');
  });

  it('reports a wrong secret key as upstream_auth_error', async () => {
    const provider = await v1({ secretKey: 'wrong' });
    await assert.rejects(provider.chat(chatRequest(), context()), (error: unknown) => {
      expectGatewayError(502, 'upstream_auth_error')(error);
      assert.doesNotMatch((error as Error).message, /wrong|ak-sim/);
      return true;
    });
  });

  it('counts a client that hangs up mid-stream', async () => {
    const slow = new ErnieSimulator({ apiKey: API_KEY, secretKey: SECRET_KEY, chunkDelayMs: 200 });
    const slowRoot = await slow.start();
    try {
      const provider = await build({ baseUrl: slowRoot });
      const controller = new AbortController();
      const stream = await provider.chatStream(
        chatRequest({ stream: true }),
        context(Cancellation.following(controller.signal)),
      );
      const iterator = stream[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort();
      await assert.rejects(iterator.next());
      for (let i = 0; i < 50 && slow.hungUp === 0; i++) await sleep(10);
      assert.equal(slow.hungUp, 1);
    } finally {
      await slow.stop();
    }
  });

  describe('v2 mode', () => {
    const v2 = () => build({ baseUrl: `${root}/v2` }, { secretKey: undefined, mode: 'v2', appId: APP_ID });

    it('answers non-stream with the bearer key and appid header', async () => {
      const completion = await (await v2()).chat(chatRequest({ model: 'ernie-4.0-8k' }), context());
      assert.equal(completion.choices[0].message.content, 'Hello from ernie-4.0-8k: Hi there');
      const recorded = sim.requests.at(-1)!;
      assert.equal(recorded.path, '/v2/chat/completions');
      assert.equal(recorded.headers.authorization, `Bearer ${API_KEY}`);
      assert.equal(recorded.headers.appid, APP_ID);
      assert.equal(sim.tokenFetches, 0);
    });

    it('streams with a final usage chunk', async () => {
      const stream = await (
        await v2()
      ).chatStream(
        chatRequest({ model: 'ernie-speed-8k', stream: true, stream_options: { include_usage: true } }),
        context(),
      );
      const chunks = await collect(stream);
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, 'Hello from ernie-speed-8k: Hi there');
      assert.deepEqual(chunks.at(-1)!.choices, []);
      assert.equal(chunks.at(-1)!.usage?.total_tokens, 7);
    });

    it('maps a rejected key to upstream_auth_error', async () => {
      const provider = await build(
        { baseUrl: `${root}/v2`, apiKey: 'bce-v3/wrong' },
        { secretKey: undefined, mode: 'v2', appId: APP_ID },
      );
      await assert.rejects(provider.chat(chatRequest(), context()), expectGatewayError(502, 'upstream_auth_error'));
    });
  });
});

describe('ErnieSimulator wire behaviour', () => {
  const sim = new ErnieSimulator({ apiKey: API_KEY, secretKey: SECRET_KEY });
  let root = '';

  before(async () => {
    root = await sim.start();
  });
  after(() => sim.stop());

  const token = async () => {
    const response = await fetch(
      `${root}/oauth/2.0/token?grant_type=client_credentials&client_id=${API_KEY}&client_secret=${SECRET_KEY}`,
      { method: 'POST' },
    );
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const chat = async (body: unknown, accessToken: string) => {
    const response = await fetch(
      `${root}/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions?access_token=${accessToken}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      },
    );
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };

  it('answers errors with HTTP 200 and {error_code, error_msg}', async () => {
    const missing = await chat({ messages: [{ role: 'user', content: 'x' }] }, '');
    assert.equal(missing.status, 200);
    assert.deepEqual(JSON.parse(missing.text), {
      error_code: 110,
      error_msg: 'Access token invalid or no longer valid',
    });
    const even = await chat(
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      },
      await token(),
    );
    assert.equal(at(JSON.parse(even.text), 'error_code'), 336006);
    const hot = await chat({ messages: [{ role: 'user', content: 'a' }], temperature: 0 }, await token());
    assert.equal(at(JSON.parse(hot.text), 'error_code'), 336003);
  });

  it('streams data events with sentence_id counting up and is_end on the last, no [DONE]', async () => {
    const answer = await chat({ messages: [{ role: 'user', content: 'a' }], stream: true }, await token());
    assert.equal(answer.type, 'text/event-stream');
    assert.doesNotMatch(answer.text, /\[DONE\]/);
    const events = answer.text
      .split('\n\n')
      .filter(Boolean)
      .map(
        (line) => JSON.parse(line.replace(/^data: /, '')) as { sentence_id: number; is_end: boolean; object: string },
      );
    assert.deepEqual(
      events.map((event) => event.sentence_id),
      [0, 1, 2],
    );
    assert.deepEqual(
      events.map((event) => event.is_end),
      [false, false, true],
    );
    assert.ok(events.every((event) => event.object === 'chat.completion'));
  });
});
