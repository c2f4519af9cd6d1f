import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest, Usage } from '../../common/openai.types.js';
import { RAW_JSON, type WithRawJson } from '../llm-provider.js';
import { readOpenAiChunks, REASONING_MODEL, toGatewayErrorFromOpenAi, toOpenAiRequest } from './openai.mapper.js';
import {
  OPENAI_VENDORS,
  reasoningModelsOf,
  resolveAdaptations,
  streamAdaptationsOf,
  toVendorRequest,
  usageWithVendorFields,
  type AdaptationOverrides,
  type VendorAdaptations,
} from './openai.vendors.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');
const fixture = <T>(name: string): T => JSON.parse(fixtureText(name)) as T;

const adapt = (overrides: AdaptationOverrides): VendorAdaptations => {
  const resolved = resolveAdaptations(overrides);
  assert.ok(resolved, 'adaptations apply');
  return resolved;
};
const vendorBody = (request: ChatCompletionRequest, overrides: AdaptationOverrides) =>
  toVendorRequest(request, toOpenAiRequest(request), adapt(overrides), 'v');
const user = (content: string) => [{ role: 'user' as const, content }];

async function readAll(text: string, overrides?: AdaptationOverrides, split = 7) {
  async function* body() {
    for (let i = 0; i < text.length; i += split) yield text.slice(i, i + split);
  }
  const stream = streamAdaptationsOf(overrides && resolveAdaptations(overrides));
  const chunks: WithRawJson<ChatCompletionChunk>[] = [];
  for await (const chunk of readOpenAiChunks(body(), 'v', stream)) chunks.push(chunk);
  return chunks;
}

describe('vendor presets', () => {
  it('resolve once to frozen tables; no preset and no option keeps the plain path', () => {
    assert.equal(resolveAdaptations({}), undefined);
    for (const vendor of ['together', 'fireworks', 'vllm', 'sglang', 'ollama', 'xai'] as const) {
      assert.equal(resolveAdaptations({ vendor }), undefined, `${vendor} needs only a base URL`);
    }
    for (const vendor of OPENAI_VENDORS) {
      const resolved = resolveAdaptations({ vendor });
      if (resolved) assert.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.dropParams), vendor);
    }
  });

  it('explicit options override the preset', () => {
    const groq = adapt({ vendor: 'groq', dropParams: ['logit_bias'], singleChoice: false });
    assert.deepEqual(groq.dropParams, ['logit_bias']);
    assert.equal(groq.singleChoice, false);
    assert.deepEqual(groq.dropMessageFields, ['name']);
    assert.deepEqual(adapt({ renameParams: { seed: 'random_seed' } }).renameParams, [['seed', 'random_seed']]);
  });

  it('decide which models take reasoning knobs unless options.reasoning says', () => {
    assert.equal(reasoningModelsOf(undefined, 'deepseek', REASONING_MODEL), 'all');
    assert.equal(reasoningModelsOf(undefined, 'mistral', REASONING_MODEL), 'none');
    assert.equal(reasoningModelsOf('auto', 'deepseek', REASONING_MODEL), REASONING_MODEL);
    const xai = reasoningModelsOf(undefined, 'xai', REASONING_MODEL);
    assert.ok(xai instanceof RegExp && xai.test('grok-3-mini') && !xai.test('grok-4'));
    assert.equal(reasoningModelsOf(undefined, undefined, REASONING_MODEL), REASONING_MODEL);
  });
});

