/**
 * The `gemini` provider end to end: official `openai` SDK → gateway → Gemini simulator, over real HTTP, on both
 * APIs the provider speaks: the Gemini API (AI Studio, API key) and Vertex AI (a service account key file, OAuth
 * tokens from the simulator's token endpoint).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { toUsage } from '../../src/providers/gemini/gemini.mapper.js';
import type { GeminiUsageMetadata } from '../../src/providers/gemini/gemini.types.js';
import { GeminiSimulator, type GeminiRecordedRequest } from '../simulators/gemini-simulator.js';
import { arrayAt, at, type Json, objectAt, stringAt } from '../simulators/sim-json.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { parseOpenAiStream, toolCallsFromDeltas } from './stream-assertions.js';

const API_KEY = 'gemini-e2e-upstream-key-0123456789';
const PROJECT = 'sim-project';
const LOCATION = 'us-central1';
const SUITE = { timeout: 30_000 };

/** Gateway model → upstream model. The `v-` models go to Vertex AI, the others to the Gemini API. */
const MODELS: Record<string, { provider: string; model: string }> = {
  flash: { provider: 'studio', model: 'gemini-2.5-flash' },
  g3: { provider: 'studio', model: 'gemini-3-flash-preview' },
  embed: { provider: 'studio', model: 'gemini-embedding-001' },
  'v-flash': { provider: 'vertex', model: 'gemini-2.5-flash' },
  'v-g3': { provider: 'vertex', model: 'gemini-3-flash-preview' },
  'v-embed': { provider: 'vertex', model: 'gemini-embedding-001' },
  'oauth-flash': { provider: 'studio-oauth', model: 'gemini-2.5-flash' },
};

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: {
        $schema: 'http://json-schema.org/draft-07/schema#',
        type: 'object',
        properties: { city: { type: 'string' } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
  },
];
const question: OpenAI.Chat.ChatCompletionMessageParam = { role: 'user', content: 'weather in Paris?' };

/** The gateway extensions on messages and tool calls the SDK's types do not name. */
interface GoogleExtra {
  extra_content?: { google?: { thought_signature?: string } };
}
type ExtendedMessage = OpenAI.Chat.ChatCompletionMessage &
  GoogleExtra & {
    reasoning_content?: string;
    thinking_blocks?: Array<{ type: string; thinking: string; signature?: string }>;
  };
type ExtendedToolCall = OpenAI.Chat.ChatCompletionMessageFunctionToolCall & GoogleExtra;
type ExtendedUsage = OpenAI.CompletionUsage & { prompt_tokens_details?: { cached_tokens?: number } };

function geminiConfig(simUrl: string, keyPath: string, apiKey = API_KEY): Record<string, unknown> {
  const shared = { retry: { retries: 0 }, timeouts: { connectMs: 1_000, firstByteMs: 3_000, totalMs: 10_000 } };
  return {
    providers: [
      { name: 'studio', type: 'gemini', baseUrl: simUrl, apiKey, ...shared },
      {
        name: 'studio-oauth',
        type: 'gemini',
        baseUrl: simUrl,
        options: { api: 'studio', credentialsFile: keyPath, tokenUrl: `${simUrl}/token` },
        ...shared,
      },
      {
        name: 'vertex',
        type: 'gemini',
        baseUrl: simUrl,
        options: { location: LOCATION, credentialsFile: `file:${keyPath}`, tokenUrl: `${simUrl}/token` },
        ...shared,
      },
    ],
    models: Object.entries(MODELS).map(([name, deployment]) => ({ name, deployments: [deployment] })),
  };
}

/** The recorded generate and stream calls (token requests left out). */
function modelCalls(sim: GeminiSimulator): GeminiRecordedRequest[] {
  return sim.requests.filter((request) => request.api !== 'oauth');
}

function lastBody(sim: GeminiSimulator): Json {
  return objectAt(modelCalls(sim).at(-1)?.body);
}

interface StreamResult {
  text: string;
  reasoning: string;
  signatures: string[];
  thinkingSignatures: string[];
  finishReasons: string[];
  usage: ExtendedUsage | undefined;
  chunks: OpenAI.Chat.ChatCompletionChunk[];
}

