/**
 * The Anthropic Messages front on every provider: the official `@anthropic-ai/sdk` → gateway → each provider's
 * simulator over real HTTP. Non-streaming, streaming (the exact event sequence), a tool round trip and upstream
 * errors (in Anthropic's shape, as the SDK's error classes) on each; then what only the front does: native
 * passthrough to Anthropic (body, headers and bytes unchanged), count_tokens, the model list, the cache per front.
 * The SDK's types are the schema: answers are assigned to them and their fields checked at run time.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { FLEET_MODELS, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 60_000 };

const weatherTool: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const TOOL_PROMPT = 'What is the weather in Paris?\nSIM_TOOL get_weather {"city":"Paris"}';

/** The frames of an SSE body: event name and parsed data. */
function frames(text: string): Array<{ event: string; data: Record<string, unknown> }> {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
      const data = /^data: (.*)$/m.exec(frame)?.[1] ?? 'null';
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

/** The Message fields the SDK declares, present with their types. */
function assertMessageShape(message: Anthropic.Message): void {
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.match(message.id, /^msg_/);
  assert.equal(typeof message.model, 'string');
  assert.ok(Array.isArray(message.content) && message.content.length > 0);
  assert.ok(
    ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal'].includes(message.stop_reason!),
  );
  assert.ok('stop_sequence' in message);
  assert.equal(typeof message.usage.input_tokens, 'number');
  assert.ok(message.usage.output_tokens > 0);
}

describe('Messages front on every provider (official @anthropic-ai/sdk)', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;
  let client: Anthropic;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(fleet.config());
    client = new Anthropic({ baseURL: gateway.url, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });
  beforeEach(() => fleet.reset());

  for (const model of FLEET_MODELS) {
    describe(model, () => {
      it('answers a Message', async () => {
        const message = await client.messages.create({
          model,
          max_tokens: 200,
          system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
          messages: [{ role: 'user', content: 'hello there' }],
        });
        assertMessageShape(message);
        assert.equal(message.stop_reason, 'end_turn');
        const text = message.content.find((block) => block.type === 'text');
        assert.ok(text?.type === 'text' && text.text.includes('hello there'), JSON.stringify(message.content));
      });

      it('streams the exact event sequence, and the SDK assembles the same Message', async () => {
        const response = await postJson(
          `${gateway.url}/v1/messages`,
          { model, max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'stream to me' }] },
          { 'x-api-key': 'gateway-key', 'anthropic-version': '2023-06-01' },
        );
        assert.equal(response.status, 200);
        assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
        const events = frames(await response.text()).filter((frame) => frame.event !== 'ping');
        for (const { event, data } of events) assert.equal(data.type, event, 'event name = data type');
        assert.equal(events[0].event, 'message_start');
        assert.equal(events.at(-1)!.event, 'message_stop');
        assert.equal(events.at(-2)!.event, 'message_delta');
        const blocks = events.slice(1, -2);
        // Each block: start, deltas, stop, with one index.
        let open: number | undefined;
        for (const { event, data } of blocks) {
          if (event === 'content_block_start') {
            assert.equal(open, undefined);
            open = data.index as number;
          } else {
            assert.equal(data.index, open, event);
            if (event === 'content_block_stop') open = undefined;
            else assert.equal(event, 'content_block_delta');
          }
        }
        assert.equal(open, undefined);
        const delta = events.at(-2)!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } };
        assert.equal(delta.delta.stop_reason, 'end_turn');
        assert.ok(delta.usage.output_tokens > 0);

        const stream = client.messages.stream({
          model,
          max_tokens: 200,
          messages: [{ role: 'user', content: 'stream to me' }],
        });
        const final = await stream.finalMessage();
        assertMessageShape(final);
        const text = final.content.find((block) => block.type === 'text');
        assert.ok(text?.type === 'text' && text.text.includes('stream to me'));
      });

      it('makes a tool call and takes its result back', async () => {
        const first = await client.messages.create({
          model,
          max_tokens: 200,
          tools: [weatherTool],
          messages: [{ role: 'user', content: TOOL_PROMPT }],
        });
        assertMessageShape(first);
        assert.equal(first.stop_reason, 'tool_use');
        const call = first.content.find((block) => block.type === 'tool_use');
        assert.ok(call?.type === 'tool_use', JSON.stringify(first.content));
        assert.equal(call.name, 'get_weather');
        assert.ok(call.input !== null && typeof call.input === 'object');
        assert.ok(call.id.length > 0);

        const second = await client.messages.create({
          model,
          max_tokens: 200,
          tools: [weatherTool],
          messages: [
            { role: 'user', content: TOOL_PROMPT },
            { role: 'assistant', content: first.content },
            { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21 C' }] },
          ],
        });
        assertMessageShape(second);
        assert.equal(second.stop_reason, 'end_turn');
        assert.ok(second.content.some((block) => block.type === 'text'));

        const streamed = await client.messages
          .stream({ model, max_tokens: 200, tools: [weatherTool], messages: [{ role: 'user', content: TOOL_PROMPT }] })
          .finalMessage();
        assert.equal(streamed.stop_reason, 'tool_use');
        const streamedCall = streamed.content.find((block) => block.type === 'tool_use');
        assert.ok(streamedCall?.type === 'tool_use');
        assert.deepEqual(streamedCall.input, call.input);
      });

      it("answers an upstream failure in Anthropic's format, as the SDK's error class", async () => {
        fleet.failNext(model, 429);
        const limited = await client.messages
          .create({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
          .then(
            () => assert.fail('expected an error'),
            (error: unknown) => error,
          );
        assert.ok(limited instanceof Anthropic.RateLimitError, String(limited));
        assert.equal((limited.error as { type: string }).type, 'error');
        assert.equal((limited.error as { error: { type: string } }).error.type, 'rate_limit_error');

        fleet.failNext(model, 500);
        const failed = await client.messages
          .stream({ model, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] })
          .finalMessage()
          .then(
            () => assert.fail('expected an error'),
            (error: unknown) => error,
          );
        assert.ok(failed instanceof Anthropic.APIError, String(failed));
        assert.ok((failed.status ?? 0) >= 500, String(failed.status));
        assert.equal((failed.error as { type: string }).type, 'error');
      });
    });
  }

  describe('what only the Messages front does', () => {
    it('passes the body, the anthropic-* headers and the bytes through to an Anthropic upstream unchanged', async () => {
      const body = {
        model: 'claude',
        max_tokens: 100,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }],
        metadata: { user_id: 'u-1' },
        context_management: { edits: [] },
      };
      const response = await postJson(`${gateway.url}/v1/messages?beta=true`, body, {
        authorization: 'Bearer gateway-key',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'context-management-2025-06-27,some-future-beta',
      });
      assert.equal(response.status, 200, await response.clone().text());
      // The upstream's Message, named as the client asked (Claude Code drops thinking blocks of another model).
      assert.equal(((await response.json()) as { model: string }).model, 'claude');
      const upstream = fleet.anthropic.requests.at(-1)!;
      assert.deepEqual(JSON.parse(upstream.rawBody), { ...body, model: 'claude-sonnet-4-5' });
      assert.equal(upstream.headers['anthropic-version'], '2023-06-01');
      assert.equal(upstream.headers['anthropic-beta'], 'context-management-2025-06-27,some-future-beta');
      assert.ok(!JSON.stringify(upstream.headers).includes('gateway-key'));
    });

    it('counts tokens: Anthropic answers itself, other providers get the estimate', async () => {
      const request = { messages: [{ role: 'user' as const, content: 'count these words please' }] };
      const native = await client.messages.countTokens({ model: 'claude', ...request });
      assert.ok(native.input_tokens > 0);
      assert.equal(fleet.anthropic.requests.at(-1)!.path, '/v1/messages/count_tokens');
      const response = await postJson(
        `${gateway.url}/v1/messages/count_tokens`,
        { model: 'gpt', ...request },
        { 'x-api-key': 'k' },
      );
      assert.equal(response.headers.get('x-gateway-token-count'), 'estimated');
      const estimate = (await response.json()) as { input_tokens: number };
      assert.ok(estimate.input_tokens > 0);
      assert.equal(fleet.openai.requests.length, 0);
    });

    it("rejects a bad request in Anthropic's format", async () => {
      const missing = await postJson(
        `${gateway.url}/v1/messages`,
        { model: 'claude', messages: [] },
        { 'x-api-key': 'k' },
      );
      assert.equal(missing.status, 400);
      const body = (await missing.json()) as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'invalid_request_error');
      assert.match(body.error.message, /max_tokens/);

      const unknown = await client.messages
        .create({ model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })
        .then(
          () => assert.fail('expected an error'),
          (error: unknown) => error,
        );
      assert.ok(unknown instanceof Anthropic.NotFoundError);
      assert.equal((unknown.error as { error: { type: string } }).error.type, 'not_found_error');
    });

    it("lists models in Anthropic's format for the Anthropic SDK", async () => {
      const page = await client.models.list();
      const ids = page.data.map((model) => model.id);
      assert.deepEqual(ids, [...FLEET_MODELS]);
      for (const model of page.data) {
        assert.equal(model.type, 'model');
        assert.ok(!Number.isNaN(Date.parse(model.created_at)));
      }
      const one = await client.models.retrieve('claude');
      assert.equal(one.id, 'claude');
      const openAiFormat = (await (await fetch(`${gateway.url}/v1/models`)).json()) as { object: string };
      assert.equal(openAiFormat.object, 'list');
    });
  });
});

