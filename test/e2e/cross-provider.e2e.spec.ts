/**
 * One gateway, three providers (OpenAI, Anthropic, ERNIE v1): the same `openai` SDK code gets the same response
 * shapes from each. Compared on key sets and value types, not on text.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { ErnieSimulator } from '../simulators/ernie-simulator.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { type RunningGateway, startGateway } from './harness.js';

/** Public model → upstream model, one per provider. */
const MODELS = {
  'gpt-x': 'sim-gpt',
  'claude-x': 'claude-sim-1',
  'ernie-x': 'ERNIE-Speed-8K',
} as const;
type PublicModel = keyof typeof MODELS;
const PUBLIC_MODELS = Object.keys(MODELS) as PublicModel[];

/** Top-level fields OpenAI documents as optional; an OpenAI upstream's are passed through, others omit them. */
const OPTIONAL_TOP_LEVEL = new Set(['system_fingerprint', 'service_tier']);
const COMPLETION_KEYS = ['choices', 'created', 'id', 'model', 'object', 'usage'];
const CHOICE_KEYS = ['finish_reason', 'index', 'logprobs', 'message'];
const CHUNK_CHOICE_KEYS = ['delta', 'finish_reason', 'index', 'logprobs'];
const USAGE_COUNTS = ['completion_tokens', 'prompt_tokens', 'total_tokens'];
const OPTIONAL_USAGE = new Set(['prompt_tokens_details', 'completion_tokens_details']);

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'lookup', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];

