/**
 * Reasoning, prompt caching and structured output on the `anthropic` provider through the chat front, over real
 * HTTP to the Anthropic simulator. The simulator signs the thinking blocks it issues and refuses a tool-result
 * turn whose assistant turn lost them (as the API does), counts cache reads and writes per breakpoint, and answers
 * output_config.format or a forced tool with an instance of the schema.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { ChatMessage, ThinkingBlock, Usage } from '../../src/common/openai.types.js';
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const UPSTREAM_KEY = 'sk-ant-e2e-reasoning-secret';
const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, country: { type: 'string' } },
  required: ['city', 'country'],
  additionalProperties: false,
};
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const THINKING = { type: 'enabled', budget_tokens: 1024 };
const LONG_POLICY = Array.from({ length: 200 }, (_, i) => `Rule ${i}: answer precisely.`).join(' ');

interface Completion {
  choices: Array<{ message: ChatMessage & { content: string | null }; finish_reason: string }>;
  usage: Usage;
}

function config(baseUrl: string): Record<string, unknown> {
  const provider = (name: string, options: Record<string, unknown>) => ({
    name,
    type: 'anthropic',
    baseUrl,
    apiKey: UPSTREAM_KEY,
    retry: { retries: 0 },
    options,
  });
  return {
    providers: [provider('claude', {}), provider('claude-tools', { structuredOutput: 'tool' })],
    models: [
      { name: 'claude-test', deployments: [{ provider: 'claude', model: 'claude-sim-1' }] },
      { name: 'claude-tool-mode', deployments: [{ provider: 'claude-tools', model: 'claude-sim-1' }] },
    ],
  };
}

/** Rebuilds thinking blocks from stream fragments: text fragments until the signature closes a block. */
function blocksFromFragments(fragments: ThinkingBlock[]): ThinkingBlock[] {
  const blocks: ThinkingBlock[] = [];
  let open: { type: 'thinking'; thinking: string; signature?: string } | undefined;
  for (const fragment of fragments) {
    if (fragment.type === 'redacted_thinking') {
      blocks.push(fragment);
      continue;
    }
    if (!open) {
      open = { type: 'thinking', thinking: '' };
      blocks.push(open);
    }
    open.thinking += fragment.thinking;
    if (fragment.signature) {
      open.signature = fragment.signature;
      open = undefined;
    }
  }
  return blocks;
}