describe('Messages front: cache and admission', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(
      fleet.config({
        cache: { enabled: true, mode: 'deterministic' },
        auth: { enabled: true, keys: [{ id: 'team-a', key: 'sk-gw-team-a-0123456789', models: ['claude', 'gpt'] }] },
      }),
    );
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });
  beforeEach(() => fleet.reset());

  const headers = { 'x-api-key': 'sk-gw-team-a-0123456789' };

  it('caches per front: a repeated Message is a hit, the same prompt on chat is not', async () => {
    const body = { model: 'gpt', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: 'cache me' }] };
    const first = await postJson(`${gateway.url}/v1/messages`, body, headers);
    assert.equal(first.headers.get('x-gateway-cache'), 'miss');
    const firstBody = await first.text();
    const second = await postJson(`${gateway.url}/v1/messages`, body, headers);
    assert.equal(second.headers.get('x-gateway-cache'), 'hit');
    assert.equal(await second.text(), firstBody);
    const chat = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'gpt', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: 'cache me' }] },
      { authorization: `Bearer ${headers['x-api-key']}` },
    );
    assert.equal(chat.headers.get('x-gateway-cache'), 'miss');
    assert.equal(((await chat.json()) as { object: string }).object, 'chat.completion');
    assert.equal(fleet.openai.requests.length, 2);
  });

  it('keeps a key to its models and refuses a missing key, in Anthropic’s format', async () => {
    const denied = await postJson(
      `${gateway.url}/v1/messages`,
      { model: 'gemini', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
      headers,
    );
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { type: string } }).error.type, 'permission_error');
    const anonymous = await postJson(`${gateway.url}/v1/messages`, {
      model: 'claude',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: { type: string } }).error.type, 'authentication_error');
    assert.equal(fleet.upstreamCalls('gemini') + fleet.upstreamCalls('claude'), 0);
  });
});
