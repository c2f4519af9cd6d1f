/**
 * The OpenAI Responses front on every provider: the official `openai` SDK (`client.responses`) → gateway → each
 * provider's simulator over real HTTP. Non-streaming, streaming (the exact event sequence, `sequence_number` from 0),
 * a function-call round trip and upstream errors on each, every Response and event validated against OpenAI's
 * official schemas; then what only the front does: native passthrough, the response store (previous_response_id,
 * GET, DELETE, scoped per key), stateless mode, built-in tools, and a failure after the stream started.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { schemaErrors } from '../simulators/openai-schemas.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { FLEET_MODELS, type FleetModel, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 60_000 };

const weatherTool: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};
const TOOL_PROMPT = 'What is the weather in Paris?\nSIM_TOOL get_weather {"city":"Paris"}';

function assertValid(schema: string, value: unknown): void {
  const errors = schemaErrors(schema, value);
  assert.equal(errors, '', `${schema} invalid: ${errors}\n${JSON.stringify(value).slice(0, 2_000)}`);
}

/** The frames of an SSE body: event name and parsed data. */
function frames(text: string): Array<{ event: string; data: Record<string, unknown> }> {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => ({
      event: /^event: (.*)$/m.exec(frame)?.[1] ?? '',
      data: JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null') as Record<string, unknown>,
    }));
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected an error'),
    (error: unknown) => error,
  );
}

describe('Responses front on every provider (official openai SDK)', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(fleet.config());
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });
  beforeEach(() => fleet.reset());

  for (const model of FLEET_MODELS) {
    describe(model, () => {
      it('answers a Response that validates against the official schema', async () => {
        const response = await client.responses.create({
          model,
          instructions: 'Be brief.',
          input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello there' }] }],
          store: false,
          max_output_tokens: 200,
        });
        const { output_text: outputText, ...wire } = response;
        assertValid('Response', wire);
        assert.equal(response.object, 'response');
        assert.equal(response.status, 'completed');
        assert.match(response.id, /^resp_/);
        assert.match(outputText, /hello there/);
        const usage = response.usage!;
        assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0);
        assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
        assert.equal(typeof usage.input_tokens_details.cached_tokens, 'number');
        assert.equal(typeof usage.output_tokens_details.reasoning_tokens, 'number');
      });

      it('streams the exact event sequence, each event valid, numbered from 0', async () => {
        const response = await postJson(
          `${gateway.url}/v1/responses`,
          { model, input: 'stream to me', stream: true, store: false },
          { authorization: 'Bearer gateway-key' },
        );
        assert.equal(response.status, 200);
        const events = frames(await response.text());
        events.forEach(({ event, data }, i) => {
          assert.equal(data.type, event);
          assert.equal(data.sequence_number, i);
          assertValid('ResponseStreamEvent', data);
        });
        const types = events.map(({ event }) => event);
        assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
        assert.equal(types.at(-1), 'response.completed');
        const message = types.indexOf('response.content_part.added');
        assert.ok(message > types.indexOf('response.output_item.added'));
        assert.ok(types.includes('response.output_text.delta'));
        const tail = types.slice(types.indexOf('response.output_text.done'));
        assert.deepEqual(tail, [
          'response.output_text.done',
          'response.content_part.done',
          'response.output_item.done',
          'response.completed',
        ]);

        const stream = client.responses.stream({ model, input: 'stream to me', store: false });
        const final = await stream.finalResponse();
        assert.match(final.output_text, /stream to me/);
        assert.ok(final.usage && final.usage.output_tokens > 0);
      });

      it('makes a function call and takes its output back', async () => {
        const first = await client.responses.create({ model, input: TOOL_PROMPT, tools: [weatherTool], store: false });
        const { output_text: _text, ...wire } = first;
        assertValid('Response', wire);
        const call = first.output.find((item) => item.type === 'function_call');
        assert.ok(call?.type === 'function_call', JSON.stringify(first.output));
        assert.equal(call.name, 'get_weather');
        assert.ok(call.call_id.length > 0);
        assert.equal(typeof JSON.parse(call.arguments), 'object');

        const second = await client.responses.create({
          model,
          tools: [weatherTool],
          store: false,
          input: [
            { role: 'user', content: TOOL_PROMPT },
            ...first.output,
            { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 21 C' },
          ] as OpenAI.Responses.ResponseInput,
        });
        assert.equal(second.status, 'completed');
        assert.ok(second.output_text.length > 0);

        const stream = client.responses.stream({ model, input: TOOL_PROMPT, tools: [weatherTool], store: false });
        const argumentEvents: string[] = [];
        stream.on('response.function_call_arguments.done', (event) => argumentEvents.push(event.arguments));
        const streamed = await stream.finalResponse();
        const streamedCall = streamed.output.find((item) => item.type === 'function_call');
        assert.ok(streamedCall?.type === 'function_call');
        assert.deepEqual(JSON.parse(streamedCall.arguments), JSON.parse(call.arguments));
        assert.deepEqual(argumentEvents, [streamedCall.arguments]);
      });

      it("answers an upstream failure in OpenAI's format, as the SDK's error class", async () => {
        fleet.failNext(model, 429);
        const limited = await rejection(client.responses.create({ model, input: 'hi', store: false }));
        assert.ok(limited instanceof OpenAI.RateLimitError, String(limited));
        assert.equal(limited.status, 429);
        assert.equal(typeof (limited.error as { message: string }).message, 'string');

        fleet.failNext(model, 500);
        const failed = await rejection(client.responses.stream({ model, input: 'hi', store: false }).finalResponse());
        assert.ok(failed instanceof OpenAI.APIError, String(failed));
        assert.ok((failed.status ?? 0) >= 500, String(failed.status));
      });
    });
  }

  describe('what only the Responses front does', () => {
    it('forwards the body to a native upstream unchanged and its bytes back', async () => {
      const body = {
        model: 'gpt-native',
        input: 'hi',
        store: false,
        include: ['reasoning.encrypted_content'],
        client_metadata: { originator: 'codex_exec' },
      };
      const response = await postJson(`${gateway.url}/v1/responses`, body, { authorization: 'Bearer k' });
      assert.equal(response.status, 200);
      const upstream = fleet.openai.requests.at(-1)!;
      assert.equal(upstream.path, '/v1/responses');
      assert.deepEqual(upstream.body, { ...body, model: 'gpt-4o-mini' });
      const answer = (await response.json()) as { model: string };
      assert.equal(answer.model, 'gpt-native', 'the model the client asked for');
    });

    it('drops built-in tools for a translated upstream and names them in x-gateway-dropped-tools', async () => {
      const response = await postJson(
        `${gateway.url}/v1/responses`,
        { model: 'claude', input: 'hi', store: false, tools: [weatherTool, { type: 'web_search' }] },
        { authorization: 'Bearer k' },
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-gateway-dropped-tools'), 'web_search');
      const upstream = JSON.parse(fleet.anthropic.requests.at(-1)!.rawBody) as { tools: Array<{ name: string }> };
      assert.deepEqual(
        upstream.tools.map((tool) => tool.name),
        ['get_weather'],
      );
    });

    it('refuses previous_response_id and stored responses while stateless, saying how to enable the store', async () => {
      const continued = await rejection(
        client.responses.create({ model: 'gpt', input: 'more', previous_response_id: 'resp_x' }),
      );
      assert.ok(continued instanceof OpenAI.BadRequestError);
      assert.match(continued.message, /stateless.*fronts\.responses\.store\.enabled/);
      const fetched = await rejection(client.responses.retrieve('resp_x'));
      assert.ok(fetched instanceof OpenAI.BadRequestError);
    });

    it('ends a stream that fails after the start with response.failed (translated) or error (native)', async () => {
      for (const [model, terminal] of [
        ['gpt', 'response.failed'],
        ['gpt-native', 'error'],
      ] as Array<[FleetModel, string]>) {
        fleet.openai.enqueueFault({ dropAfterChunks: 3, paths: model === 'gpt' ? undefined : ['/v1/responses'] });
        const response = await postJson(
          `${gateway.url}/v1/responses`,
          { model, input: 'a longer answer please', stream: true, store: false },
          { authorization: 'Bearer k' },
        );
        assert.equal(response.status, 200);
        const events = frames(await response.text());
        const last = events.at(-1)!;
        assert.equal(last.event, terminal, JSON.stringify(events.map((e) => e.event)));
        assert.equal(last.data.sequence_number, events.length - 1);
        assertValid('ResponseStreamEvent', last.data);
      }
    });
  });
});