describe('toVendorRequest', () => {
  it('deepseek: the thinking switch with the effort kept; logprobs left out', () => {
    const request: ChatCompletionRequest = {
      model: 'deepseek-chat',
      messages: user('Hi'),
      reasoning_effort: 'high',
      logprobs: true,
      top_logprobs: 2,
    };
    assert.deepEqual(vendorBody(request, { vendor: 'deepseek' }), {
      model: 'deepseek-chat',
      messages: user('Hi'),
      reasoning_effort: 'high',
      thinking: { type: 'enabled' },
    });
    const off = vendorBody(
      { model: 'deepseek-chat', messages: user('Hi'), reasoning_effort: 'none' },
      { vendor: 'deepseek' },
    );
    assert.deepEqual(off, { model: 'deepseek-chat', messages: user('Hi'), thinking: { type: 'disabled' } });
    // Anthropic's thinking knob (a budget) becomes the effort, then DeepSeek's switch.
    const budget = vendorBody(
      { model: 'deepseek-chat', messages: user('Hi'), thinking: { type: 'enabled', budget_tokens: 20_000 } },
      { vendor: 'deepseek' },
    );
    assert.deepEqual(budget, {
      model: 'deepseek-chat',
      messages: user('Hi'),
      reasoning_effort: 'high',
      thinking: { type: 'enabled' },
    });
  });

  it('qwen: enable_thinking and thinking_budget when streaming, a 400 naming stream otherwise', () => {
    const streamed = vendorBody(
      { model: 'qwen-plus', messages: user('Hi'), stream: true, thinking: { type: 'enabled', budget_tokens: 4_000 } },
      { vendor: 'qwen' },
    );
    assert.deepEqual(streamed, {
      model: 'qwen-plus',
      messages: user('Hi'),
      stream: true,
      enable_thinking: true,
      thinking_budget: 4_000,
    });
    assert.throws(
      () => vendorBody({ model: 'qwen-plus', messages: user('Hi'), reasoning_effort: 'low' }, { vendor: 'qwen' }),
      (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'stream',
    );
    const off = vendorBody({ model: 'qwen-plus', messages: user('Hi'), reasoning_effort: 'none' }, { vendor: 'qwen' });
    assert.equal(off.enable_thinking, false);
  });

  it("openrouter: the reasoning object, the client's own kept", () => {
    assert.deepEqual(
      vendorBody({ model: 'openai/gpt-4o', messages: user('Hi'), reasoning_effort: 'low' }, { vendor: 'openrouter' })
        .reasoning,
      { effort: 'low' },
    );
    const own = vendorBody(
      { model: 'm', messages: user('Hi'), reasoning_effort: 'low', reasoning: { exclude: true } },
      { vendor: 'openrouter' },
    );
    assert.deepEqual(own.reasoning, { exclude: true });
    assert.equal(own.reasoning_effort, undefined);
  });

  it('groq: refused fields and messages[].name left out, n > 1 a 400 naming n', () => {
    const request: ChatCompletionRequest = {
      model: 'llama-3.3-70b-versatile',
      messages: [{ role: 'user', content: 'Hi', name: 'ada' }],
      logprobs: true,
      logit_bias: { '1': 2 },
    };
    assert.deepEqual(vendorBody(request, { vendor: 'groq' }), {
      model: 'llama-3.3-70b-versatile',
      messages: user('Hi'),
    });
    assert.equal(request.messages[0].name, 'ada', "the client's request is not changed");
    assert.throws(
      () => vendorBody({ ...request, n: 2 }, { vendor: 'groq' }),
      (error: unknown) => error instanceof GatewayError && error.status === 400 && error.param === 'n',
    );
  });

  it("mistral: OpenAI's names as Mistral's, fields it refuses left out", () => {
    const body = vendorBody(
      {
        model: 'mistral-small-latest',
        messages: [
          ...user('Hi'),
          { role: 'assistant', content: 'x', refusal: null, reasoning_content: 'r' },
          ...user('Again'),
        ],
        max_completion_tokens: 10,
        seed: 7,
        user: 'u-1',
        stream_options: { include_usage: true },
        stream: true,
      },
      { vendor: 'mistral' },
    );
    assert.deepEqual(body, {
      model: 'mistral-small-latest',
      messages: [...user('Hi'), { role: 'assistant', content: 'x' }, ...user('Again')],
      max_tokens: 10,
      random_seed: 7,
      stream_options: { include_usage: true },
      stream: true,
    });
  });

  it('changes nothing (same object) when nothing applies', () => {
    const request: ChatCompletionRequest = { model: 'llama3', messages: user('Hi'), temperature: 0 };
    const body = toOpenAiRequest(request);
    assert.equal(toVendorRequest(request, body, adapt({ vendor: 'groq' }), 'v'), body);
  });
});

describe('vendor error shapes', () => {
  const cases = fixture<
    Array<{
      vendor: string;
      status: number;
      body: unknown;
      expect: { status: number; code: string; param: string | null; message: string };
    }>
  >('vendor-errors.json');
  for (const { vendor, status, body, expect } of cases) {
    it(`${vendor} ${status} → ${expect.status} ${expect.code}`, () => {
      const error = toGatewayErrorFromOpenAi(vendor, status, body, {});
      assert.equal(error.status, expect.status);
      assert.equal(error.code, expect.code);
      assert.equal(error.param, expect.param);
      assert.equal(error.message, `${vendor}: ${expect.message}`);
      assert.doesNotMatch(error.message, /sk-secret-echo/, 'the input a validation error echoes stays out');
    });
  }
});

describe('vendor usage and streams', () => {
  it("deepseek: prompt_cache_hit_tokens as cached_tokens when the vendor's details lack it", () => {
    const usage = fixture<Usage>('usage-deepseek.json');
    assert.equal(usageWithVendorFields(usage, 'deepseek'), true);
    assert.equal(usage.prompt_tokens_details?.cached_tokens, 12);
    assert.equal(usage.completion_tokens_details?.reasoning_tokens, 31);
    assert.equal(usageWithVendorFields(usage, 'deepseek'), false, 'already there: unchanged');
    assert.equal(usageWithVendorFields(fixture<Usage>('usage-deepseek.json'), 'openai'), false);
  });

  it("groq: x_groq.usage becomes the usage chunk before the end, split anywhere; the chunks' bytes kept", async () => {
    for (const split of [1, 7, 1000]) {
      const chunks = await readAll(fixtureText('stream-groq.sse'), { vendor: 'groq' }, split);
      assert.equal(chunks.length, 4);
      assert.deepEqual(chunks[3].choices, []);
      assert.deepEqual(chunks[3].usage, { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 });
      assert.equal(chunks[3].id, 'chatcmpl-g1');
      assert.ok(chunks.slice(0, 3).every((chunk) => typeof chunk[RAW_JSON] === 'string'));
    }
    const plain = await readAll(fixtureText('stream-groq.sse'));
    assert.equal(plain.length, 3, 'without the preset there is no usage chunk');
  });

  it('groq: no second usage chunk when the stream sent its own', async () => {
    const usage =
      'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}\n\n';
    const text = fixtureText('stream-groq.sse').replace('data: [DONE]', `${usage}data: [DONE]`);
    const chunks = await readAll(text, { vendor: 'groq' });
    assert.equal(chunks.filter((chunk) => chunk.usage).length, 1);
  });

  it('streamEnd finish: a clean end after finish_reason is complete; before it, still interrupted', async () => {
    const text = fixtureText('stream-no-done.sse');
    await assert.rejects(readAll(text), (error: unknown) => error instanceof GatewayError && error.status === 502);
    const chunks = await readAll(text, { streamEnd: 'finish', usageFields: 'deepseek' });
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''), 'Hello');
    assert.equal(chunks.at(-1)?.usage?.prompt_tokens_details?.cached_tokens, 2);
    assert.equal(chunks.at(-1)?.[RAW_JSON], undefined, 'a changed chunk is serialised anew');
    const cut = text.slice(0, text.indexOf('"finish_reason":"stop"'));
    await assert.rejects(
      readAll(cut.slice(0, cut.lastIndexOf('\n\n') + 2), { streamEnd: 'finish' }),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_stream_interrupted',
    );
  });
});
