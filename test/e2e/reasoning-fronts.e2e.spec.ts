/**
 * Reasoning survives the round trip on every front × every provider that reasons: a tool call made while reasoning,
 * its turn sent back in the front's own form (chat: the message with `thinking_blocks` / `reasoning_content` /
 * `extra_content`; Responses: the output items with `encrypted_content`; Messages: the content blocks), and the
 * tool result answered. Each simulator refuses a continuation that lost its reasoning as its vendor does: Anthropic
 * and Bedrock check the thinking block's signature, Gemini the function call's thought signature, DeepSeek the
 * turn's `reasoning_content`. Then usage: per front × provider, the streamed answer reports exactly the usage of the
 * same request answered whole (cache reads and writes included), once; and OpenAI's `prompt_cache_key` gets through.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { FLEET_MODELS, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 120_000 };
const DEEPSEEK_KEY = 'sk-deepseek-fronts-0123456789';
const PROMPT = 'Weather in Paris?\nSIM_TOOL get_weather {"city":"Paris"}';
const PARAMETERS = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
/** Gemini 3 models refuse a function call without its thought signature; 2.5 models do not check. */
const REASONING_MODELS = ['claude', 'bedrock', 'gemini-3', 'deepseek'] as const;
const AUTH = { authorization: 'Bearer gateway-key', 'anthropic-version': '2023-06-01' };

type Json = Record<string, unknown>;

async function post(url: string, body: Json): Promise<Json> {
  const response = await postJson(url, body, AUTH);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text) as Json;
}

/** The usage object of the last SSE data event that carries one (chat, Responses and Messages shapes). */
function streamedUsage(text: string): { usages: Json[] } {
  const usages: Json[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const data = JSON.parse(line.slice(6)) as Json;
    const usage =
      (data.usage as Json | undefined) ??
      ((data.response as Json | undefined)?.usage as Json | undefined) ??
      ((data.message as Json | undefined)?.usage as Json | undefined);
    if (usage && data.type !== 'response.created' && data.type !== 'response.in_progress') usages.push(usage);
  }
  return { usages };
}

