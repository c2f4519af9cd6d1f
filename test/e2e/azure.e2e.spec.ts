/**
 * The `azure` provider end to end: official `openai` SDK → gateway → Azure OpenAI simulator, over real HTTP.
 * Deployments with `api-version` and the v1 API, `api-key` and Microsoft Entra ID (client secret against the
 * simulator's Entra endpoint over TLS, trusted through `options.entra.caFile`; the default credential chain through
 * workload identity), content filtering, usage, embeddings and errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { AZURE_ENTRA_SIM_CERT } from '../simulators/azure-entra-tls.js';
import { AzureOpenAiSimulator } from '../simulators/azure-openai-simulator.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';
import { toolCallsFromDeltas } from './stream-assertions.js';

const API_KEY = 'azure-e2e-resource-key-0123456789';
const API_VERSION = '2024-10-21';
const TENANT = 'tenant-e2e';
const CLIENT = { clientId: 'client-e2e', clientSecret: 'entra-e2e-client-secret-0123456789' };
const DEPLOYMENTS = { chat: 'gpt-4o-2024-08-06', thinker: 'o4-mini', embed: 'text-embedding-3-small' };
const CHAT_PATH = '/openai/deployments/chat/chat/completions';

const shared = {
  retry: { retries: 0 },
  timeouts: { connectMs: 1_000, firstByteMs: 3_000, totalMs: 10_000 },
};

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
const weatherQuestion = 'weather in Paris?\nSIM_TOOL get_weather {"city":"Paris"}';

function user(content: string): OpenAI.Chat.ChatCompletionMessageParam[] {
  return [{ role: 'user', content }];
}

/** Every model name the suite uses, each on the provider it exercises. */
function azureConfig(endpoint: string, entra: Record<string, unknown>): Record<string, unknown> {
  return {
    routing: { breaker: { failureThreshold: 100, maxOpenMs: 1 } },
    providers: [
      { name: 'azure', type: 'azure', baseUrl: endpoint, apiKey: API_KEY, ...shared },
      { name: 'azure-v1', type: 'azure', baseUrl: endpoint, apiKey: API_KEY, options: { apiPath: 'v1' }, ...shared },
      { name: 'azure-entra', type: 'azure', baseUrl: endpoint, options: { entra }, ...shared },
      { name: 'azure-wrong-key', type: 'azure', baseUrl: endpoint, apiKey: 'azure-e2e-wrong-key-0123', ...shared },
      {
        name: 'azure-old-version',
        type: 'azure',
        baseUrl: endpoint,
        apiKey: API_KEY,
        options: { apiVersion: '2021-01-01' },
        ...shared,
      },
    ],
    models: [
      { name: 'gpt-azure', deployments: [{ provider: 'azure', model: 'chat' }] },
      { name: 'o-azure', deployments: [{ provider: 'azure', model: 'thinker' }] },
      { name: 'embed-azure', deployments: [{ provider: 'azure', model: 'embed' }] },
      { name: 'gpt-azure-missing', deployments: [{ provider: 'azure', model: 'no-such-deployment' }] },
      { name: 'gpt-azure-v1', deployments: [{ provider: 'azure-v1', model: 'chat' }] },
      { name: 'embed-azure-v1', deployments: [{ provider: 'azure-v1', model: 'embed' }] },
      { name: 'gpt-azure-entra', deployments: [{ provider: 'azure-entra', model: 'chat' }] },
      { name: 'gpt-azure-wrong-key', deployments: [{ provider: 'azure-wrong-key', model: 'chat' }] },
      { name: 'gpt-azure-old-version', deployments: [{ provider: 'azure-old-version', model: 'chat' }] },
    ],
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface StreamOutcome {
  text: string;
  finishReason: string | null;
  usage: OpenAI.CompletionUsage | undefined;
  chunks: OpenAI.Chat.ChatCompletionChunk[];
}

async function streamed(client: OpenAI, body: OpenAI.Chat.ChatCompletionCreateParamsStreaming): Promise<StreamOutcome> {
  const stream = await client.chat.completions.create({ ...body, stream_options: { include_usage: true } });
  const outcome: StreamOutcome = { text: '', finishReason: null, usage: undefined, chunks: [] };
  for await (const chunk of stream) {
    outcome.chunks.push(chunk);
    outcome.text += chunk.choices[0]?.delta.content ?? '';
    outcome.finishReason = chunk.choices[0]?.finish_reason ?? outcome.finishReason;
    if (chunk.usage) outcome.usage = chunk.usage;
  }
  return outcome;
}

describe('azure provider through the gateway (official openai SDK)', { timeout: 120_000 }, () => {
  const sim = new AzureOpenAiSimulator({ apiKey: API_KEY, deployments: DEPLOYMENTS, entraClients: [CLIENT] });
  const caDir = mkdtempSync(join(tmpdir(), 'azure-e2e-'));
  const caFile = join(caDir, 'entra-sim-ca.pem');
  let endpoint: string;
  let authorityHost: string;
  let gateway: RunningGateway;
  let client: OpenAI;
  const entraOptions = (clientSecret = CLIENT.clientSecret) => ({
    tenantId: TENANT,
    clientId: CLIENT.clientId,
    clientSecret,
    authorityHost,
    disableInstanceDiscovery: true,
    caFile,
  });
  const chatRequests = () => sim.requests.filter((request) => request.path.endsWith('/chat/completions'));

  before(async () => {
    writeFileSync(caFile, AZURE_ENTRA_SIM_CERT);
    endpoint = await sim.start();
    authorityHost = await sim.startEntra();
    gateway = await startGateway(azureConfig(endpoint, entraOptions()));
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
    rmSync(caDir, { recursive: true, force: true });
  });
  beforeEach(() => sim.reset());

  describe('deployments API with api-key', () => {
    it('sends the client’s body to the deployment with api-version and api-key, and answers Azure’s bytes', async () => {
      const body = {
        model: 'gpt-azure',
        messages: [{ role: 'user', content: 'Hi there' }],
        temperature: 0.5,
        user: 'user-1',
        data_sources: [{ type: 'azure_search', parameters: { endpoint: 'https://search.example' } }],
      };
      const response = await postJson(`${gateway.url}/v1/chat/completions`, body);
      assert.equal(response.status, 200);
      const completion = (await response.json()) as Record<string, unknown> & OpenAI.Chat.ChatCompletion;
      assert.equal(completion.model, DEPLOYMENTS.chat, 'the model Azure reports, as it reports it');
      assert.equal(completion.choices[0].message.content, `Hello from ${DEPLOYMENTS.chat}: Hi there`);
      assert.deepEqual(completion.prompt_filter_results, [
        {
          prompt_index: 0,
          content_filter_results: {
            hate: { filtered: false, severity: 'safe' },
            self_harm: { filtered: false, severity: 'safe' },
            sexual: { filtered: false, severity: 'safe' },
            violence: { filtered: false, severity: 'safe' },
            jailbreak: { filtered: false, detected: false },
          },
        },
      ]);
      assert.ok((completion.choices[0] as unknown as Record<string, unknown>).content_filter_results);

      const [upstream] = chatRequests();
      assert.equal(upstream.path, CHAT_PATH);
      assert.deepEqual(upstream.query, { 'api-version': API_VERSION });
      assert.equal(upstream.headers['api-key'], API_KEY);
      assert.equal(upstream.headers.authorization, undefined);
      assert.deepEqual(upstream.body, { ...body, model: 'chat' }, 'as the client sent it, unknown fields included');
    });

    it('streams Azure’s chunks as sent: the prompt annotation chunk first, then chunks with annotations', async () => {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'gpt-azure',
        messages: user('one two three'),
        stream: true,
        stream_options: { include_usage: true },
      });
      assert.equal(response.status, 200);
      const payloads = sseData(await response.text());
      assert.equal(payloads.at(-1), '[DONE]');
      const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload) as Record<string, unknown>);
      const [annotation, first] = chunks;
      assert.deepEqual(
        { id: annotation.id, object: annotation.object, model: annotation.model, choices: annotation.choices },
        { id: '', object: '', model: '', choices: [] },
      );
      assert.ok(annotation.prompt_filter_results);
      assert.equal(first.object, 'chat.completion.chunk');
      assert.ok((first.choices as Record<string, unknown>[])[0].content_filter_results);
      const usageChunk = chunks.at(-1)!;
      assert.deepEqual(usageChunk.choices, []);
      assert.ok((usageChunk.usage as { total_tokens: number }).total_tokens > 0);
      assert.equal((chatRequests()[0].body as { stream: boolean }).stream, true);
    });

    it('streams text with the SDK, which takes the annotation chunk in its stride', async () => {
      const outcome = await streamed(client, { model: 'gpt-azure', messages: user('stream please'), stream: true });
      assert.equal(outcome.text, `Hello from ${DEPLOYMENTS.chat}: stream please`);
      assert.equal(outcome.finishReason, 'stop');
      assert.deepEqual(outcome.chunks[0].choices, []);
    });

    it('round-trips a tool call without streaming and while streaming', async () => {
      const first = await client.chat.completions.create({
        model: 'gpt-azure',
        messages: user(weatherQuestion),
        tools,
      });
      assert.equal(first.choices[0].finish_reason, 'tool_calls');
      const call = first.choices[0].message.tool_calls?.[0];
      assert.ok(call && call.type === 'function');
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });

      const streamedCall = await streamed(client, {
        model: 'gpt-azure',
        messages: user(weatherQuestion),
        tools,
        stream: true,
      });
      assert.equal(streamedCall.finishReason, 'tool_calls');
      const [fromDeltas] = toolCallsFromDeltas(streamedCall.chunks);
      assert.deepEqual(fromDeltas.arguments, { city: 'Paris' });

      const answer = await client.chat.completions.create({
        model: 'gpt-azure',
        messages: [
          ...user(weatherQuestion),
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: call.id, content: 'rainy, 12C' },
        ],
        tools,
      });
      assert.equal(answer.choices[0].message.content, 'Tool said: rainy, 12C');
      const upstream = chatRequests().at(-1)!.body as { tools: unknown; messages: unknown[] };
      assert.deepEqual(upstream.tools, tools);
      assert.equal(upstream.messages.length, 3);
    });

    it('passes structured output through: the schema goes out, the JSON comes back', async () => {
      const response_format = {
        type: 'json_schema' as const,
        json_schema: {
          name: 'weather',
          strict: true,
          schema: {
            type: 'object',
            properties: { city: { type: 'string' }, celsius: { type: 'number' } },
            required: ['city', 'celsius'],
            additionalProperties: false,
          },
        },
      };
      const completion = await client.chat.completions.create({
        model: 'gpt-azure',
        messages: user('weather as JSON'),
        response_format,
      });
      const parsed = JSON.parse(completion.choices[0].message.content ?? '') as Record<string, unknown>;
      assert.equal(typeof parsed.city, 'string');
      assert.equal(typeof parsed.celsius, 'number');
      assert.deepEqual((chatRequests()[0].body as { response_format: unknown }).response_format, response_format);
    });

    it('reports reasoning tokens the same way streaming or not, and leaves the gateway’s reasoning extensions out', async () => {
      const body = {
        model: 'o-azure',
        messages: [
          { role: 'user', content: 'earlier question' },
          {
            role: 'assistant',
            content: 'earlier answer',
            reasoning_content: 'why',
            thinking_blocks: [{ type: 'thinking', thinking: 'why', signature: 'sig-from-elsewhere' }],
          },
          { role: 'user', content: 'think about it', cache_control: { type: 'ephemeral' } },
        ],
        reasoning_effort: 'low',
        thinking: { type: 'enabled', budget_tokens: 1024 },
      };
      const response = await postJson(`${gateway.url}/v1/chat/completions`, body);
      assert.equal(response.status, 200);
      const completion = (await response.json()) as OpenAI.Chat.ChatCompletion;
      const reasoning = completion.usage?.completion_tokens_details?.reasoning_tokens ?? 0;
      assert.ok(reasoning > 0);
      assert.deepEqual(chatRequests()[0].body, {
        model: 'thinker',
        messages: [
          { role: 'user', content: 'earlier question' },
          { role: 'assistant', content: 'earlier answer' },
          { role: 'user', content: 'think about it' },
        ],
        reasoning_effort: 'low',
      });

      sim.reset();
      const outcome = await streamed(client, {
        ...(body as unknown as OpenAI.Chat.ChatCompletionCreateParamsStreaming),
        stream: true,
      });
      assert.deepEqual(outcome.usage, completion.usage, 'stream and non-stream report the same figures');
    });

    it('reports cached tokens as Azure counts them, once, the same streaming or not', async () => {
      const system = { role: 'system' as const, content: 'You are a careful assistant. '.repeat(20) };
      const first = [system, ...user('first question')];
      const second = [...first, { role: 'assistant' as const, content: 'first answer' }, ...user('second question')];
      await client.chat.completions.create({ model: 'gpt-azure', messages: first });
      const whole = await client.chat.completions.create({ model: 'gpt-azure', messages: second });
      const cached = whole.usage?.prompt_tokens_details?.cached_tokens ?? 0;
      assert.ok(cached > 0, 'the second turn reads the first from the cache');
      assert.ok(whole.usage!.prompt_tokens > cached, 'prompt_tokens includes the cached tokens');
      assert.equal(
        (whole.usage!.prompt_tokens_details as Record<string, unknown>).cache_creation_tokens,
        undefined,
        'Azure reports no cache writes',
      );

      sim.reset();
      await streamed(client, { model: 'gpt-azure', messages: first, stream: true });
      const stream = await streamed(client, { model: 'gpt-azure', messages: second, stream: true });
      assert.deepEqual(stream.usage, whole.usage);
      assert.equal(stream.chunks.filter((chunk) => chunk.usage).length, 1, 'usage comes in one chunk, counted once');
    });

    it('serves embeddings, base64 as Azure encodes it and floats', async () => {
      const viaBase64 = await client.embeddings.create({ model: 'embed-azure', input: ['alpha', 'beta'] });
      const viaFloat = await client.embeddings.create({
        model: 'embed-azure',
        input: ['alpha', 'beta'],
        encoding_format: 'float',
        dimensions: 8,
      });
      assert.equal(viaBase64.model, DEPLOYMENTS.embed);
      assert.equal(viaFloat.data[0].embedding.length, 8);
      const [base64Request, floatRequest] = sim.requests;
      assert.equal(base64Request.path, '/openai/deployments/embed/embeddings');
      assert.deepEqual(base64Request.query, { 'api-version': API_VERSION });
      assert.equal((base64Request.body as { encoding_format: string }).encoding_format, 'base64');
      assert.deepEqual(floatRequest.body, {
        model: 'embed',
        input: ['alpha', 'beta'],
        encoding_format: 'float',
        dimensions: 8,
      });
      assert.equal(viaBase64.data.length, 2);
      assert.ok(viaBase64.data[0].embedding.every((value) => typeof value === 'number'));
    });
  });

  describe('v1 API', () => {
    it('sends chat and embeddings to /openai/v1 with the deployment as model and no api-version', async () => {
      const completion = await client.chat.completions.create({ model: 'gpt-azure-v1', messages: user('Hi') });
      assert.equal(completion.choices[0].message.content, `Hello from ${DEPLOYMENTS.chat}: Hi`);
      const outcome = await streamed(client, { model: 'gpt-azure-v1', messages: user('Hi'), stream: true });
      assert.equal(outcome.text, `Hello from ${DEPLOYMENTS.chat}: Hi`);
      await client.embeddings.create({ model: 'embed-azure-v1', input: 'alpha' });
      assert.deepEqual(
        sim.requests.map((request) => [request.path, request.query, (request.body as { model: string }).model]),
        [
          ['/openai/v1/chat/completions', {}, 'chat'],
          ['/openai/v1/chat/completions', {}, 'chat'],
          ['/openai/v1/embeddings', {}, 'embed'],
        ],
      );
      assert.ok(sim.requests.every((request) => request.headers['api-key'] === API_KEY));
    });
  });

  describe('content filtering', () => {
    it('refuses a filtered prompt with a 400 naming the categories, streaming or not', async () => {
      for (const stream of [false, true]) {
        await assert.rejects(
          client.chat.completions.create({
            model: 'gpt-azure',
            messages: user('something hateful\nSIM_FILTER_PROMPT'),
            stream,
          }),
          (error: unknown) => {
            assert.ok(error instanceof OpenAI.BadRequestError, String(error));
            assert.equal(error.status, 400);
            assert.equal(error.code, 'content_filter');
            assert.equal(error.param, 'prompt');
            assert.match(error.message, /content filter refused the request \(hate \(high\)\)/);
            return true;
          },
        );
      }
    });

    it('passes finish_reason content_filter and the completion’s filter results through', async () => {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'gpt-azure',
        messages: user('tell me a story\nSIM_FILTER_OUTPUT'),
      });
      const completion = (await response.json()) as { choices: Record<string, unknown>[] };
      assert.equal(completion.choices[0].finish_reason, 'content_filter');
      assert.deepEqual((completion.choices[0].content_filter_results as Record<string, unknown>).violence, {
        filtered: true,
        severity: 'medium',
      });

      const outcome = await streamed(client, {
        model: 'gpt-azure',
        messages: user('a b c d e f\nSIM_FILTER_OUTPUT'),
        stream: true,
      });
      assert.equal(outcome.finishReason, 'content_filter');
      const finish = outcome.chunks.find((chunk) => chunk.choices[0]?.finish_reason)!;
      assert.deepEqual(
        (finish.choices[0] as unknown as { content_filter_results: Record<string, unknown> }).content_filter_results
          .violence,
        { filtered: true, severity: 'medium' },
      );
    });
  });

  describe('errors', () => {
    it('maps 429 to a RateLimitError carrying Retry-After', async () => {
      sim.enqueueFault({ status: 429, retryAfterSeconds: 7 });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure', messages: user('x') }),
        (error: unknown) =>
          error instanceof OpenAI.RateLimitError &&
          error.code === 'rate_limit_exceeded' &&
          error.headers?.get('retry-after') === '7' &&
          /exceeded token rate limit/.test(error.message),
      );
      sim.enqueueFault({ status: 429 });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure', messages: user('x'), stream: true }),
        (error: unknown) => error instanceof OpenAI.RateLimitError && error.headers?.get('retry-after') === '20',
        'without a header, the seconds the message names',
      );
    });

    it('maps DeploymentNotFound to NotFoundError model_not_found', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure-missing', messages: user('x') }),
        (error: unknown) =>
          error instanceof OpenAI.NotFoundError && error.code === 'model_not_found' && error.param === 'model',
      );
      assert.equal(chatRequests()[0].path, '/openai/deployments/no-such-deployment/chat/completions');
    });

    it('answers 502 without leaking the key when Azure refuses it', async () => {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'gpt-azure-wrong-key',
        messages: user('x'),
      });
      assert.equal(response.status, 502);
      assert.equal(response.headers.get('x-should-retry'), 'false');
      const text = await response.text();
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_auth_error');
      assert.ok(!text.includes('azure-e2e-wrong-key') && !text.includes(API_KEY), text);
    });

    it('answers 502 naming the configuration when Azure does not serve the api-version', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure-old-version', messages: user('x') }),
        (error: unknown) =>
          error instanceof OpenAI.InternalServerError &&
          error.status === 502 &&
          /API version not supported .*apiVersion/.test(error.message),
      );
      assert.deepEqual(chatRequests()[0].query, { 'api-version': '2021-01-01' });
    });

    it('maps Azure 500 to an InternalServerError', async () => {
      sim.enqueueFault({ status: 500 });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure', messages: user('x') }),
        (error: unknown) => error instanceof OpenAI.InternalServerError && error.status === 500,
      );
    });

    it('answers an error event before any output as a 502, before the stream starts', async () => {
      // Azure's annotation chunk and the role chunk carry no output, so the gateway still holds the headers back.
      sim.enqueueFault({ midStreamError: true });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-azure', messages: user('x y z'), stream: true }),
        (error: unknown) => error instanceof OpenAI.InternalServerError && error.status === 502,
      );
    });

    it('ends the stream with an error event when the connection drops after output', async () => {
      sim.enqueueFault({ dropAfterChunks: 4 });
      const stream = await client.chat.completions.create({
        model: 'gpt-azure',
        messages: user('a longer message to stream'),
        stream: true,
      });
      let text = '';
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        })(),
        (error: unknown) => error instanceof OpenAI.APIError && /stream/.test(error.message),
      );
      assert.ok(text.length > 0, 'the text before the failure was delivered');
    });
  });

  describe('Microsoft Entra ID', () => {
    it('signs requests with a client-credentials token for the Cognitive Services scope, fetched once', async () => {
      const tokensBefore = sim.issuedTokens.length;
      for (const content of ['first', 'second']) {
        const completion = await client.chat.completions.create({ model: 'gpt-azure-entra', messages: user(content) });
        assert.equal(completion.choices[0].message.content, `Hello from ${DEPLOYMENTS.chat}: ${content}`);
      }
      const issued = sim.issuedTokens.slice(tokensBefore);
      assert.equal(issued.length, 1, 'the token is cached');
      assert.equal(issued[0].scope, 'https://cognitiveservices.azure.com/.default');
      assert.deepEqual([issued[0].tenantId, issued[0].clientId], [TENANT, CLIENT.clientId]);
      for (const request of chatRequests()) {
        assert.equal(request.headers.authorization, `Bearer ${issued[0].token}`);
        assert.equal(request.headers['api-key'], undefined);
      }
      const outcome = await streamed(client, { model: 'gpt-azure-entra', messages: user('streamed'), stream: true });
      assert.equal(outcome.text, `Hello from ${DEPLOYMENTS.chat}: streamed`);
    });

    it('refreshes a short-lived token in the background before it expires', async () => {
      sim.setTokenLifetime(4);
      const shortLived = await startGateway(azureConfig(endpoint, entraOptions()));
      try {
        const shortClient = new OpenAI({ baseURL: `${shortLived.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
        const ask = () => shortClient.chat.completions.create({ model: 'gpt-azure-entra', messages: user('x') });
        const before = sim.entraTokenRequests;
        await ask();
        await ask();
        assert.equal(sim.entraTokenRequests - before, 1);
        await sleep(2_200);
        await ask();
        await until(() => sim.entraTokenRequests - before === 2, 'the background refresh');
        await ask();
        const sent = chatRequests().map((request) => request.headers.authorization);
        assert.equal(sent[0], sent[1]);
        assert.equal(sent[2], sent[0], 'the refresh did not hold the request up');
        assert.notEqual(sent[3], sent[0], 'the next request has the new token');
      } finally {
        await shortLived.close();
        sim.setTokenLifetime(3599);
      }
    });

    it('answers 502 when Entra refuses the client secret, without calling Azure', async () => {
      const config = azureConfig(endpoint, entraOptions('entra-e2e-wrong-secret-0123456789'));
      const refused = await startGateway(config);
      try {
        const response = await postJson(`${refused.url}/v1/chat/completions`, {
          model: 'gpt-azure-entra',
          messages: user('x'),
        });
        assert.equal(response.status, 502);
        const text = await response.text();
        assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_auth_error');
        assert.ok(!text.includes('wrong-secret') && !text.includes('AADSTS'), text);
        assert.equal(chatRequests().length, 0);
      } finally {
        await refused.close();
      }
    });
  });

  describe('the default credential chain (workload identity)', () => {
    const identitySim = new AzureOpenAiSimulator({ apiKey: 'only-tokens-are-sent-0123', deployments: DEPLOYMENTS });
    const assertionFile = join(caDir, 'federated-token');
    const environment = {
      AZURE_TENANT_ID: 'tenant-workload',
      AZURE_CLIENT_ID: 'client-workload',
      AZURE_FEDERATED_TOKEN_FILE: assertionFile,
    };
    let identityGateway: RunningGateway;

    before(async () => {
      writeFileSync(assertionFile, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2ln');
      Object.assign(process.env, environment);
      const identityEndpoint = await identitySim.start();
      const identityAuthority = await identitySim.startEntra();
      identityGateway = await startGateway(
        azureConfig(identityEndpoint, { authorityHost: identityAuthority, disableInstanceDiscovery: true, caFile }),
      );
    });
    after(async () => {
      await identityGateway.close();
      await identitySim.stop();
      for (const name of Object.keys(environment)) delete process.env[name];
    });

    it('gets its token from the workload identity the environment describes', async () => {
      const identityClient = new OpenAI({ baseURL: `${identityGateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
      const completion = await identityClient.chat.completions.create({
        model: 'gpt-azure-entra',
        messages: user('Hi'),
      });
      assert.equal(completion.choices[0].message.content, `Hello from ${DEPLOYMENTS.chat}: Hi`);
      const [token] = identitySim.issuedTokens;
      assert.deepEqual([token.tenantId, token.clientId], ['tenant-workload', 'client-workload']);
      const chat = identitySim.requests.find((request) => request.path.endsWith('/chat/completions'));
      assert.equal(chat?.headers.authorization, `Bearer ${token.token}`);
    });
  });
});