describe('Responses front: the response store', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;
  const KEY_A = 'sk-gw-team-a-0123456789';
  const KEY_B = 'sk-gw-team-b-0123456789';
  let a: OpenAI;
  let b: OpenAI;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(
      fleet.config({
        fronts: { responses: { store: { enabled: true, ttlSeconds: 60 } } },
        auth: {
          enabled: true,
          keys: [
            { id: 'team-a', key: KEY_A },
            { id: 'team-b', key: KEY_B },
          ],
        },
      }),
    );
    a = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: KEY_A, maxRetries: 0 });
    b = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: KEY_B, maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });
  beforeEach(() => fleet.reset());

  for (const model of ['claude', 'gpt-native'] as const) {
    it(`continues a conversation with previous_response_id (${model}), scoped to the key`, async () => {
      const first = await a.responses.create({ model, input: 'My name is Ada.' });
      const second = await a.responses.create({ model, input: 'What is my name?', previous_response_id: first.id });
      assert.equal(second.previous_response_id, first.id);
      assert.equal(second.status, 'completed');
      if (model === 'claude') {
        // The upstream got the whole conversation: the stored turn, its answer, then the new input.
        const upstream = JSON.parse(fleet.anthropic.requests.at(-1)!.rawBody) as { messages: unknown[] };
        assert.deepEqual(
          upstream.messages.map((message) => (message as { role: string }).role),
          ['user', 'assistant', 'user'],
        );
        assert.match(JSON.stringify(upstream.messages[1]), /My name is Ada/);
      } else {
        // The native upstream made the first response: it continues from its own id.
        const upstream = fleet.openai.requests.at(-1)!.body as { previous_response_id: string };
        assert.equal(upstream.previous_response_id, first.id);
      }

      const fetched = await a.responses.retrieve(second.id);
      assert.equal(fetched.id, second.id);
      assertValid('Response', fetched);
      // Another key sees nothing of it.
      assert.ok((await rejection(b.responses.retrieve(second.id))) instanceof OpenAI.NotFoundError);
      assert.ok(
        (await rejection(b.responses.create({ model, input: 'x', previous_response_id: first.id }))) instanceof
          OpenAI.NotFoundError,
      );
      assert.ok((await rejection(b.responses.delete(second.id))) instanceof OpenAI.NotFoundError);

      await a.responses.delete(second.id);
      assert.ok((await rejection(a.responses.retrieve(second.id))) instanceof OpenAI.NotFoundError);
    });
  }

  it('stores a streamed response, and never one with store: false', async () => {
    const streamed = await a.responses.stream({ model: 'gemini', input: 'remember this' }).finalResponse();
    assert.equal((await a.responses.retrieve(streamed.id)).id, streamed.id);
    const unstored = await a.responses.create({ model: 'gemini', input: 'forget this', store: false });
    assert.ok((await rejection(a.responses.retrieve(unstored.id))) instanceof OpenAI.NotFoundError);
  });
});