/** Folds a stream as a client that keeps the gateway's extensions does. */
async function collect(stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>): Promise<StreamResult> {
  const result: StreamResult = {
    text: '',
    reasoning: '',
    signatures: [],
    thinkingSignatures: [],
    finishReasons: [],
    usage: undefined,
    chunks: [],
  };
  for await (const chunk of stream) {
    result.chunks.push(chunk);
    if (chunk.usage) result.usage = chunk.usage;
    for (const choice of chunk.choices) {
      const delta = choice.delta as OpenAI.Chat.ChatCompletionChunk.Choice.Delta &
        GoogleExtra & { reasoning_content?: string; thinking_blocks?: Array<{ signature?: string }> };
      result.text += delta.content ?? '';
      result.reasoning += delta.reasoning_content ?? '';
      const signature = delta.extra_content?.google?.thought_signature;
      if (signature) result.signatures.push(signature);
      for (const block of delta.thinking_blocks ?? [])
        if (block.signature) result.thinkingSignatures.push(block.signature);
      if (choice.finish_reason) result.finishReasons.push(choice.finish_reason);
    }
  }
  return result;
}

describe('gemini provider through the gateway (official openai SDK)', SUITE, () => {
  const sim = new GeminiSimulator({ apiKey: API_KEY, vertexProject: PROJECT });
  let dir: string;
  let keyPath: string;
  let gateway: RunningGateway;
  let client: OpenAI;

  before(async () => {
    const simUrl = await sim.start();
    dir = mkdtempSync(join(tmpdir(), 'gemini-e2e-'));
    keyPath = join(dir, 'service-account.json');
    writeFileSync(keyPath, JSON.stringify(sim.createServiceAccountKey({ projectId: PROJECT })));
    gateway = await startGateway(geminiConfig(simUrl, keyPath));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    sim.reset();
    sim.tokenLifetimeSeconds = 3599;
  });

  describe('the Gemini API (AI Studio)', () => {
    it('answers a completion and translates the request to generateContent', async () => {
      const completion = await client.chat.completions.create({
        model: 'flash',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'developer', content: 'no markdown' },
          { role: 'user', content: 'hello gemini' },
        ],
        temperature: 0.4,
        top_p: 0.9,
        max_completion_tokens: 200,
        stop: ['zzz'],
        seed: 7,
      });
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-/);
      assert.equal(completion.choices[0].message.content, 'Hello from gemini-2.5-flash: hello gemini');
      assert.equal(completion.choices[0].finish_reason, 'stop');

      const [upstream] = modelCalls(sim);
      assert.equal(upstream.path, '/v1beta/models/gemini-2.5-flash:generateContent');
      assert.equal(upstream.headers['x-goog-api-key'], API_KEY);
      assert.equal(upstream.headers.authorization, undefined);
      assert.deepEqual(upstream.body, {
        contents: [{ role: 'user', parts: [{ text: 'hello gemini' }] }],
        systemInstruction: { parts: [{ text: 'be brief' }, { text: 'no markdown' }] },
        generationConfig: { temperature: 0.4, topP: 0.9, maxOutputTokens: 200, stopSequences: ['zzz'], seed: 7 },
      });
    });

    it('streams with OpenAI framing, and stream usage equals the completion and the simulator figures', async () => {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
        { role: 'system', content: 'you are a careful assistant' },
        { role: 'user', content: 'count the words of this sentence please' },
      ];
      const completion = await client.chat.completions.create({ model: 'flash', messages });
      const body = lastBody(sim);
      sim.reset();
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'flash',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      assert.equal(response.status, 200);
      const chunks = parseOpenAiStream(await response.text(), true);
      assert.ok(chunks.length >= 5, `only ${chunks.length} chunks`);
      assert.equal(
        chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join(''),
        completion.choices[0].message.content,
      );
      assert.equal(modelCalls(sim)[0].path, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
      assert.equal(modelCalls(sim)[0].query.alt, 'sse');

      sim.reset();
      const direct = await fetch(`${sim.baseUrl}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': API_KEY },
        body: JSON.stringify(body),
      });
      const metadata = at(await direct.json(), 'usageMetadata') as GeminiUsageMetadata;
      const expected = toUsage(metadata);
      assert.ok(expected.completion_tokens_details?.reasoning_tokens, 'gemini-2.5-flash thinks by default');
      assert.deepEqual(completion.usage, expected);
      assert.deepEqual(chunks.at(-1)?.usage, expected);
    });

    it('round-trips a Gemini 3 tool call: its id and thought signature come back exactly where Gemini put them', async () => {
      const first = await client.chat.completions.create({ model: 'g3', messages: [question], tools });
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      const message = first.choices[0].message as ExtendedMessage;
      const call = message.tool_calls?.[0] as ExtendedToolCall;
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
      assert.match(call.id, /^[a-z0-9]{8}$/, 'the call id is Gemini 3’s own');
      const signature = call.extra_content?.google?.thought_signature;
      assert.ok(signature, 'the call carries its thought signature');
      const sent = lastBody(sim);
      assert.deepEqual(at(sent, 'tools'), [
        {
          functionDeclarations: [
            {
              name: 'get_weather',
              description: 'Current weather of a city',
              parametersJsonSchema: {
                type: 'object',
                properties: { city: { type: 'string' } },
                required: ['city'],
                additionalProperties: false,
              },
            },
            { name: 'get_time', parametersJsonSchema: { type: 'object', properties: { zone: { type: 'string' } } } },
          ],
        },
      ]);

      const answer = await client.chat.completions.create({
        model: 'g3',
        messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' }],
        tools,
      });
      assert.equal(answer.choices[0].finish_reason, 'stop');
      assert.equal(answer.choices[0].message.content, 'Tool said: {"output":"sunny, 21C"}');
      assert.deepEqual(arrayAt(lastBody(sim), 'contents').slice(1), [
        {
          role: 'model',
          parts: [
            {
              functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: call.id },
              thoughtSignature: signature,
            },
          ],
        },
        {
          role: 'user',
          parts: [{ functionResponse: { id: call.id, name: 'get_weather', response: { output: 'sunny, 21C' } } }],
        },
      ]);

      const { extra_content: _dropped, ...unsigned } = call;
      await assert.rejects(
        client.chat.completions.create({
          model: 'g3',
          messages: [
            question,
            { ...message, tool_calls: [unsigned] },
            { role: 'tool', tool_call_id: call.id, content: 'sunny' },
          ],
          tools,
        }),
        (error: unknown) => error instanceof OpenAI.BadRequestError && /thought_signature/.test(error.message),
        'Gemini 3 refuses a function call turn without its signature',
      );
    });

    it('maps tool_choice to function calling modes and answers parallel calls in one turn', async () => {
      const forced = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'what time is it?' }],
        tools,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
      });
      assert.equal(forced.choices[0].message.tool_calls?.[0]?.type, 'function');
      assert.deepEqual(at(lastBody(sim), 'toolConfig'), {
        functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_time'] },
      });
      const none = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'hi' }],
        tools,
        tool_choice: 'none',
      });
      assert.equal(none.choices[0].message.tool_calls, undefined);
      assert.deepEqual(at(lastBody(sim), 'toolConfig'), { functionCallingConfig: { mode: 'NONE' } });

      const ask: OpenAI.Chat.ChatCompletionMessageParam = {
        role: 'user',
        content: 'two things\nSIM_TOOL get_weather {"city":"Oslo"}\nSIM_TOOL get_time {"zone":"CET"}',
      };
      const first = await client.chat.completions.create({ model: 'g3', messages: [ask], tools });
      const message = first.choices[0].message as ExtendedMessage;
      const calls = (message.tool_calls ?? []) as ExtendedToolCall[];
      assert.deepEqual(
        calls.map((call) => [call.function.name, JSON.parse(call.function.arguments) as unknown]),
        [
          ['get_weather', { city: 'Oslo' }],
          ['get_time', { zone: 'CET' }],
        ],
      );
      assert.ok(calls[0].extra_content?.google?.thought_signature, 'the first parallel call is signed');
      assert.equal(calls[1].extra_content, undefined, 'the others are not');
      const answer = await client.chat.completions.create({
        model: 'g3',
        messages: [
          ask,
          message,
          { role: 'tool', tool_call_id: calls[0].id, content: '{"sky":"clear"}' },
          { role: 'tool', tool_call_id: calls[1].id, content: '12:00' },
        ],
        tools,
      });
      assert.equal(answer.choices[0].message.content, 'Tool said: {"sky":"clear"}; {"output":"12:00"}');
      const turn = objectAt(lastBody(sim), 'contents', 2);
      assert.equal(arrayAt(turn, 'parts').length, 2, 'both responses in one user turn');
    });

    it('returns reasoning as reasoning_content with reasoning tokens, from reasoning_effort', async () => {
      const completion = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'think about this' }],
        reasoning_effort: 'low',
      });
      const message = completion.choices[0].message as ExtendedMessage;
      assert.match(message.reasoning_content ?? '', /Considering the request/);
      assert.deepEqual(at(lastBody(sim), 'generationConfig', 'thinkingConfig'), {
        includeThoughts: true,
        thinkingBudget: 1024,
      });
      const usage = completion.usage!;
      const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
      assert.ok(reasoning > 0);
      assert.ok(usage.completion_tokens > reasoning, 'completion tokens include the reasoning');

      await client.chat.completions.create({
        model: 'g3',
        messages: [{ role: 'user', content: 'think hard' }],
        reasoning_effort: 'high',
      });
      assert.deepEqual(at(lastBody(sim), 'generationConfig', 'thinkingConfig'), {
        includeThoughts: true,
        thinkingLevel: 'high',
      });
    });

    it('keeps a Gemini 2.5 signature on its thought summary and sends the summary back with it', async () => {
      const first = await client.chat.completions.create({
        model: 'flash',
        messages: [question],
        tools,
        reasoning_effort: 'medium',
      });
      const message = first.choices[0].message as ExtendedMessage;
      const block = message.thinking_blocks?.[0];
      assert.ok(block?.signature, 'Gemini 2.5 signs the first part, here the thought summary');
      assert.equal(block.thinking, message.reasoning_content);
      const streamed = await collect(
        await client.chat.completions.create({
          model: 'flash',
          messages: [question],
          tools,
          reasoning_effort: 'medium',
          stream: true,
        }),
      );
      assert.deepEqual(streamed.thinkingSignatures, [block.signature]);
      assert.equal(streamed.reasoning, message.reasoning_content);

      const call = message.tool_calls?.[0] as ExtendedToolCall;
      await client.chat.completions.create({
        model: 'flash',
        messages: [question, message, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
        tools,
      });
      const parts = arrayAt(lastBody(sim), 'contents', 1, 'parts');
      assert.deepEqual(parts[0], { text: block.thinking, thought: true, thoughtSignature: block.signature });
      assert.match(call.id, /^call_/, 'Gemini 2.5 names no calls: the gateway does');
      assert.deepEqual(parts[1], { functionCall: { name: 'get_weather', args: { city: 'Paris' } } });
      assert.deepEqual(objectAt(lastBody(sim), 'contents', 2, 'parts', 0), {
        functionResponse: { name: 'get_weather', response: { output: 'sunny' } },
      });
    });

    it('returns a Gemini 3 text signature on the message and sends it back on the text part, streamed or not', async () => {
      const completion = await client.chat.completions.create({
        model: 'g3',
        messages: [{ role: 'user', content: 'tell me' }],
        reasoning_effort: 'low',
      });
      const message = completion.choices[0].message as ExtendedMessage;
      const signature = message.extra_content?.google?.thought_signature;
      assert.ok(signature);
      assert.deepEqual(
        message.thinking_blocks?.map((block) => block.type),
        ['thinking'],
      );

      const streamed = await collect(
        await client.chat.completions.create({
          model: 'g3',
          messages: [{ role: 'user', content: 'tell me' }],
          reasoning_effort: 'low',
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      assert.equal(streamed.text, message.content);
      assert.equal(streamed.reasoning, message.reasoning_content);
      assert.deepEqual(streamed.signatures, [signature], 'the same signature, once, after the text');
      assert.deepEqual(streamed.usage, completion.usage);

      await client.chat.completions.create({
        model: 'g3',
        messages: [
          { role: 'user', content: 'tell me' },
          { role: 'assistant', content: message.content, extra_content: message.extra_content } as never,
          { role: 'user', content: 'and more' },
        ],
      });
      assert.deepEqual(objectAt(lastBody(sim), 'contents', 1), {
        role: 'model',
        parts: [{ text: message.content, thoughtSignature: signature }],
      });
    });

    it('reports implicit caching as cached tokens, streamed and not', async () => {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
        { role: 'system', content: 'a long shared system prompt about the weather of many cities' },
        { role: 'user', content: 'Paris?' },
      ];
      const cold = await client.chat.completions.create({ model: 'flash', messages });
      assert.equal((cold.usage as ExtendedUsage).prompt_tokens_details?.cached_tokens, 0);
      const warm = await client.chat.completions.create({ model: 'flash', messages });
      const cached = (warm.usage as ExtendedUsage).prompt_tokens_details?.cached_tokens ?? 0;
      assert.ok(cached > 0, 'the system prompt was read from the cache');
      assert.ok(warm.usage!.prompt_tokens > cached, 'prompt tokens include the cached ones');
      const streamed = await collect(
        await client.chat.completions.create({
          model: 'flash',
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      assert.deepEqual(streamed.usage, warm.usage);
    });

    it('asks for structured output with responseJsonSchema and returns the JSON', async () => {
      const schema = {
        type: 'object',
        properties: { city: { type: 'string' }, celsius: { type: 'integer', minimum: -50 } },
        required: ['city', 'celsius'],
        additionalProperties: false,
      };
      const completion = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'Paris weather as JSON' }],
        response_format: { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } },
      });
      assert.deepEqual(JSON.parse(completion.choices[0].message.content ?? ''), {
        city: 'Paris weather as JSON',
        celsius: -50,
      });
      const config = objectAt(lastBody(sim), 'generationConfig');
      assert.equal(config.responseMimeType, 'application/json');
      assert.deepEqual(config.responseJsonSchema, schema);

      const object = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'anything' }],
        response_format: { type: 'json_object' },
        stream: true,
      });
      const streamed = await collect(object);
      assert.deepEqual(JSON.parse(streamed.text), { answer: 'anything' });
    });

    it('maps finish reasons: length, content_filter for a blocked answer and a blocked prompt, n choices', async () => {
      const long = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'one two three four five six' }],
        max_tokens: 3,
        reasoning_effort: 'none',
      });
      assert.equal(long.choices[0].finish_reason, 'length');
      assert.deepEqual(at(lastBody(sim), 'generationConfig', 'thinkingConfig'), { thinkingBudget: 0 });

      for (const trigger of ['SIM_SAFETY', 'SIM_RECITATION', 'SIM_BLOCK_PROMPT']) {
        const blocked = await client.chat.completions.create({
          model: 'flash',
          messages: [{ role: 'user', content: trigger }],
        });
        assert.equal(blocked.choices[0].finish_reason, 'content_filter', trigger);
        assert.equal(blocked.choices[0].message.content, null, trigger);
        const response = await postJson(`${gateway.url}/v1/chat/completions`, {
          model: 'flash',
          messages: [{ role: 'user', content: trigger }],
          stream: true,
          stream_options: { include_usage: true },
        });
        const chunks = parseOpenAiStream(await response.text(), true);
        assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'content_filter', trigger);
      }

      const two = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: 'pick one' }],
        n: 2,
      });
      assert.deepEqual(
        two.choices.map((choice) => choice.index),
        [0, 1],
      );
      assert.equal(at(lastBody(sim), 'generationConfig', 'candidateCount'), 2);
    });

    it('sends images inline from data URLs and by reference from http(s) URLs', async () => {
      await client.chat.completions.create({
        model: 'flash',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'compare' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            ],
          },
        ],
      });
      assert.deepEqual(arrayAt(lastBody(sim), 'contents', 0, 'parts'), [
        { text: 'compare' },
        { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
        { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.jpg' } },
      ]);
    });

    it('maps Google errors to OpenAI errors with their statuses', async () => {
      const create = (model = 'flash') =>
        client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
      sim.enqueueFault({ status: 400, message: 'Request contains an invalid argument.' });
      await assert.rejects(create(), (error: unknown) => error instanceof OpenAI.BadRequestError);
      sim.enqueueFault({ status: 403 });
      await assert.rejects(create(), (error: unknown) => error instanceof OpenAI.PermissionDeniedError);
      sim.enqueueFault({ status: 404 });
      await assert.rejects(
        create(),
        (error: unknown) => error instanceof OpenAI.NotFoundError && error.code === 'model_not_found',
      );
      sim.enqueueFault({ status: 429 });
      await assert.rejects(
        create(),
        (error: unknown) => error instanceof OpenAI.RateLimitError && error.headers?.get('retry-after') === '34',
        'RetryInfo retryDelay 34s becomes retry-after',
      );
      sim.enqueueFault({ status: 500 });
      await assert.rejects(
        create(),
        (error: unknown) => error instanceof OpenAI.InternalServerError && error.status === 500,
      );
      sim.enqueueFault({ status: 503 });
      await assert.rejects(
        create(),
        (error: unknown) =>
          error instanceof OpenAI.InternalServerError && error.status === 503 && error.code === 'overloaded',
      );
      sim.enqueueFault({ status: 503 });
      await assert.rejects(
        client.chat.completions.create({ model: 'flash', messages: [{ role: 'user', content: 'x' }], stream: true }),
        (error: unknown) => error instanceof OpenAI.InternalServerError && error.status === 503,
        'a failure before the stream is a real HTTP status',
      );
      assert.equal(modelCalls(sim).length, 7, 'retries are off for this provider');
    });

    it('ends the stream with an error event on a mid-stream error and on a dropped connection', async () => {
      const words = 'a longer message to stream in many pieces';
      sim.enqueueFault({ midStreamError: { status: 500, message: 'Internal error encountered.' } });
      let text = '';
      const stream = await client.chat.completions.create({
        model: 'flash',
        messages: [{ role: 'user', content: words }],
        stream: true,
      });
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        })(),
        (error: unknown) => error instanceof OpenAI.APIError && /Internal error encountered/.test(error.message),
      );
      assert.ok(text.length > 0, 'the text before the error was delivered');

      sim.enqueueFault({ dropAfterChunks: 3 });
      const dropped = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'flash',
        messages: [{ role: 'user', content: words }],
        stream: true,
      });
      const body = await dropped.text();
      assert.match(body, /upstream_stream_interrupted/);
      assert.ok(!body.includes('[DONE]'));
    });

    it('answers 502 without leaking the key when Google rejects the gateway credential', async () => {
      const wrongKey = 'AIzaSyWrongKey-0123456789abcdefghijklmnop';
      const strict = await startGateway(geminiConfig(sim.baseUrl, keyPath, wrongKey));
      try {
        const response = await postJson(`${strict.url}/v1/chat/completions`, {
          model: 'flash',
          messages: [{ role: 'user', content: 'x' }],
        });
        assert.equal(response.status, 502);
        const text = await response.text();
        assert.equal(stringAt(JSON.parse(text), 'error', 'code'), 'upstream_auth_error');
        assert.ok(!text.includes(wrongKey), text);
      } finally {
        await strict.close();
      }
    });

    it('embeds one text, a batch (float and base64) and honours dimensions', async () => {
      const one = await client.embeddings.create({ model: 'embed', input: 'hello world', encoding_format: 'float' });
      assert.equal(one.data.length, 1);
      assert.equal(one.data[0].embedding.length, 3072);
      assert.equal(modelCalls(sim)[0].path, '/v1beta/models/gemini-embedding-001:embedContent');

      const batch = await client.embeddings.create({
        model: 'embed',
        input: ['first text', 'second text', 'third text'],
        dimensions: 256,
        encoding_format: 'float',
      });
      assert.deepEqual(
        batch.data.map((item) => [item.index, item.embedding.length]),
        [
          [0, 256],
          [1, 256],
          [2, 256],
        ],
      );
      const batchCall = modelCalls(sim)[1];
      assert.equal(batchCall.path, '/v1beta/models/gemini-embedding-001:batchEmbedContents');
      assert.deepEqual(objectAt(batchCall.body, 'requests', 0), {
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: 'first text' }] },
        outputDimensionality: 256,
      });

      // The SDK asks for base64 by default and decodes it to floats.
      const decoded = await client.embeddings.create({ model: 'embed', input: ['first text'], dimensions: 256 });
      assert.deepEqual(
        decoded.data[0].embedding.map((value) => Math.fround(value)),
        batch.data[0].embedding.map((value) => Math.fround(value)),
      );
    });
  });

  describe('Vertex AI with a service account key', () => {
    it('gets a token with a signed JWT, then calls the regional Vertex path with it', async () => {
      const completion = await client.chat.completions.create({
        model: 'v-flash',
        messages: [{ role: 'user', content: 'hello vertex' }],
      });
      assert.equal(completion.choices[0].message.content, 'Hello from gemini-2.5-flash: hello vertex');
      const [token, call] = sim.requests;
      assert.equal(token.api, 'oauth');
      const claims = token.assertion?.claims;
      assert.equal(at(claims, 'aud'), 'https://oauth2.googleapis.com/token');
      assert.equal(at(claims, 'scope'), 'https://www.googleapis.com/auth/cloud-platform');
      assert.equal(at(claims, 'iss'), `gateway-test@${PROJECT}.iam.gserviceaccount.com`);
      assert.equal(
        call.path,
        `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-2.5-flash:generateContent`,
      );
      assert.match(String(call.headers.authorization), /^Bearer ya29\.c\./);
      assert.equal(call.headers['x-goog-api-key'], undefined);
    });

    it('fetches one token for many concurrent requests and refreshes it before it expires', async () => {
      const ask = () =>
        client.chat.completions.create({ model: 'v-flash', messages: [{ role: 'user', content: 'concurrent' }] });
      // Whatever token is cached is refused: the replay gets a two-second one.
      sim.tokenLifetimeSeconds = 2;
      sim.expireAccessTokens();
      await ask();
      const before = sim.tokenRequests;
      await sleep(1_100);
      await Promise.all(Array.from({ length: 20 }, ask));
      assert.equal(sim.tokenRequests - before, 1, 'one refresh for twenty requests, a second before expiry');
      await Promise.all(Array.from({ length: 5 }, ask));
      assert.equal(sim.tokenRequests - before, 1, 'the fresh token is reused');
    });

    it('replays a request once with a new token when Vertex refuses the old one', async () => {
      await client.chat.completions.create({ model: 'v-flash', messages: [{ role: 'user', content: 'warm' }] });
      const before = sim.tokenRequests;
      sim.expireAccessTokens();
      const completion = await client.chat.completions.create({
        model: 'v-flash',
        messages: [{ role: 'user', content: 'after expiry' }],
      });
      assert.equal(completion.choices[0].message.content, 'Hello from gemini-2.5-flash: after expiry');
      assert.equal(sim.tokenRequests - before, 1);
    });

    it('streams a Gemini 3 tool call and round-trips it with its signature', async () => {
      const runner = client.chat.completions.stream({ model: 'v-g3', messages: [question], tools });
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      runner.on('chunk', (chunk) => chunks.push(chunk));
      const final = await runner.finalChatCompletion();
      assert.equal(final.choices[0].finish_reason, 'tool_calls');
      const call = final.choices[0].message.tool_calls?.[0] as ExtendedToolCall;
      assert.deepEqual(toolCallsFromDeltas(chunks), [
        { id: call.id, name: 'get_weather', arguments: { city: 'Paris' } },
      ]);
      assert.ok(call.extra_content?.google?.thought_signature, 'the tool-call delta carries the signature');
      assert.equal(modelCalls(sim)[0].query.alt, 'sse');

      const answer = client.chat.completions.stream({
        model: 'v-g3',
        messages: [
          question,
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'rainy, 12C' },
        ],
        tools,
      });
      assert.equal(await answer.finalContent(), 'Tool said: {"output":"rainy, 12C"}');
    });

    it('embeds through embedContent, one text per call, with Vertex token counts', async () => {
      const result = await client.embeddings.create({
        model: 'v-embed',
        input: ['hello world', 'three more words'],
        encoding_format: 'float',
      });
      assert.deepEqual(
        result.data.map((item) => item.embedding.length),
        [3072, 3072],
      );
      assert.deepEqual(result.usage, { prompt_tokens: 5, total_tokens: 5 });
      const paths = modelCalls(sim).map((call) => call.path);
      assert.deepEqual(paths, [
        `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-embedding-001:embedContent`,
        `/v1/projects/${PROJECT}/locations/${LOCATION}/publishers/google/models/gemini-embedding-001:embedContent`,
      ]);
    });

    it('maps a Vertex 429 without RetryInfo to a RateLimitError', async () => {
      sim.enqueueFault({ status: 429, api: 'vertex' });
      await assert.rejects(
        client.chat.completions.create({ model: 'v-flash', messages: [{ role: 'user', content: 'x' }] }),
        (error: unknown) => error instanceof OpenAI.RateLimitError && error.code === 'rate_limit_exceeded',
      );
    });
  });

  it('calls the Gemini API with an OAuth token when it has a key file and no API key', async () => {
    const completion = await client.chat.completions.create({
      model: 'oauth-flash',
      messages: [{ role: 'user', content: 'oauth please' }],
    });
    assert.equal(completion.choices[0].message.content, 'Hello from gemini-2.5-flash: oauth please');
    const call = modelCalls(sim)[0];
    assert.equal(call.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.match(String(call.headers.authorization), /^Bearer ya29\.c\./);
  });
});