describe('the same SDK code against OpenAI, Anthropic and ERNIE models', () => {
  const openAi = new OpenAiSimulator({ apiKey: 'sk-openai-cross' });
  const anthropic = new AnthropicSimulator({ apiKey: 'sk-ant-cross' });
  const ernie = new ErnieSimulator({ apiKey: 'ernie-cross-ak', secretKey: 'ernie-cross-sk' });
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    const [openAiUrl, anthropicUrl, ernieRoot] = await Promise.all([openAi.start(), anthropic.start(), ernie.start()]);
    const shared = { retry: { retries: 0 }, timeouts: { connectMs: 1_000, firstByteMs: 2_000, totalMs: 5_000 } };
    gateway = await startGateway({
      providers: [
        { name: 'openai', type: 'openai', baseUrl: openAiUrl, apiKey: 'sk-openai-cross', ...shared },
        { name: 'anthropic', type: 'anthropic', baseUrl: anthropicUrl, apiKey: 'sk-ant-cross', ...shared },
        {
          name: 'ernie',
          type: 'ernie',
          baseUrl: ernieRoot,
          apiKey: 'ernie-cross-ak',
          options: { secretKey: 'ernie-cross-sk' },
          ...shared,
        },
      ],
      models: [
        { name: 'gpt-x', deployments: [{ provider: 'openai', model: MODELS['gpt-x'] }] },
        { name: 'claude-x', deployments: [{ provider: 'anthropic', model: MODELS['claude-x'] }] },
        { name: 'ernie-x', deployments: [{ provider: 'ernie', model: MODELS['ernie-x'] }] },
      ],
    });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([openAi.stop(), anthropic.stop(), ernie.stop()]);
  });

  /** The same call for every model. */
  async function forEachModel<T>(call: (model: PublicModel) => Promise<T>): Promise<Record<PublicModel, T>> {
    const results = await Promise.all(PUBLIC_MODELS.map(call));
    return Object.fromEntries(PUBLIC_MODELS.map((model, i) => [model, results[i]])) as Record<PublicModel, T>;
  }

  async function collect(stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>) {
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  }

  it('returns chat.completion objects of one shape', async () => {
    const completions = await forEachModel((model) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'same shape please' }] }),
    );
    for (const [model, completion] of Object.entries(completions) as Array<[PublicModel, OpenAI.Chat.ChatCompletion]>) {
      assertCompletionEnvelope(completion, model);
      assert.equal(completion.choices[0].finish_reason, 'stop', model);
      assert.equal(typeof completion.choices[0].message.content, 'string', model);
    }
    assertSameKeys(
      PUBLIC_MODELS.map((model) => [model, completions[model].choices[0].message]),
      'message',
    );
  });

  it('streams chat.completion.chunk objects of one shape and sequence', async () => {
    const streams = await forEachModel(async (model) =>
      collect(
        await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'same stream please' }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      ),
    );
    const wholes = await forEachModel((model) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'same stream please' }] }),
    );
    for (const model of PUBLIC_MODELS) {
      const chunks = streams[model];
      const [first] = chunks;
      for (const chunk of chunks) {
        assert.deepEqual(coreKeys(chunk), COMPLETION_KEYS, `${model} chunk keys`);
        assert.equal(chunk.object, 'chat.completion.chunk', model);
        assert.equal(chunk.id, first.id, `${model}: one id per stream`);
        assert.equal(chunk.created, first.created, `${model}: one created per stream`);
        assert.equal(chunk.model, first.model, `${model}: one model per stream`);
        for (const choice of chunk.choices) assert.deepEqual(Object.keys(choice).sort(), CHUNK_CHOICE_KEYS, model);
      }
      assertEnvelopeTypes(first, model);
      assert.deepEqual(skeleton(chunks), ['role', 'content', 'finish', 'usage'], `${model} chunk sequence`);
      assert.deepEqual(chunks.at(-2)!.choices[0].delta, {}, `${model}: the finish chunk has an empty delta`);
      assertUsage(chunks.at(-1)!.usage, model);
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
      assert.equal(text, wholes[model].choices[0].message.content, `${model}: streamed text = non-streamed text`);
    }
  });

  it('returns tool calls of one shape, streaming and not', async () => {
    const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };
    const completions = await forEachModel((model) =>
      client.chat.completions.create({ model, messages: [question], tools }),
    );
    for (const model of PUBLIC_MODELS) {
      const completion = completions[model];
      assertCompletionEnvelope(completion, model);
      assert.equal(completion.choices[0].finish_reason, 'tool_calls', model);
      const message = completion.choices[0].message;
      assert.equal(message.content, null, `${model}: no text beside the tool call`);
      assert.equal(message.tool_calls?.length, 1, model);
      const call = message.tool_calls[0];
      assert.deepEqual(Object.keys(call).sort(), ['function', 'id', 'type'], model);
      assert.ok(call.type === 'function' && typeof call.id === 'string' && call.id !== '', model);
      assert.deepEqual(Object.keys(call.function).sort(), ['arguments', 'name'], model);
      assert.equal(call.function.name, 'lookup', model);
      assert.equal(typeof JSON.parse(call.function.arguments), 'object', model);
    }
    const streams = await forEachModel(async (model) =>
      collect(await client.chat.completions.create({ model, messages: [question], tools, stream: true })),
    );
    for (const model of PUBLIC_MODELS) {
      const deltas = streams[model].flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
      assert.ok(deltas.length >= 1, model);
      const [head, ...rest] = deltas;
      assert.deepEqual(Object.keys(head).sort(), ['function', 'id', 'index', 'type'], `${model} first tool delta`);
      assert.deepEqual(Object.keys(head.function ?? {}).sort(), ['arguments', 'name'], model);
      for (const fragment of rest) {
        assert.deepEqual(Object.keys(fragment).sort(), ['function', 'index'], `${model} later tool deltas`);
        assert.deepEqual(Object.keys(fragment.function ?? {}), ['arguments'], model);
      }
      const args = deltas.map((delta) => delta.function?.arguments ?? '').join('');
      const whole = completions[model].choices[0].message.tool_calls![0];
      assert.ok(whole.type === 'function');
      assert.deepEqual(
        JSON.parse(args),
        JSON.parse(whole.function.arguments),
        `${model}: streamed = non-streamed arguments`,
      );
      assert.equal(streams[model].at(-1)!.choices[0].finish_reason, 'tool_calls', model);
    }
    assertSameKeys(
      PUBLIC_MODELS.map((model) => [model, completions[model].choices[0].message]),
      'tool-call message',
    );
  });

  it('reports an upstream rate limit as the same RateLimitError and error body', async () => {
    openAi.enqueueFault({ status: 429, retryAfterSeconds: 3 });
    anthropic.enqueueFault({ status: 429, retryAfterSeconds: 3 });
    ernie.enqueueFault({ errorCode: 18, errorMsg: 'Open api qps request limit reached' });
    const errors = await forEachModel((model) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).then(
        () => assert.fail(`${model} did not fail`),
        (error: unknown) => error,
      ),
    );
    for (const model of PUBLIC_MODELS) {
      const error = errors[model];
      assert.ok(error instanceof OpenAI.RateLimitError, model);
      assert.equal(error.status, 429, model);
      assert.equal(error.code, 'rate_limit_exceeded', model);
      assert.deepEqual(Object.keys(error.error as object).sort(), ['code', 'message', 'param', 'type'], model);
      assert.match(error.headers?.get('retry-after') ?? '', /^\d+$/, model);
      assert.ok(error.requestID, model);
    }
  });
});

