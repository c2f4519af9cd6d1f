/**
 * The `bedrock` provider end to end: official `openai` SDK → gateway → Bedrock simulator, over real HTTP with SigV4
 * (verified by the simulator from the bytes that arrived) and the binary event stream. Credentials: static keys
 * (rotated through `file:` secrets) and AWS's default chain (container credentials, EKS web identity, a profile).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { createSigV4Signer, staticCredentialSource } from '../../src/providers/bedrock/bedrock-credentials.js';
import {
  type BedrockCredentials,
  BedrockSimulator,
  DEFAULT_BEDROCK_CREDENTIALS,
  type RecordedBedrockRequest,
} from '../simulators/bedrock-simulator.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';
import { parseOpenAiStream, toolCallsFromDeltas } from './stream-assertions.js';

const CLAUDE = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const CLAUDE_35 = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';
const TITAN = 'amazon.titan-embed-text-v2:0';
const COHERE = 'cohere.embed-english-v3';
const SHARED = { retry: { retries: 0 }, timeouts: { connectMs: 1_000, firstByteMs: 3_000, totalMs: 8_000 } };
/** Environment the default chain reads; cleared around every test so the machine's own settings stay out. */
const AWS_ENV = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_ENDPOINT_URL_STS',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_EC2_METADATA_DISABLED',
];

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];
const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };

interface ThinkingBlock {
  type: 'thinking' | 'redacted_thinking';
  thinking?: string;
  signature?: string;
  data?: string;
}
/** The gateway's reasoning extensions on an assistant message or delta. */
interface Reasoning {
  reasoning_content?: string;
  thinking_blocks?: ThinkingBlock[];
}
type Usage = OpenAI.CompletionUsage & { prompt_tokens_details?: { cache_creation_tokens?: number } };

function providerEntry(baseUrl: string, options: Record<string, unknown>): Record<string, unknown> {
  return { name: 'aws', type: 'bedrock', baseUrl, options: { region: 'us-east-1', ...options }, ...SHARED };
}

/** One provider serving chat models (Claude 4 by profile id, Claude 3.5, Nova) and two embedding models. */
function bedrockConfig(baseUrl: string, options: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const model = (name: string, upstream: string) => ({ name, deployments: [{ provider: 'aws', model: upstream }] });
  return {
    providers: [providerEntry(baseUrl, options)],
    models: [
      model('claude-test', CLAUDE),
      model('claude-35', CLAUDE_35),
      model('nova-test', NOVA),
      model('titan-embed', TITAN),
      model('cohere-embed', COHERE),
    ],
    ...extra,
  };
}

const STATIC_KEYS = {
  accessKeyId: DEFAULT_BEDROCK_CREDENTIALS.accessKeyId,
  secretAccessKey: DEFAULT_BEDROCK_CREDENTIALS.secretAccessKey,
};

function bodyOf(request: RecordedBedrockRequest | undefined): Record<string, unknown> {
  assert.ok(request, 'the simulator got the request');
  return request.body as Record<string, unknown>;
}

/** Folds streamed thinking_blocks deltas into the blocks a client sends back. */
function thinkingFromDeltas(chunks: OpenAI.Chat.ChatCompletionChunk[]): ThinkingBlock[] {
  const blocks: ThinkingBlock[] = [];
  let open: ThinkingBlock | undefined;
  for (const chunk of chunks) {
    for (const block of (chunk.choices[0]?.delta as Reasoning | undefined)?.thinking_blocks ?? []) {
      if (block.type === 'redacted_thinking') {
        blocks.push(block);
        open = undefined;
        continue;
      }
      if (!open) {
        open = { type: 'thinking', thinking: '' };
        blocks.push(open);
      }
      open.thinking += block.thinking ?? '';
      if (block.signature !== undefined) {
        open.signature = block.signature;
        open = undefined;
      }
    }
  }
  return blocks;
}

