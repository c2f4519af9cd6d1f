/**
 * The `ernie` provider end to end: official `openai` SDK → gateway → ERNIE simulator, over real HTTP.
 * v1 (native API, OAuth access token) in depth, v2 (OpenAI-compatible, `mode: v2`) briefly.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { ErnieSimulator, V1_CHAT_PREFIX, V2_CHAT_PATH } from '../simulators/ernie-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { parseOpenAiStream, toolCallsFromDeltas } from './stream-assertions.js';

const API_KEY = 'ernie-e2e-api-key';
const SECRET_KEY = 'ernie-e2e-secret-key-0123456789';
const V2_KEY = 'bce-v3/ALTAK-e2e/secret-v2-key';
const APP_ID = 'app-e2e-42';
/** The upstream model of `ernie-test`; the built-in table maps it to the `ernie_speed` endpoint. */
const V1_MODEL = 'ERNIE-Speed-8K';
const V1_ENDPOINT = 'ernie_speed';
const V2_MODEL = 'ernie-4.0-8k';
const CONCURRENCY = 100;
/** The batch sent after the tokens expired: every one of its requests may fail once and be replayed. */
const EXPIRED_BATCH = 50;

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'search',
      description: 'Web search',
      parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
    },
  },
];
const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };
const ping = [{ role: 'user' as const, content: 'ping' }];

/** A v1 provider (`ernie-test`), a v2 provider (`ernie-v2-test`) and a v1 deployment of an unknown upstream model. */
function ernieConfig(root: string, secretKey = SECRET_KEY): Record<string, unknown> {
  const shared = { retry: { retries: 0 }, timeouts: { connectMs: 1_000, firstByteMs: 2_000, totalMs: 5_000 } };
  return {
    providers: [
      { name: 'ernie', type: 'ernie', baseUrl: root, apiKey: API_KEY, options: { secretKey }, ...shared },
      {
        name: 'qianfan',
        type: 'ernie',
        baseUrl: `${root}/v2`,
        apiKey: V2_KEY,
        options: { mode: 'v2', appId: APP_ID },
        ...shared,
      },
    ],
    models: [
      { name: 'ernie-test', deployments: [{ provider: 'ernie', model: V1_MODEL }] },
      { name: 'ernie-v2-test', deployments: [{ provider: 'qianfan', model: V2_MODEL }] },
      { name: 'ernie-unmapped', deployments: [{ provider: 'ernie', model: 'ERNIE-No-Such-Model' }] },
    ],
  };
}

function chatRequests(sim: ErnieSimulator) {
  return sim.requests.filter((request) => request.path.startsWith(V1_CHAT_PREFIX));
}