describe('reasoning round trip and usage on every front × provider', SUITE, () => {
  const fleet = new ProviderFleet();
  const deepseek = new OpenAiSimulator({ apiKey: DEEPSEEK_KEY, vendor: 'deepseek' });
  let gateway: RunningGateway;
  let base: string;

  before(async () => {
    const [deepseekUrl] = await Promise.all([deepseek.start(), fleet.start()]);
    const config = fleet.config();
    (config.providers as Json[]).push({ name: 'deepseek', type: 'openai', baseUrl: deepseekUrl, apiKey: DEEPSEEK_KEY });
    (config.models as Json[]).push({
      name: 'gemini-3',
      deployments: [{ provider: 'gemini', model: 'gemini-3-flash-preview' }],
    });
    (config.models as Json[]).push({
      name: 'deepseek',
      deployments: [{ provider: 'deepseek', model: 'deepseek-reasoner' }],
    });
    gateway = await startGateway(config);
    base = gateway.url;
  });
  after(async () => {
    await gateway.close();
    await Promise.all([fleet.stop(), deepseek.stop()]);
  });

  for (const model of REASONING_MODELS) {
    describe(model, () => {
      it('chat: the message sent back keeps its reasoning', async () => {
        const tools = [{ type: 'function', function: { name: 'get_weather', parameters: PARAMETERS } }];
        const question = { role: 'user', content: PROMPT };
        const request = { model, tools, reasoning_effort: 'low', max_tokens: 4000 };
        const first = await post(`${base}/v1/chat/completions`, { ...request, messages: [question] });
        const turn = (first.choices as Array<{ message: Json }>)[0].message;
        const calls = turn.tool_calls as Array<{ id: string }>;
        assert.ok(calls.length > 0, 'a tool call');
        assert.ok(turn.thinking_blocks ?? turn.reasoning_content ?? turn.extra_content ?? calls[0], 'reasoning state');
        const result = { role: 'tool', tool_call_id: calls[0].id, content: '22°C' };
        const second = await post(`${base}/v1/chat/completions`, { ...request, messages: [question, turn, result] });
        assert.equal((second.choices as Array<{ finish_reason: string }>)[0].finish_reason, 'stop');
      });

      it('responses: the output items sent back keep their reasoning', async () => {
        const tools = [{ type: 'function', name: 'get_weather', parameters: PARAMETERS }];
        const request = {
          model,
          tools,
          store: false,
          reasoning: { effort: 'low', summary: 'auto' },
          include: ['reasoning.encrypted_content'],
          max_output_tokens: 4000,
        };
        const question = { role: 'user', content: PROMPT };
        const first = await post(`${base}/v1/responses`, { ...request, input: [question] });
        const output = first.output as Json[];
        const call = output.find((item) => item.type === 'function_call');
        assert.ok(call, 'a function call');
        const reasoning = output.find((item) => item.type === 'reasoning');
        assert.ok(reasoning && typeof reasoning.encrypted_content === 'string', 'a reasoning item with its state');
        const result = { type: 'function_call_output', call_id: call.call_id, output: '22°C' };
        const second = await post(`${base}/v1/responses`, { ...request, input: [question, ...output, result] });
        assert.equal(second.status, 'completed');
      });

      it('messages: the content blocks sent back keep their reasoning', async () => {
        const tools = [{ name: 'get_weather', input_schema: PARAMETERS }];
        const request = { model, tools, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 1024 } };
        const question = { role: 'user', content: PROMPT };
        const first = await post(`${base}/v1/messages`, { ...request, messages: [question] });
        const content = first.content as Json[];
        const use = content.find((block) => block.type === 'tool_use');
        assert.ok(use, 'a tool_use block');
        assert.ok(
          content.some((block) => block.type === 'thinking' || block.type === 'redacted_thinking'),
          'a thinking block',
        );
        const result = { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '22°C' }] };
        const second = await post(`${base}/v1/messages`, {
          ...request,
          messages: [question, { role: 'assistant', content }, result],
        });
        assert.equal(second.stop_reason, 'end_turn');
      });
    });
  }

  it('the simulators do refuse a continuation that lost its reasoning (so the tests above can fail)', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: PARAMETERS } }];
    const question = { role: 'user', content: PROMPT };
    for (const model of REASONING_MODELS) {
      const request = { model, tools, reasoning_effort: 'low', max_tokens: 4000 };
      const first = await post(`${base}/v1/chat/completions`, { ...request, messages: [question] });
      const turn = (first.choices as Array<{ message: Json }>)[0].message;
      // What a gateway that drops reasoning would send back: the calls alone, without their signatures.
      const calls = (turn.tool_calls as Array<{ id: string; type: string; function: Json }>).map((call) => ({
        id: call.id,
        type: call.type,
        function: call.function,
      }));
      const response = await postJson(
        `${base}/v1/chat/completions`,
        {
          ...request,
          messages: [
            question,
            { role: 'assistant', content: null, tool_calls: calls },
            { role: 'tool', tool_call_id: calls[0].id, content: '22°C' },
          ],
        },
        AUTH,
      );
      assert.equal(response.status, 400, `${model}: ${await response.text()}`);
    }
  });

  it('prompt_cache_key reaches OpenAI from chat and from Responses, passed through or translated', async () => {
    for (const [path, body] of [
      ['/v1/chat/completions', { model: 'gpt', messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/responses', { model: 'gpt', input: 'hi', store: false }],
      ['/v1/responses', { model: 'gpt-native', input: 'hi', store: false }],
    ] as const) {
      await post(`${base}${path}`, { ...body, prompt_cache_key: 'session-42' });
      const sent = fleet.openai.requests.at(-1)?.body as Json;
      assert.equal(sent.prompt_cache_key, 'session-42', `${path} ${body.model}`);
    }
  });

  const USAGE_FRONTS = [
    {
      name: 'chat',
      path: '/v1/chat/completions',
      body: (model: string) => ({
        model,
        messages: [
          {
            role: 'system',
            content: [{ type: 'text', text: 'Policy. '.repeat(300), cache_control: { type: 'ephemeral' } }],
          },
          { role: 'user', content: 'hello' },
        ],
      }),
      stream: { stream: true, stream_options: { include_usage: true } },
    },
    {
      name: 'responses',
      path: '/v1/responses',
      body: (model: string) => ({ model, store: false, instructions: 'Policy. '.repeat(300), input: 'hello' }),
      stream: { stream: true },
    },
    {
      name: 'messages',
      path: '/v1/messages',
      body: (model: string) => ({
        model,
        max_tokens: 200,
        system: [{ type: 'text', text: 'Policy. '.repeat(300), cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'hello' }],
      }),
      stream: { stream: true },
    },
  ];

  for (const front of USAGE_FRONTS) {
    for (const model of FLEET_MODELS) {
      it(`${front.name} × ${model}: streamed usage equals the whole answer's, reported once`, async () => {
        const body = front.body(model);
        await post(`${base}${front.path}`, body);
        const whole = (await post(`${base}${front.path}`, body)).usage as Json;
        const response = await postJson(`${base}${front.path}`, { ...body, ...front.stream }, AUTH);
        const text = await response.text();
        assert.equal(response.status, 200, text);
        const { usages } = streamedUsage(text);
        if (front.name === 'messages') {
          // message_start carries the input counts, message_delta the final output count: merged, once each.
          const merged = Object.assign({}, ...usages) as Json;
          for (const field of [
            'input_tokens',
            'cache_read_input_tokens',
            'cache_creation_input_tokens',
            'output_tokens',
          ]) {
            assert.equal(merged[field] ?? 0, whole[field] ?? 0, field);
          }
        } else {
          assert.equal(usages.length, 1, 'usage reported once');
          assert.deepEqual(usages[0], whole);
        }
      });
    }
  }
});