async function collect(stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>) {
  const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

function usageOf(chunks: OpenAI.Chat.ChatCompletionChunk[]): Usage | undefined {
  return chunks.find((chunk) => chunk.usage)?.usage as Usage | undefined;
}

function withEnv(values: Record<string, string>): () => void {
  const saved = new Map(AWS_ENV.map((name) => [name, process.env[name]]));
  for (const name of AWS_ENV) delete process.env[name];
  Object.assign(process.env, { AWS_EC2_METADATA_DISABLED: 'true', ...values });
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}

describe('bedrock provider through the gateway (official openai SDK)', { timeout: 60_000 }, () => {
  const sim = new BedrockSimulator();
  let simUrl: string;
  let gateway: RunningGateway;
  let client: OpenAI;
  let restoreEnv: () => void;

  /** Sends a Converse body straight to the simulator, signed with the same keys: the simulator's own figures. */
  async function direct(modelId: string, body: unknown): Promise<Record<string, unknown>> {
    const constant = (value: string) => ({ value: () => value });
    const sign = createSigV4Signer(
      staticCredentialSource({
        accessKeyId: constant(STATIC_KEYS.accessKeyId),
        secretAccessKey: constant(STATIC_KEYS.secretAccessKey),
      }),
      'us-east-1',
      'direct',
    );
    const url = new URL(`/model/${encodeURIComponent(modelId)}/converse`, simUrl);
    const text = JSON.stringify(body);
    const headers = { 'content-type': 'application/json' };
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...headers, ...(await sign({ method: 'POST', url, headers, body: text })) },
      body: text,
    });
    return (await response.json()) as Record<string, unknown>;
  }

  before(async () => {
    restoreEnv = withEnv({});
    simUrl = await sim.start();
    gateway = await startGateway(bedrockConfig(simUrl, STATIC_KEYS));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    restoreEnv();
  });
  beforeEach(() => {
    sim.reset();
    sim.splitFrames = 1;
  });

  describe('chat', () => {
    it('answers through Converse, signed with SigV4, the model id percent-encoded in the path', async () => {
      const completion = await client.chat.completions.create({
        model: 'claude-35',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello bedrock' },
        ],
        temperature: 1.5,
        top_p: 0.9,
        stop: ['zzz'],
        max_tokens: 200,
      });
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-[0-9a-f-]{36}$/);
      assert.equal(completion.choices[0].message.content, `Hello from ${CLAUDE_35}: hello bedrock`);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      const [upstream] = sim.requests;
      assert.equal(upstream.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse');
      assert.equal(upstream.status, 200);
      assert.equal(upstream.accessKeyId, STATIC_KEYS.accessKeyId);
      assert.match(
        String(upstream.headers.authorization),
        /Credential=AKIASIMULATOR0000001\/\d{8}\/us-east-1\/bedrock/,
      );
      assert.deepEqual(bodyOf(upstream), {
        messages: [{ role: 'user', content: [{ text: 'hello bedrock' }] }],
        system: [{ text: 'be brief' }],
        inferenceConfig: { temperature: 1, topP: 0.9, stopSequences: ['zzz'], maxTokens: 200 },
      });
      const usage = completion.usage!;
      assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
      assert.equal(usage.completion_tokens_details, undefined, 'Bedrock reports no reasoning figure');
    });

    it('streams through ConverseStream with OpenAI framing, frames split across TCP writes', async () => {
      sim.splitFrames = 3;
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'nova-test',
        messages: [{ role: 'user', content: 'stream this please' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      assert.equal(response.status, 200);
      const chunks = parseOpenAiStream(await response.text(), true);
      assert.equal(
        chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
        `Hello from ${NOVA}: stream this please`,
      );
      assert.ok(chunks.length >= 6, `only ${chunks.length} chunks`);
      assert.equal(sim.requests[0].path, '/model/amazon.nova-lite-v1%3A0/converse-stream');
      assert.equal(sim.requests[0].headers.accept, 'application/vnd.amazon.eventstream');

      const withoutUsage = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'nova-test',
        messages: [{ role: 'user', content: 'no usage' }],
        stream: true,
      });
      parseOpenAiStream(await withoutUsage.text(), false);
    });

    it('round-trips a tool call without streaming', async () => {
      const first = await client.chat.completions.create({ model: 'nova-test', messages: [question], tools });
      const message = first.choices[0].message;
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      const call = message.tool_calls?.[0];
      assert.ok(call && call.type === 'function');
      assert.match(call.id, /^tooluse_/);
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
      assert.deepEqual((bodyOf(sim.requests[0]).toolConfig as { tools: unknown }).tools, [
        {
          toolSpec: {
            name: 'get_weather',
            inputSchema: {
              json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
            description: 'Current weather of a city',
          },
        },
      ]);
      const answer = await client.chat.completions.create({
        model: 'nova-test',
        messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }],
        tools,
      });
      assert.equal(answer.choices[0].message.content, 'Tool said: sunny, 21C');
      assert.deepEqual((bodyOf(sim.requests[1]).messages as unknown[]).slice(1), [
        {
          role: 'assistant',
          content: [{ toolUse: { toolUseId: call.id, name: 'get_weather', input: { city: 'Paris' } } }],
        },
        { role: 'user', content: [{ toolResult: { toolUseId: call.id, content: [{ text: 'sunny, 21C' }] } }] },
      ]);
    });

    it('round-trips a SIM_TOOL call while streaming, with OpenAI tool-call deltas', async () => {
      const runner = client.chat.completions.stream({
        model: 'nova-test',
        messages: [{ role: 'user', content: 'check Lyon\nSIM_TOOL get_weather {"city":"Lyon"}' }],
        tools,
        tool_choice: 'required',
      });
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      runner.on('chunk', (chunk) => chunks.push(chunk));
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, 'tool_calls');
      const calls = toolCallsFromDeltas(chunks);
      assert.deepEqual(
        calls.map(({ name, arguments: args }) => ({ name, args })),
        [{ name: 'get_weather', args: { city: 'Lyon' } }],
      );
      assert.deepEqual((bodyOf(sim.requests[0]).toolConfig as { toolChoice: unknown }).toolChoice, { any: {} });
      const answer = client.chat.completions.stream({
        model: 'nova-test',
        messages: [
          { role: 'user', content: 'check Lyon' },
          { role: 'assistant', content: null, tool_calls: final.choices[0].message.tool_calls },
          { role: 'tool', tool_call_id: calls[0].id, content: 'rainy, 12C' },
        ],
        tools,
      });
      assert.equal(await answer.finalContent(), 'Tool said: rainy, 12C');
    });

    it('sends no toolConfig for tool_choice none', async () => {
      const completion = await client.chat.completions.create({
        model: 'nova-test',
        messages: [question],
        tools,
        tool_choice: 'none',
      });
      assert.equal(completion.choices[0].finish_reason, 'stop');
      assert.equal(bodyOf(sim.requests[0]).toolConfig, undefined);
    });

    it('maps stop reasons: max tokens, stop sequence, guardrail and content filter', async () => {
      const finish = async (content: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}) =>
        (await client.chat.completions.create({ model: 'nova-test', messages: [{ role: 'user', content }], ...extra }))
          .choices[0];
      assert.equal((await finish('one two three four five', { max_completion_tokens: 2 })).finish_reason, 'length');
      const stopped = await finish('alpha beta gamma', { stop: ['beta'] });
      assert.equal(stopped.finish_reason, 'stop');
      assert.equal(stopped.message.content, `Hello from ${NOVA}: alpha `);
      assert.equal((await finish('tell me\nSIM_GUARDRAIL')).finish_reason, 'content_filter');
      assert.equal((await finish('tell me\nSIM_CONTENT_FILTERED')).finish_reason, 'content_filter');
    });

    it('asks for structured output through outputConfig', async () => {
      const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
      const completion = await client.chat.completions.create({
        model: 'claude-test',
        messages: [{ role: 'user', content: 'Where?\nSIM_TEXT {"city":"Paris"}' }],
        response_format: { type: 'json_schema', json_schema: { name: 'place', schema } },
      });
      assert.deepEqual(JSON.parse(completion.choices[0].message.content ?? ''), { city: 'Paris' });
      assert.deepEqual(bodyOf(sim.requests[0]).outputConfig, {
        textFormat: {
          type: 'json_schema',
          structure: { jsonSchema: { schema: JSON.stringify(schema), name: 'place' } },
        },
      });
      await assert.rejects(
        client.chat.completions.create({
          model: 'claude-test',
          messages: [{ role: 'user', content: 'x' }],
          response_format: { type: 'json_object' },
        }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'response_format',
      );
      assert.equal(sim.received, 1, 'json_object is refused before any upstream call');
    });
  });

  describe('reasoning', () => {
    it('returns Claude reasoning with its signature, and the tool turn is accepted only with the signature back', async () => {
      const first = await client.chat.completions.create({
        model: 'claude-test',
        messages: [question],
        tools,
        reasoning_effort: 'low',
      });
      const message = first.choices[0].message as OpenAI.Chat.ChatCompletionMessage & Reasoning;
      assert.match(message.reasoning_content ?? '', /^The user asked about "weather in Paris\?"/);
      const [block] = message.thinking_blocks ?? [];
      assert.equal(block?.type, 'thinking');
      assert.ok((block.signature ?? '').length > 100);
      assert.deepEqual(bodyOf(sim.requests[0]).additionalModelRequestFields, {
        thinking: { type: 'enabled', budget_tokens: 1024 },
      });
      const call = message.tool_calls![0];
      const next = (assistant: Record<string, unknown>) =>
        client.chat.completions.create({
          model: 'claude-test',
          messages: [
            question,
            assistant as unknown as OpenAI.Chat.ChatCompletionAssistantMessageParam,
            { role: 'tool', tool_call_id: call.id, content: '22C' },
          ],
          tools,
          reasoning_effort: 'low',
        });
      const answer = await next({
        role: 'assistant',
        content: null,
        tool_calls: message.tool_calls,
        thinking_blocks: message.thinking_blocks,
      });
      assert.equal(answer.choices[0].message.content, 'Tool said: 22C');
      const sentBack = (bodyOf(sim.requests[1]).messages as Array<{ content: unknown[] }>)[1].content[0];
      assert.deepEqual(sentBack, {
        reasoningContent: { reasoningText: { text: block.thinking, signature: block.signature } },
      });

      const tampered = [{ ...block, signature: `${block.signature!.slice(0, -4)}AAA=` }];
      await assert.rejects(
        next({ role: 'assistant', content: null, tool_calls: message.tool_calls, thinking_blocks: tampered }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && /Invalid `signature`/.test(error.message),
      );
      await assert.rejects(
        next({ role: 'assistant', content: null, tool_calls: message.tool_calls }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && /Expected `thinking`/.test(error.message),
      );
    });

    it('streams reasoning and its signature; the blocks folded from the deltas are accepted on the next turn', async () => {
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'claude-test',
          messages: [question],
          tools,
          stream: true,
          thinking: { type: 'enabled', budget_tokens: 2048 },
        } as OpenAI.Chat.ChatCompletionCreateParamsStreaming),
      );
      const reasoning = chunks.map(
        (chunk) => (chunk.choices[0]?.delta as Reasoning | undefined)?.reasoning_content ?? '',
      );
      assert.match(reasoning.join(''), /^The user asked about/);
      const blocks = thinkingFromDeltas(chunks);
      assert.equal(blocks.length, 1);
      assert.equal(blocks[0].thinking, reasoning.join(''));
      assert.ok(blocks[0].signature);
      const [call] = toolCallsFromDeltas(chunks);
      const answer = await client.chat.completions.create({
        model: 'claude-test',
        messages: [
          question,
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: JSON.stringify(call.arguments) },
              },
            ],
            thinking_blocks: blocks,
          } as OpenAI.Chat.ChatCompletionAssistantMessageParam,
          { role: 'tool', tool_call_id: call.id, content: '19C' },
        ],
        tools,
        thinking: { type: 'enabled', budget_tokens: 2048 },
      } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
      assert.equal(answer.choices[0].message.content, 'Tool said: 19C');
    });

    it('passes redacted reasoning back unchanged', async () => {
      const ask = { role: 'user' as const, content: 'Secret plan\nSIM_REDACTED_THINKING' };
      const first = await client.chat.completions.create({
        model: 'claude-test',
        messages: [ask],
        reasoning_effort: 'medium',
      });
      const message = first.choices[0].message as OpenAI.Chat.ChatCompletionMessage & Reasoning;
      const [block] = message.thinking_blocks ?? [];
      assert.equal(block?.type, 'redacted_thinking');
      const next = await client.chat.completions.create({
        model: 'claude-test',
        messages: [ask, message, { role: 'user', content: 'and?' }],
        reasoning_effort: 'medium',
      });
      assert.equal(next.choices[0].finish_reason, 'stop');
      const sent = (bodyOf(sim.requests[1]).messages as Array<{ content: unknown[] }>)[1].content[0];
      assert.deepEqual(sent, { reasoningContent: { redactedContent: block.data } });
    });
  });

  describe('usage', () => {
    const system = {
      role: 'system' as const,
      content: 'You are a careful assistant for the simulator.',
      cache_control: { type: 'ephemeral' },
    };

    it('reports cache writes, then cache reads; stream, non-stream and the simulator agree', async () => {
      const ask = (content: string) =>
        [system, { role: 'user' as const, content }] as OpenAI.Chat.ChatCompletionMessageParam[];
      const written = (await client.chat.completions.create({ model: 'claude-test', messages: ask('first question') }))
        .usage as Usage;
      assert.equal(written.prompt_tokens_details?.cache_creation_tokens, 8);
      assert.equal(written.prompt_tokens_details?.cached_tokens, 0);
      assert.deepEqual(bodyOf(sim.requests[0]).system, [
        { text: 'You are a careful assistant for the simulator.' },
        { cachePoint: { type: 'default' } },
      ]);
      const read = (
        await client.chat.completions.create({ model: 'claude-test', messages: ask('another question here') })
      ).usage as Usage;
      assert.equal(read.prompt_tokens_details?.cached_tokens, 8);
      assert.equal(read.prompt_tokens_details?.cache_creation_tokens, 0);

      const streamed = usageOf(
        await collect(
          await client.chat.completions.create({
            model: 'claude-test',
            messages: ask('another question here'),
            stream: true,
            stream_options: { include_usage: true },
          }),
        ),
      );
      assert.deepEqual(streamed, read);
      const figures = (await direct(CLAUDE, bodyOf(sim.requests[1]))).usage as Record<string, number>;
      assert.deepEqual(figures, {
        cacheReadInputTokens: read.prompt_tokens_details?.cached_tokens,
        cacheWriteInputTokens: 0,
        inputTokens: read.prompt_tokens - 8,
        outputTokens: read.completion_tokens,
        totalTokens: read.total_tokens,
      });
    });

    it('counts reasoning inside completion tokens, the same streamed or not', async () => {
      const request = {
        model: 'claude-test',
        messages: [{ role: 'user' as const, content: 'think about it' }],
        reasoning_effort: 'low' as const,
      };
      const whole = (await client.chat.completions.create(request)).usage as Usage;
      const streamed = usageOf(
        await collect(
          await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }),
        ),
      );
      assert.deepEqual(streamed, whole);
      const figures = (await direct(CLAUDE, bodyOf(sim.requests[0]))).usage as Record<string, number>;
      assert.equal(whole.completion_tokens, figures.outputTokens);
      assert.equal(whole.total_tokens, figures.totalTokens);
    });
  });

  describe('errors', () => {
    const ask = () =>
      client.chat.completions.create({ model: 'nova-test', messages: [{ role: 'user', content: 'x' }] });
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ status: 429, headers: { 'retry-after': '3' } }, 429, 'rate_limit_exceeded'],
      [{ errorType: 'ModelNotReadyException' }, 503, 'overloaded'],
      [{ status: 503 }, 503, 'overloaded'],
      [{ status: 400 }, 400, 'invalid_request'],
      [{ status: 403 }, 403, 'upstream_permission_denied'],
      [{ status: 404 }, 404, 'model_not_found'],
      [{ status: 408 }, 504, 'upstream_timeout'],
      [{ status: 500 }, 500, 'upstream_error'],
      [{ status: 424 }, 502, 'upstream_error'],
    ];

    it('maps each Bedrock error to its OpenAI status and code', async () => {
      for (const [fault, status, code] of cases) {
        sim.enqueueFault(fault);
        await assert.rejects(ask(), (error: unknown) => {
          assert.ok(error instanceof OpenAI.APIError, String(error));
          assert.equal(error.status, status, `${JSON.stringify(fault)}: ${error.message}`);
          assert.equal(error.code, code);
          return true;
        });
      }
      sim.enqueueFault({ status: 429, headers: { 'retry-after': '3' } });
      await assert.rejects(
        ask(),
        (error: unknown) => error instanceof OpenAI.RateLimitError && error.headers?.get('retry-after') === '3',
      );
      assert.equal(sim.received, cases.length + 1, 'retries are off for this provider');
    });

    it('answers a failure before the first frame with its real status, streaming or not', async () => {
      sim.enqueueFault({ status: 429 });
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'nova-test',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      assert.equal(response.status, 429);
      const local = new BedrockSimulator({ modelErrorsInStream: true });
      const localUrl = await local.start();
      const localGateway = await startGateway(bedrockConfig(localUrl, STATIC_KEYS));
      try {
        const refused = await postJson(`${localGateway.url}/v1/chat/completions`, {
          model: 'claude-test',
          messages: [{ role: 'user', content: 'x' }],
          stream: true,
          thinking: { type: 'enabled', budget_tokens: 100 },
        });
        assert.equal(refused.status, 400, 'a validationException frame right after the 200 is a plain 400');
        const body = (await refused.json()) as { error: { message: string } };
        assert.match(body.error.message, /budget_tokens: Input should be greater than or equal to 1024/);
      } finally {
        await localGateway.close();
        await local.stop();
      }
    });

    it('ends the stream with one error event on an exception frame or a dropped connection mid-stream', async () => {
      const messages = [{ role: 'user', content: 'a longer message to stream through' }];
      sim.enqueueFault({ streamException: 'throttlingException' });
      const throttled = sseData(
        await (
          await postJson(`${gateway.url}/v1/chat/completions`, { model: 'nova-test', messages, stream: true })
        ).text(),
      );
      assert.ok(!throttled.includes('[DONE]'));
      const event = JSON.parse(throttled.at(-1)!) as { error: { code: string; message: string } };
      assert.equal(event.error.code, 'rate_limit_exceeded');
      assert.ok(throttled.length >= 3, 'the text before the exception was delivered');

      sim.enqueueFault({ dropAfterEvents: 4 });
      const dropped = sseData(
        await (
          await postJson(`${gateway.url}/v1/chat/completions`, { model: 'nova-test', messages, stream: true })
        ).text(),
      );
      assert.equal(
        (JSON.parse(dropped.at(-1)!) as { error: { code: string } }).error.code,
        'upstream_stream_interrupted',
      );
    });

    it('stops reading the upstream stream when the client hangs up', async () => {
      sim.enqueueFault({ chunkDelayMs: 100 });
      const controller = new AbortController();
      const response = await postJson(
        `${gateway.url}/v1/chat/completions`,
        {
          model: 'nova-test',
          messages: [{ role: 'user', content: 'one two three four five six seven' }],
          stream: true,
        },
        {},
        controller.signal,
      );
      const reader = response.body!.getReader();
      await reader.read();
      controller.abort();
      await sim.waitForHangUp(2_000);
    });

    it('answers 502 upstream_auth_error, without leaking the secret, when the keys are refused', async () => {
      const wrongSecret = 'wrong/SecretAccessKey/0123456789abcdefghij';
      const strict = await startGateway(
        bedrockConfig(simUrl, { accessKeyId: STATIC_KEYS.accessKeyId, secretAccessKey: wrongSecret }),
      );
      try {
        const response = await postJson(`${strict.url}/v1/chat/completions`, {
          model: 'nova-test',
          messages: [{ role: 'user', content: 'x' }],
        });
        assert.equal(response.status, 502);
        const text = await response.text();
        assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_auth_error');
        assert.ok(!text.includes(wrongSecret), text);
        assert.equal(sim.requests.at(-1)?.errorType, 'InvalidSignatureException');
      } finally {
        await strict.close();
      }
    });
  });

  describe('embeddings', () => {
    it('embeds with Titan, one InvokeModel call per input, floats and base64, with dimensions', async () => {
      const floats = await client.embeddings.create({
        model: 'titan-embed',
        input: ['hello embedding world', 'second text'],
        dimensions: 256,
        encoding_format: 'float',
      });
      assert.equal(floats.data.length, 2);
      assert.equal(floats.data[0].embedding.length, 256);
      assert.equal(floats.usage.prompt_tokens, 5);
      assert.deepEqual(
        sim.requests.map((request) => [request.path, request.body]).sort(),
        [
          ['/model/amazon.titan-embed-text-v2%3A0/invoke', { inputText: 'hello embedding world', dimensions: 256 }],
          ['/model/amazon.titan-embed-text-v2%3A0/invoke', { inputText: 'second text', dimensions: 256 }],
        ].sort(),
      );
      // The SDK asks for base64 by default and decodes it back to floats.
      const decoded = await client.embeddings.create({
        model: 'titan-embed',
        input: ['hello embedding world', 'second text'],
        dimensions: 256,
      });
      assert.equal(sim.requests.at(-1)?.body !== undefined, true);
      for (const [i, item] of decoded.data.entries()) {
        assert.deepEqual(item.embedding, floats.data[i].embedding.map(Math.fround));
      }
    });

    it('embeds a batch with Cohere in one call, with the input_type asked for', async () => {
      const result = await client.embeddings.create({
        model: 'cohere-embed',
        input: ['first text', 'second', 'third one'],
        encoding_format: 'float',
        input_type: 'search_query',
      } as OpenAI.EmbeddingCreateParams);
      assert.equal(result.data.length, 3);
      assert.equal(result.data[2].embedding.length, 1024);
      assert.equal(result.usage.prompt_tokens, 5);
      assert.equal(sim.requests.length, 1);
      assert.deepEqual(bodyOf(sim.requests[0]), {
        texts: ['first text', 'second', 'third one'],
        input_type: 'search_query',
      });
      await assert.rejects(
        client.embeddings.create({ model: 'cohere-embed', input: 'x', dimensions: 256 }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && error.param === 'dimensions',
      );
    });
  });
});