function coreKeys(value: object): string[] {
  return Object.keys(value)
    .filter((key) => !OPTIONAL_TOP_LEVEL.has(key))
    .sort();
}

function assertEnvelopeTypes(value: { id: string; created: number; model: string }, model: PublicModel): void {
  assert.match(value.id, /^chatcmpl-./, `${model} id`);
  assert.ok(Number.isInteger(value.created) && Math.abs(value.created - Date.now() / 1000) < 3_600, `${model} created`);
  // The public name (spec §4.1) or, as the gateway answers today, the upstream model name.
  assert.ok(
    [model, MODELS[model]].some((name) => name === value.model),
    `${model}: model is ${value.model}`,
  );
}

function assertUsage(usage: OpenAI.CompletionUsage | null | undefined, model: PublicModel): void {
  assert.ok(usage, `${model} usage`);
  const keys = Object.keys(usage);
  assert.deepEqual(keys.filter((key) => !OPTIONAL_USAGE.has(key)).sort(), USAGE_COUNTS, `${model} usage keys`);
  for (const key of USAGE_COUNTS) assert.ok(Number.isInteger(usage[key as keyof typeof usage]), `${model} ${key}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, model);
}

function assertCompletionEnvelope(completion: OpenAI.Chat.ChatCompletion, model: PublicModel): void {
  assert.deepEqual(coreKeys(completion), COMPLETION_KEYS, `${model} completion keys`);
  assert.equal(completion.object, 'chat.completion', model);
  assertEnvelopeTypes(completion, model);
  assert.equal(completion.choices.length, 1, model);
  const [choice] = completion.choices;
  assert.deepEqual(Object.keys(choice).sort(), CHOICE_KEYS, `${model} choice keys`);
  assert.equal(choice.index, 0, model);
  assert.equal(choice.logprobs, null, model);
  assert.equal(choice.message.role, 'assistant', model);
  assertUsage(completion.usage, model);
}

/** The key sets of one object per model must be equal. */
function assertSameKeys(entries: Array<[PublicModel, object]>, what: string): void {
  const [[firstModel, firstValue]] = entries;
  for (const [model, value] of entries) {
    assert.deepEqual(
      Object.keys(value).sort(),
      Object.keys(firstValue).sort(),
      `${what} keys of ${model} vs ${firstModel}`,
    );
  }
}

/** The stream as a sequence of chunk kinds, runs collapsed: role, content…, finish, usage. */
function skeleton(chunks: OpenAI.Chat.ChatCompletionChunk[]): string[] {
  const kinds = chunks.map((chunk, i) => {
    const choice = chunk.choices[0];
    if (!choice) return chunk.usage ? 'usage' : 'empty';
    if (i === 0) return choice.delta.role === 'assistant' ? 'role' : 'no-role';
    if (choice.delta.role !== undefined) return 'role-again';
    if (choice.finish_reason !== null) return 'finish';
    const keys = Object.keys(choice.delta);
    return keys.length === 1 && typeof choice.delta.content === 'string' ? 'content' : `other:${keys.join(',')}`;
  });
  return kinds.filter((kind, i) => kind !== kinds[i - 1]);
}