describe('ernie provider through the gateway (official openai SDK)', () => {
  const sim = new ErnieSimulator({
    apiKey: API_KEY,
    secretKey: SECRET_KEY,
    v2ApiKey: V2_KEY,
    appId: APP_ID,
    endpoints: [V1_ENDPOINT],
  });
  let root: string;
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    root = await sim.start();
    gateway = await startGateway(ernieConfig(root));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  describe('v1 (native API)', () => {
    it('answers a non-streaming completion and translates the request', async () => {
      const completion = await client.chat.completions.create({
        model: 'ernie-test',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello' },
          { role: 'user', content: 'ernie' },
        ],
        temperature: 0,
        max_tokens: 1,
      });
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-as-sim\d+$/);
      assert.equal(completion.choices[0].message.role, 'assistant');
      assert.equal(completion.choices[0].message.content, `Hello from ${V1_ENDPOINT}: hello\nernie`);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      assert.ok(completion.usage && completion.usage.prompt_tokens > 0 && completion.usage.completion_tokens > 0);
      assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);

      const [upstream] = chatRequests(sim);
      assert.equal(upstream.path, `${V1_CHAT_PREFIX}${V1_ENDPOINT}?access_token=%3Credacted%3E`);
      assert.deepEqual(upstream.body, {
        messages: [{ role: 'user', content: 'hello\nernie' }],
        system: 'be brief',
        temperature: 0.01,
        max_output_tokens: 2,
        stream: false,
      });
    });

    it('streams text with the SDK, a usage chunk when asked, up to [DONE]', async () => {
      const stream = await client.chat.completions.create({
        model: 'ernie-test',
        messages: [{ role: 'user', content: 'stream please' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finishReason: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, `Hello from ${V1_ENDPOINT}: stream please`);
      assert.equal(finishReason, 'stop');
      assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 }, 'the final event’s usage');
    });

    it('frames the stream exactly as OpenAI does (raw SSE)', async () => {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'ernie-test',
        messages: [{ role: 'user', content: 'frame check' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const chunks = parseOpenAiStream(await response.text(), true);
      assert.equal(
        chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''),
        `Hello from ${V1_ENDPOINT}: frame check`,
      );
      assert.match(chunks[0].id, /^chatcmpl-as-sim\d+$/);

      const withoutUsage = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'ernie-test',
        messages: [{ role: 'user', content: 'no usage' }],
        stream: true,
      });
      parseOpenAiStream(await withoutUsage.text(), false);
    });

    it('round-trips a tool call without streaming', async () => {
      const first = await client.chat.completions.create({ model: 'ernie-test', messages: [question], tools });
      const message = first.choices[0].message;
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      assert.equal(message.tool_calls?.length, 1);
      const call = message.tool_calls[0];
      assert.ok(call.type === 'function');
      assert.match(call.id, /^call_/);
      assert.equal(call.function.name, 'search');
      assert.deepEqual(JSON.parse(call.function.arguments), { query: 'weather in Paris?' });
      assert.deepEqual((chatRequests(sim)[0].body as { functions: unknown }).functions, [
        {
          name: 'search',
          description: 'Web search',
          parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
        },
      ]);

      const answer = await client.chat.completions.create({
        model: 'ernie-test',
        messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }],
        tools,
      });
      assert.equal(answer.choices[0].finish_reason, 'stop');
      assert.equal(answer.choices[0].message.content, `Hello from ${V1_ENDPOINT}: sunny, 21C`);
      assert.deepEqual((chatRequests(sim)[1].body as { messages: unknown }).messages, [
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: '', function_call: { name: 'search', arguments: call.function.arguments } },
        { role: 'function', name: 'search', content: 'sunny, 21C' },
      ]);
    });

    it('round-trips a tool call while streaming, with OpenAI tool-call deltas', async () => {
      const runner = client.chat.completions.stream({ model: 'ernie-test', messages: [question], tools });
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      runner.on('chunk', (chunk) => chunks.push(chunk));
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, 'tool_calls');
      const call = final.choices[0].message.tool_calls?.[0];
      assert.ok(call && call.type === 'function');
      assert.equal(call.function.name, 'search');
      assert.deepEqual(JSON.parse(call.function.arguments), { query: 'weather in Paris?' });
      assert.deepEqual(toolCallsFromDeltas(chunks), [
        { id: call.id, name: 'search', arguments: { query: 'weather in Paris?' } },
      ]);
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');

      const answer = client.chat.completions.stream({
        model: 'ernie-test',
        messages: [
          question,
          { role: 'assistant', content: null, tool_calls: final.choices[0].message.tool_calls },
          { role: 'tool', tool_call_id: call.id, content: 'rainy, 12C' },
        ],
        tools,
      });
      assert.equal(await answer.finalContent(), `Hello from ${V1_ENDPOINT}: rainy, 12C`);
    });

    it('maps the QPS limit (code 18, an HTTP 200 body) to a RateLimitError, streaming or not', async () => {
      sim.enqueueFault({ errorCode: 18, errorMsg: 'Open api qps request limit reached' });
      await assert.rejects(
        client.chat.completions.create({ model: 'ernie-test', messages: ping }),
        (error: unknown) =>
          error instanceof OpenAI.RateLimitError &&
          error.code === 'rate_limit_exceeded' &&
          error.message.includes('Open api qps request limit reached (18)'),
      );
      sim.enqueueFault({ errorCode: 18, errorMsg: 'Open api qps request limit reached', asSseEvent: true });
      await assert.rejects(
        client.chat.completions.create({ model: 'ernie-test', messages: ping, stream: true }),
        (error: unknown) => error instanceof OpenAI.RateLimitError,
        'an error as the only stream event is a real HTTP status',
      );
    });

    it('ends the stream with an error event when the upstream drops before is_end', async () => {
      sim.enqueueFault({ dropAfterChunks: 2 });
      const stream = await client.chat.completions.create({ model: 'ernie-test', messages: ping, stream: true });
      let text = '';
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        })(),
        (error: unknown) => error instanceof OpenAI.APIError && /ernie/.test(error.message),
      );
      assert.equal(text, `Hello from ${V1_ENDPOINT}: `);
    });

    it('rejects unknown models with NotFoundError and unsupported parameters with BadRequestError', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'ernie-nope', messages: ping }),
        (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
      );
      await assert.rejects(
        client.chat.completions.create({ model: 'ernie-unmapped', messages: ping }),
        (error: unknown) => error instanceof OpenAI.NotFoundError && error.param === 'model',
        'an upstream model without a v1 endpoint',
      );
      await assert.rejects(
        client.chat.completions.create({ model: 'ernie-test', messages: ping, n: 2 }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'n',
      );
      await assert.rejects(
        client.chat.completions.create({
          model: 'ernie-test',
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] },
          ],
        }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'messages[0].content[0]',
      );
      assert.equal(chatRequests(sim).length, 0, 'refused before any upstream call');
    });

    it('answers 502 without leaking the keys when the token endpoint rejects the credentials', async () => {
      const wrongSecret = 'ernie-e2e-wrong-secret-9876543210';
      const strictGateway = await startGateway(ernieConfig(root, wrongSecret));
      try {
        const strictClient = new OpenAI({ baseURL: `${strictGateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
        await assert.rejects(
          strictClient.chat.completions.create({ model: 'ernie-test', messages: ping }),
          (error: unknown) =>
            error instanceof OpenAI.InternalServerError && error.status === 502 && error.code === 'upstream_auth_error',
        );
        const response = await postJson(`${strictGateway.url}/v1/chat/completions`, {
          model: 'ernie-test',
          messages: ping,
        });
        assert.equal(response.status, 502);
        assert.equal(response.headers.get('x-should-retry'), 'false');
        const text = await response.text();
        for (const secret of [wrongSecret, SECRET_KEY, API_KEY]) assert.ok(!text.includes(secret), text);
        assert.equal(chatRequests(sim).length, 0, 'no chat call without a token');
      } finally {
        await strictGateway.close();
      }
    });

    it('shares one token fetch among concurrent requests, and one refresh after the tokens expired', async () => {
      // A fresh gateway: its token cache is cold.
      const coldGateway = await startGateway(ernieConfig(root));
      try {
        const coldClient = new OpenAI({ baseURL: `${coldGateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
        /** `size` concurrent requests, every other one streamed; checks that each got its own answer. */
        const batch = (label: string, size: number) =>
          Promise.all(
            Array.from({ length: size }, async (_, i) => {
              const messages = [{ role: 'user' as const, content: `${label} ${i}` }];
              let text = '';
              if (i % 2 === 0) {
                const completion = await coldClient.chat.completions.create({ model: 'ernie-test', messages });
                text = completion.choices[0].message.content ?? '';
              } else {
                const stream = await coldClient.chat.completions.create({
                  model: 'ernie-test',
                  messages,
                  stream: true,
                });
                for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
              }
              assert.equal(text, `Hello from ${V1_ENDPOINT}: ${label} ${i}`);
            }),
          );

        await batch('cold', CONCURRENCY);
        assert.equal(sim.tokenFetches, 1, `one token fetch for ${CONCURRENCY} requests`);
        assert.equal(chatRequests(sim).length, CONCURRENCY);

        sim.expireTokens();
        await batch('expired', EXPIRED_BATCH);
        assert.equal(sim.tokenFetches, 2, 'exactly one more token fetch');
        const replays = chatRequests(sim).length - CONCURRENCY - EXPIRED_BATCH;
        assert.ok(replays >= 1 && replays <= EXPIRED_BATCH, `${replays} requests replayed with the new token`);
      } finally {
        await coldGateway.close();
      }
    });
  });

  describe('v2 (OpenAI-compatible, mode: v2)', () => {
    it('answers a completion with the bearer key and appid header', async () => {
      const completion = await client.chat.completions.create({
        model: 'ernie-v2-test',
        messages: [{ role: 'user', content: 'hi v2' }],
      });
      assert.equal(completion.object, 'chat.completion');
      assert.equal(completion.choices[0].message.content, `Hello from ${V2_MODEL}: hi v2`);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      const [upstream] = sim.requests;
      assert.equal(upstream.path, V2_CHAT_PATH);
      assert.equal(upstream.headers.authorization, `Bearer ${V2_KEY}`);
      assert.equal(upstream.headers.appid, APP_ID);
      assert.equal((upstream.body as { model: string }).model, V2_MODEL);
      assert.equal(sim.tokenFetches, 0, 'v2 needs no access token');
    });

    it('streams with a usage chunk, framed as OpenAI does', async () => {
      const stream = await client.chat.completions.create({
        model: 'ernie-v2-test',
        messages: [{ role: 'user', content: 'stream v2' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, `Hello from ${V2_MODEL}: stream v2`);
      assert.ok(usage && usage.total_tokens > 0);

      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'ernie-v2-test',
        messages: [{ role: 'user', content: 'frame v2' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      parseOpenAiStream(await response.text(), true);
    });
  });
});