describe('anthropic provider: thinking, prompt caching and structured output', () => {
  const sim = new AnthropicSimulator({ apiKey: UPSTREAM_KEY });
  let gateway: RunningGateway;
  let client: OpenAI;

  const chat = async (body: Record<string, unknown>): Promise<Completion> =>
    (await client.chat.completions.create(body as never)) as unknown as Completion;

  before(async () => {
    gateway = await startGateway(config(await sim.start()));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });
  beforeEach(() => sim.reset());

  it('returns signed thinking blocks, and a tool loop that sends them back is accepted', async () => {
    const question = { role: 'user', content: 'Weather in Paris?' };
    const first = await chat({ model: 'claude-test', messages: [question], tools: [WEATHER_TOOL], thinking: THINKING });
    const turn = first.choices[0].message;
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    assert.equal(turn.thinking_blocks?.[0]?.type, 'thinking');
    assert.ok(turn.reasoning_content && turn.reasoning_content.length > 0);
    assert.equal(sim.requests[0].body && (sim.requests[0].body as { thinking?: unknown }).thinking !== undefined, true);

    const toolResult = { role: 'tool', tool_call_id: turn.tool_calls![0].id, content: '22°C' };
    const second = await chat({
      model: 'claude-test',
      messages: [question, turn, toolResult],
      tools: [WEATHER_TOOL],
      thinking: THINKING,
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.match(second.choices[0].message.content ?? '', /22°C/);

    // The simulator, like the API, refuses the same turn without its thinking blocks: the round trip matters.
    const withoutBlocks = { ...turn, thinking_blocks: undefined, reasoning_content: undefined };
    await assert.rejects(
      chat({
        model: 'claude-test',
        messages: [question, withoutBlocks, toolResult],
        tools: [WEATHER_TOOL],
        thinking: THINKING,
      }),
      (error: unknown) => error instanceof OpenAI.BadRequestError && /thinking/.test(error.message),
    );
  });

  it('streams thinking fragments that rebuild the blocks the next turn needs', async () => {
    const question = { role: 'user', content: 'Weather in Paris?' };
    const stream = await client.chat.completions.create({
      model: 'claude-test',
      messages: [question],
      tools: [WEATHER_TOOL],
      stream: true,
      thinking: THINKING,
    } as never);
    const fragments: ThinkingBlock[] = [];
    let reasoning = '';
    const calls: Array<{ id: string; name: string; arguments: string }> = [];
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>) {
      const delta = chunk.choices[0]?.delta as
        | (OpenAI.Chat.ChatCompletionChunk.Choice.Delta & {
            thinking_blocks?: ThinkingBlock[];
            reasoning_content?: string;
          })
        | undefined;
      if (!delta) continue;
      fragments.push(...(delta.thinking_blocks ?? []));
      reasoning += delta.reasoning_content ?? '';
      for (const call of delta.tool_calls ?? []) {
        if (call.id) calls.push({ id: call.id, name: call.function?.name ?? '', arguments: '' });
        calls[call.index].arguments += call.function?.arguments ?? '';
      }
    }
    const blocks = blocksFromFragments(fragments);
    assert.equal(blocks.length, 1);
    assert.equal(blocks[0].type === 'thinking' && blocks[0].thinking, reasoning);
    const turn = {
      role: 'assistant',
      content: null,
      thinking_blocks: blocks,
      tool_calls: calls.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
      })),
    };
    const next = await chat({
      model: 'claude-test',
      messages: [question, turn, { role: 'tool', tool_call_id: calls[0].id, content: '22°C' }],
      tools: [WEATHER_TOOL],
      thinking: THINKING,
    });
    assert.equal(next.choices[0].finish_reason, 'stop');
  });

  it('turns reasoning_effort into a thinking budget and reports reasoning tokens', async () => {
    const completion = await chat({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'Think first.' }],
      reasoning_effort: 'medium',
      temperature: 0.3,
    });
    const sent = sim.requests[0].body as { thinking?: unknown; temperature?: unknown; max_tokens?: number };
    assert.deepEqual(sent.thinking, { type: 'enabled', budget_tokens: 2048 });
    assert.equal(sent.temperature, undefined, 'Claude takes only temperature 1 while thinking');
    assert.ok((sent.max_tokens ?? 0) > 2048);
    assert.ok(completion.choices[0].message.reasoning_content);
    const reasoning = completion.usage.completion_tokens_details?.reasoning_tokens ?? 0;
    assert.ok(reasoning > 0 && reasoning <= completion.usage.completion_tokens);
  });

  it('writes then reads the prompt cache at cache_control breakpoints, counted the same streamed or not', async () => {
    const messages = [
      { role: 'system', content: [{ type: 'text', text: LONG_POLICY, cache_control: { type: 'ephemeral' } }] },
      { role: 'user', content: 'What is rule 7?' },
    ];
    const cold = await chat({ model: 'claude-test', messages });
    const written = cold.usage.prompt_tokens_details?.cache_creation_tokens ?? 0;
    assert.ok(written > 0, 'the first call writes the cache');
    assert.equal(cold.usage.prompt_tokens_details?.cached_tokens, 0);
    const system = (sim.requests[0].body as { system?: unknown }).system;
    assert.deepEqual(system, [{ type: 'text', text: LONG_POLICY, cache_control: { type: 'ephemeral' } }]);

    const warm = await chat({ model: 'claude-test', messages });
    assert.equal(warm.usage.prompt_tokens_details?.cached_tokens, written);
    assert.equal(warm.usage.prompt_tokens, cold.usage.prompt_tokens, 'prompt_tokens counts cached input too');

    const stream = await client.chat.completions.create({
      model: 'claude-test',
      messages: messages as never,
      stream: true,
      stream_options: { include_usage: true },
    });
    const usages: Usage[] = [];
    for await (const chunk of stream) if (chunk.usage) usages.push(chunk.usage as Usage);
    assert.equal(usages.length, 1, 'usage arrives once');
    assert.deepEqual(usages[0].prompt_tokens_details, warm.usage.prompt_tokens_details);
    assert.equal(usages[0].prompt_tokens, warm.usage.prompt_tokens);
  });

  it('answers json_schema through output_config.format, natively', async () => {
    const completion = await chat({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'Where is the Louvre?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema: SCHEMA } },
    });
    const sent = sim.requests[0].body as { output_config?: unknown; tools?: unknown };
    assert.deepEqual(sent.output_config, { format: { type: 'json_schema', schema: SCHEMA } });
    assert.equal(sent.tools, undefined);
    assert.deepEqual(Object.keys(JSON.parse(completion.choices[0].message.content ?? '') as object).sort(), [
      'city',
      'country',
    ]);
  });

  it('answers json_schema in tool mode and json_object through a forced tool, streamed or not', async () => {
    const forSchema = {
      model: 'claude-tool-mode',
      messages: [{ role: 'user', content: 'Where is the Louvre?' }],
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema: SCHEMA } },
    };
    const whole = await chat(forSchema);
    assert.deepEqual((sim.requests[0].body as { tool_choice?: unknown }).tool_choice, { type: 'tool', name: 'place' });
    assert.equal(whole.choices[0].finish_reason, 'stop');
    assert.equal(whole.choices[0].message.tool_calls, undefined);
    const place = JSON.parse(whole.choices[0].message.content ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(place).sort(), ['city', 'country']);

    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { ...forSchema, stream: true },
      { authorization: 'Bearer gateway-key' },
    );
    const text = await response.text();
    const contents = text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)) as OpenAI.Chat.ChatCompletionChunk)
      .map((chunk) => chunk.choices[0]?.delta?.content ?? '')
      .join('');
    assert.deepEqual(JSON.parse(contents), place);
    assert.match(text, /"finish_reason":"stop"/);

    const object = await chat({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'Any JSON object.' }],
      response_format: { type: 'json_object' },
    });
    assert.equal(typeof JSON.parse(object.choices[0].message.content ?? ''), 'object');
  });
});