describe('bedrock credentials through the gateway', { timeout: 60_000 }, () => {
  const sim = new BedrockSimulator({ containerAuthorizationToken: 'container-token' });
  let simUrl: string;
  let dir: string;
  const ask = (gateway: RunningGateway) =>
    postJson(`${gateway.url}/v1/chat/completions`, { model: 'nova-test', messages: [{ role: 'user', content: 'hi' }] });

  before(async () => {
    simUrl = await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'bedrock-e2e-'));
  });
  after(async () => {
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => sim.reset());

  it('follows static keys rotated in their files, old and new keys overlapping as in AWS', async () => {
    const restore = withEnv({});
    const idFile = join(dir, 'access-key-id');
    const secretFile = join(dir, 'secret-access-key');
    writeFileSync(idFile, STATIC_KEYS.accessKeyId);
    writeFileSync(secretFile, STATIC_KEYS.secretAccessKey);
    const gateway = await startGateway(
      bedrockConfig(
        simUrl,
        { accessKeyId: `file:${idFile}`, secretAccessKey: `file:${secretFile}` },
        { secrets: { refreshIntervalMs: 100 } },
      ),
    );
    const rotated: BedrockCredentials = {
      accessKeyId: 'AKIAROTATED000000002',
      secretAccessKey: 'rotated/Secret/000000000000000000000',
    };
    sim.addCredentials(rotated);
    try {
      assert.equal((await ask(gateway)).status, 200);
      assert.equal(sim.requests.at(-1)?.accessKeyId, STATIC_KEYS.accessKeyId);
      writeFileSync(secretFile, rotated.secretAccessKey);
      writeFileSync(idFile, rotated.accessKeyId);
      const deadline = Date.now() + 5_000;
      while (sim.requests.at(-1)?.accessKeyId !== rotated.accessKeyId || sim.requests.at(-1)?.status !== 200) {
        assert.ok(Date.now() < deadline, 'the rotated key is used within the refresh interval');
        await new Promise((resolve) => setTimeout(resolve, 100));
        await ask(gateway);
      }
      sim.revokeCredentials(STATIC_KEYS.accessKeyId);
      assert.equal((await ask(gateway)).status, 200);
    } finally {
      sim.addCredentials(DEFAULT_BEDROCK_CREDENTIALS);
      sim.revokeCredentials(rotated.accessKeyId);
      await gateway.close();
      restore();
    }
  });

  it('takes container credentials from the default chain, refreshes them before expiry and after a refusal', async () => {
    const restore = withEnv({
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `${simUrl}/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container-token',
    });
    const gateway = await startGateway(bedrockConfig(simUrl, {}));
    try {
      assert.equal((await ask(gateway)).status, 200);
      const first = sim.requests[0];
      assert.match(first.accessKeyId ?? '', /^ASIASIMC/);
      assert.ok(first.headers['x-amz-security-token'], 'the session token is signed and sent');
      assert.equal((await ask(gateway)).status, 200);
      assert.equal(sim.stats().containerCredentialCalls, 1, 'memoised while far from expiry');

      sim.expireCredentials(first.accessKeyId!);
      assert.equal((await ask(gateway)).status, 200, 'an expired session is fetched anew and the call replayed');
      assert.deepEqual(
        sim.requests.slice(2).map((request) => request.errorType ?? 'ok'),
        ['ExpiredTokenException', 'ok'],
      );
      assert.notEqual(sim.requests.at(-1)?.accessKeyId, first.accessKeyId);
      assert.equal(sim.stats().containerCredentialCalls, 2);
    } finally {
      await gateway.close();
      restore();
    }

    // Credentials within five minutes of expiry are fetched again in the background while still in use.
    const shortLived = new BedrockSimulator({ containerCredentialsLifetimeMs: 4 * 60_000 });
    const shortUrl = await shortLived.start();
    const restoreShort = withEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${shortUrl}/creds` });
    const refreshing = await startGateway(bedrockConfig(shortUrl, {}));
    try {
      const keys = () => new Set(shortLived.requests.map((request) => request.accessKeyId));
      for (let i = 0; i < 50 && keys().size < 2; i++) {
        assert.equal((await ask(refreshing)).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.ok(keys().size >= 2, 'fresh credentials are in use before the old ones expired');
      assert.ok(shortLived.requests.every((request) => request.status === 200));
    } finally {
      await refreshing.close();
      await shortLived.stop();
      restoreShort();
    }
  });

  it('assumes the role of an EKS service account (IRSA) through STS with the web identity token', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'eks-projected-service-account-jwt');
    const restore = withEnv({
      AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
      AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/gateway',
      AWS_ROLE_SESSION_NAME: 'llm-gateway',
      AWS_ENDPOINT_URL_STS: simUrl,
    });
    const gateway = await startGateway(bedrockConfig(simUrl, {}));
    try {
      assert.equal((await ask(gateway)).status, 200);
      const [sts] = sim.credentialRequests;
      assert.equal(sts.kind, 'sts');
      assert.equal(sts.params?.Action, 'AssumeRoleWithWebIdentity');
      assert.equal(sts.params?.WebIdentityToken, 'eks-projected-service-account-jwt');
      assert.equal(sts.params?.RoleArn, 'arn:aws:iam::123456789012:role/gateway');
      assert.equal(sts.issuedAccessKeyId, sim.requests.at(-1)?.accessKeyId);
    } finally {
      await gateway.close();
      restore();
    }
  });

  it('reads a named profile from the shared credentials file', async () => {
    const credentialsFile = join(dir, 'credentials');
    writeFileSync(
      credentialsFile,
      `[default]\naws_access_key_id = AKIANOTTHISONE000000\naws_secret_access_key = nope\n\n[gateway]\n` +
        `aws_access_key_id = ${STATIC_KEYS.accessKeyId}\naws_secret_access_key = ${STATIC_KEYS.secretAccessKey}\n`,
    );
    const restore = withEnv({ AWS_SHARED_CREDENTIALS_FILE: credentialsFile, AWS_CONFIG_FILE: join(dir, 'no-config') });
    const gateway = await startGateway(bedrockConfig(simUrl, { profile: 'gateway' }));
    try {
      assert.equal((await ask(gateway)).status, 200);
      assert.equal(sim.requests.at(-1)?.accessKeyId, STATIC_KEYS.accessKeyId);
    } finally {
      await gateway.close();
      restore();
    }
  });

  it('answers 502 upstream_auth_error when the chain finds no credentials', async () => {
    const restore = withEnv({ AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_CONFIG_FILE: join(dir, 'none') });
    const gateway = await startGateway(bedrockConfig(simUrl, {}));
    try {
      const response = await ask(gateway);
      assert.equal(response.status, 502);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'upstream_auth_error');
      assert.match(body.error.message, /no AWS credentials could be obtained/);
      assert.equal(sim.received, 0);
    } finally {
      await gateway.close();
      restore();
    }
  });
});
