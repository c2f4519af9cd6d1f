import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fromHttp, fromWebToken } from '@aws-sdk/credential-providers';
import { EventStreamCodec, MessageDecoderStream } from '@smithy/eventstream-codec';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Message } from '@smithy/types';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import {
  type BedrockCredentials,
  BedrockSimulator,
  DEFAULT_BEDROCK_CREDENTIALS,
  encodeEventFrame,
} from './bedrock-simulator.js';
import { arrayAt, at, type Json, jsonOf, numberAt, numbersAt, objectAt, stringAt } from './sim-json.js';

const CLAUDE_35 = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const CLAUDE_4 = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const NOVA = 'amazon.nova-lite-v1:0';
const LLAMA = 'meta.llama3-70b-instruct-v1:0';
const THINKING = { thinking: { type: 'enabled', budget_tokens: 2048 } };
const WEATHER_TOOL = {
  toolSpec: {
    name: 'get_weather',
    description: 'Weather for a city',
    inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } } } },
  },
};

/** Frames of a real ConverseStream answer (Arize-ai/openinference test recordings): messageStart, toolUse start, metadata. */
const RECORDED_FRAMES = [
  '000000b800000052c0f0ac640b3a6576656e742d7479706507000c6d65737361676553746172740d3a636f6e74656e742d74797065070010' +
    '6170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b2270223a22616263646566676869' +
    '6a6b6c6d6e6f707172737475767778797a4142434445464748494a4b4c4d4e4f505152535455565758595a30313233343536222c2272' +
    '6f6c65223a22617373697374616e74227dc8a5e432',
  '000000df000000579b88f3b60b3a6576656e742d74797065070011636f6e74656e74426c6f636b53746172740d3a636f6e74656e742d74' +
    '797065070010' +
    '6170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22636f6e74656e74426c6f636b496e' +
    '646578223a312c2270223a226162222c227374617274223a7b22746f6f6c557365223a7b226e616d65223a226765745f77656174686572' +
    '222c22746f6f6c5573654964223a22746f6f6c7573655f776e6a696b6843555472754a636979636d6d6d354b67227d7d7d54f9120c',
  '000000eb0000004eab4245300b3a6576656e742d747970650700086d657461646174610d3a636f6e74656e742d747970650700106170706c' +
    '69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b226d657472696373223a7b226c6174656e63794d' +
    '73223a313131387d2c2270223a226162636465666768696a6b6c6d6e6f707172737475767778797a4142434445464748494a4b4c4d4e4f' +
    '50222c227573616765223a7b22696e707574546f6b656e73223a31332c226f7574707574546f6b656e73223a33352c22746f74616c546f' +
    '6b656e73223a34387d7db72f2632',
];

interface SignOptions {
  credentials?: BedrockCredentials;
  region?: string;
  service?: string;
  signingDate?: Date;
  /** Replaces the body after signing. */
  sentBody?: string;
  signal?: AbortSignal;
}

interface StreamEvent {
  headers: Record<string, string>;
  type: string;
  payload: Json;
}

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const HI = { messages: [userText('hi')] };

/** Signs a POST as the AWS SDK does (SignatureV4, service `bedrock`) and sends it over real HTTP. */
async function signedPost(baseUrl: string, path: string, body: unknown, options: SignOptions = {}): Promise<Response> {
  const url = new URL(path, baseUrl);
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const signer = new SignatureV4({
    credentials: options.credentials ?? DEFAULT_BEDROCK_CREDENTIALS,
    region: options.region ?? 'us-east-1',
    service: options.service ?? 'bedrock',
    sha256: Hash.bind(null, 'sha256'),
  });
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { host: url.host, 'content-type': 'application/json', accept: 'application/json' },
      body: text,
    },
    { signingDate: options.signingDate },
  );
  const { host: _host, ...headers } = signed.headers;
  return fetch(url, { method: 'POST', headers, body: options.sentBody ?? text, signal: options.signal });
}

function modelPath(modelId: string, operation: string): string {
  return `/model/${encodeURIComponent(modelId)}/${operation}`;
}

function userText(text: string): Json {
  return { role: 'user', content: [{ text }] };
}

async function decodeStream(response: Response): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  const decoder = new MessageDecoderStream({
    inputStream: frames(response.body as unknown as AsyncIterable<Uint8Array>),
    decoder: codec,
  });
  for await (const message of decoder) events.push(toEvent(message));
  return events;
}

/** Cuts the byte stream into whole frames by their total-length prelude, however the reads fall. */
async function* frames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let buffered = Buffer.alloc(0);
  for await (const chunk of chunks) {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0);
      yield buffered.subarray(0, length);
      buffered = buffered.subarray(length);
    }
  }
  if (buffered.length > 0) throw new Error(`the stream ended inside a frame (${buffered.length} bytes left)`);
}

function toEvent(message: Message): StreamEvent {
  const headers = Object.fromEntries(
    Object.entries(message.headers).map(([name, header]) => [name, String(header.value)]),
  );
  return {
    headers,
    type: headers[':event-type'] ?? headers[':exception-type'],
    payload: objectAt(JSON.parse(toUtf8(message.body))),
  };
}

function without<T extends Json>(payload: T, key: string): Json {
  const { [key]: _dropped, ...rest } = payload;
  return rest;
}

async function errorOf(response: Response): Promise<{ status: number; type: string; body: Json }> {
  return {
    status: response.status,
    type: response.headers.get('x-amzn-errortype') ?? '',
    body: await jsonOf(response),
  };
}

describe('BedrockSimulator', { timeout: 30_000 }, () => {
  const sim = new BedrockSimulator();
  let baseUrl = '';

  const converse = (modelId: string, body: unknown, options?: SignOptions) =>
    signedPost(baseUrl, modelPath(modelId, 'converse'), body, options);
  const converseStream = (modelId: string, body: unknown, options?: SignOptions) =>
    signedPost(baseUrl, modelPath(modelId, 'converse-stream'), body, options);

  before(async () => {
    baseUrl = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  describe('Converse', () => {
    it('echoes the last user text in the documented response shape, keys in AWS order', async () => {
      const response = await converse(CLAUDE_35, {
        system: [{ text: 'Be brief.' }],
        messages: [userText('Hello, how are you?')],
        inferenceConfig: { maxTokens: 100, temperature: 0.5 },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json');
      assert.match(response.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
      const text = `Hello from ${CLAUDE_35}: Hello, how are you?`;
      const body = await jsonOf(response);
      assert.deepEqual(body, {
        metrics: { latencyMs: 250 },
        output: { message: { content: [{ text }], role: 'assistant' } },
        stopReason: 'end_turn',
        usage: { inputTokens: 9, outputTokens: 7, totalTokens: 16 },
      });
      assert.deepEqual(Object.keys(body), ['metrics', 'output', 'stopReason', 'usage']);
      const [recorded] = sim.requests;
      assert.equal(recorded.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse');
      assert.equal(recorded.modelId, CLAUDE_35);
      assert.equal(recorded.operation, 'converse');
      assert.equal(recorded.accessKeyId, DEFAULT_BEDROCK_CREDENTIALS.accessKeyId);
      assert.deepEqual(at(recorded.body, 'inferenceConfig'), { maxTokens: 100, temperature: 0.5 });
    });

    it('serves plain ids, inference profiles and ARNs; newer Claude needs a profile as on Bedrock', async () => {
      for (const modelId of [
        NOVA,
        LLAMA,
        CLAUDE_4,
        'global.anthropic.claude-sonnet-4-20250514-v1:0',
        'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0',
      ]) {
        const response = await converse(modelId, { messages: [userText('hi')] });
        assert.equal(response.status, 200, modelId);
        const body = await jsonOf(response);
        assert.equal(at(body, 'output', 'message', 'content', 0, 'text'), `Hello from ${modelId}: hi`);
      }
      const onDemand = await errorOf(
        await converse('anthropic.claude-sonnet-4-20250514-v1:0', { messages: [userText('hi')] }),
      );
      assert.equal(onDemand.status, 400);
      assert.equal(onDemand.type, 'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/');
      assert.match(stringAt(onDemand.body, 'message'), /with on-demand throughput isn’t supported.*inference profile/);
      const unknown = await errorOf(await converse('sim-model', { messages: [userText('hi')] }));
      assert.deepEqual(unknown.body, { message: 'The provided model identifier is invalid.' });
    });

    it('cuts at stop sequences and maxTokens, and returns additionalModelResponseFieldPaths', async () => {
      const stopped = await jsonOf(
        await converse(CLAUDE_35, {
          messages: [userText('one two three four')],
          inferenceConfig: { stopSequences: ['three'] },
          additionalModelResponseFieldPaths: ['/stop_sequence', '/usage/output_tokens'],
        }),
      );
      assert.equal(stopped.stopReason, 'stop_sequence');
      assert.equal(at(stopped, 'output', 'message', 'content', 0, 'text'), `Hello from ${CLAUDE_35}: one two `);
      assert.deepEqual(stopped.additionalModelResponseFields, {
        stop_sequence: 'three',
        usage: { output_tokens: at(stopped, 'usage', 'outputTokens') },
      });
      const cut = await jsonOf(
        await converse(NOVA, { messages: [userText('one two three four')], inferenceConfig: { maxTokens: 3 } }),
      );
      assert.equal(cut.stopReason, 'max_tokens');
      assert.equal(at(cut, 'output', 'message', 'content', 0, 'text'), `Hello from ${NOVA}:`);
      assert.equal(at(cut, 'usage', 'outputTokens'), 3);
    });

    it('answers SIM_TEXT, SIM_GUARDRAIL and SIM_CONTENT_FILTERED', async () => {
      const answer = async (text: string) => jsonOf(await converse(NOVA, { messages: [userText(text)] }));
      assert.equal(
        at(await answer('x\nSIM_TEXT exactly this'), 'output', 'message', 'content', 0, 'text'),
        'exactly this',
      );
      const blocked = await answer('SIM_GUARDRAIL');
      assert.equal(blocked.stopReason, 'guardrail_intervened');
      assert.equal(
        at(blocked, 'output', 'message', 'content', 0, 'text'),
        'Sorry, the model cannot answer this question.',
      );
      assert.equal((await answer('a b c d\nSIM_CONTENT_FILTERED')).stopReason, 'content_filtered');
    });

    it('calls the first tool, a SIM_TOOL tool with its arguments, a forced tool, then answers the result', async () => {
      const question = userText('Weather in Paris?');
      const toolConfig = { tools: [WEATHER_TOOL, { toolSpec: { ...WEATHER_TOOL.toolSpec, name: 'get_time' } }] };
      const call = await jsonOf(await converse(CLAUDE_35, { messages: [question], toolConfig }));
      assert.equal(call.stopReason, 'tool_use');
      const toolUse = objectAt(call, 'output', 'message', 'content', 0, 'toolUse');
      assert.deepEqual(Object.keys(toolUse), ['input', 'name', 'toolUseId']);
      assert.equal(toolUse.name, 'get_weather');
      assert.deepEqual(toolUse.input, { city: 'Paris' });
      assert.match(stringAt(toolUse, 'toolUseId'), /^tooluse_[A-Za-z0-9_-]{22}$/);

      const directed = await jsonOf(
        await converse(CLAUDE_35, {
          messages: [userText('What time?\nSIM_TOOL get_time {"zone":"Europe/Paris","hour24":true}')],
          toolConfig,
        }),
      );
      const directedUse = objectAt(directed, 'output', 'message', 'content', 0, 'toolUse');
      assert.deepEqual(directedUse.input, { zone: 'Europe/Paris', hour24: true });
      assert.equal(directedUse.name, 'get_time');

      const forced = await jsonOf(
        await converse(CLAUDE_35, {
          messages: [userText('SIM_TEXT no tool please')],
          toolConfig: { ...toolConfig, toolChoice: { tool: { name: 'get_time' } } },
        }),
      );
      assert.equal(at(forced, 'output', 'message', 'content', 0, 'toolUse', 'name'), 'get_time');

      const answered = await jsonOf(
        await converse(CLAUDE_35, {
          messages: [
            question,
            at(call, 'output', 'message'),
            {
              role: 'user',
              content: [
                {
                  toolResult: {
                    toolUseId: toolUse.toolUseId,
                    content: [{ json: { tempC: 22 } }],
                    status: 'success',
                  },
                },
              ],
            },
          ],
          toolConfig,
        }),
      );
      assert.equal(answered.stopReason, 'end_turn');
      assert.equal(at(answered, 'output', 'message', 'content', 0, 'text'), 'Tool said: {"tempC":22}');
    });

    it('rejects what Bedrock rejects, with its messages, as ValidationException 400', async () => {
      const toolUse = { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: {} } };
      const toolResult = (id: string) => ({ toolResult: { toolUseId: id, content: [{ text: '22' }] } });
      const cases: Array<[unknown, RegExp]> = [
        [{ messages: [] }, /^A conversation must start with a user message/],
        [
          { messages: [{ role: 'assistant', content: [{ text: 'hi' }] }] },
          /^A conversation must start with a user message/,
        ],
        [
          { messages: [userText('a'), userText('b')] },
          /^A conversation must alternate between user and assistant roles/,
        ],
        [{ messages: [{ role: 'user', content: [] }] }, /content field in the Message object at messages\.0 is empty/],
        [{ messages: [userText('  ')] }, /text field in the ContentBlock object at messages\.0\.content\.0 is blank/],
        [
          { messages: [userText('a')], inferenceConfig: { temperature: 1.5 } },
          /Value '1\.5' at 'inferenceConfig\.temperature'.*less than or equal to 1/,
        ],
        [
          {
            messages: [
              userText('a'),
              { role: 'assistant', content: [toolUse] },
              { role: 'user', content: [toolResult('tooluse_1')] },
            ],
          },
          /^The toolConfig field must be defined when using toolUse and toolResult content blocks\.$/,
        ],
        [
          { messages: [{ role: 'user', content: [toolResult('tooluse_9')] }], toolConfig: { tools: [WEATHER_TOOL] } },
          /^The number of toolResult blocks at messages\.0\.content exceeds the number of toolUse blocks of previous turn\.$/,
        ],
        [
          {
            messages: [userText('a'), { role: 'assistant', content: [toolUse] }, userText('b')],
            toolConfig: { tools: [WEATHER_TOOL] },
          },
          /^Expected toolResult blocks at messages\.2\.content for the following Ids: tooluse_1$/,
        ],
        [
          {
            messages: [
              userText('a'),
              { role: 'assistant', content: [toolUse] },
              { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [], status: 'error' } }] },
            ],
            toolConfig: { tools: [WEATHER_TOOL] },
          },
          /content field at messages\.2\.content\.0\.toolResult cannot be empty when status value is error/,
        ],
        [
          { messages: [userText('a')], toolConfig: { tools: [] } },
          /at 'toolConfig\.tools' failed to satisfy constraint/,
        ],
        [
          {
            messages: [
              { role: 'user', content: [{ image: { format: 'bmp', source: { bytes: 'AA==' } } }, { text: 'x' }] },
            ],
          },
          /at 'messages\.0\.content\.0\.image\.format'/,
        ],
      ];
      for (const [body, message] of cases) {
        const error = await errorOf(await converse(CLAUDE_35, body));
        assert.equal(error.status, 400, JSON.stringify(body));
        assert.equal(error.type, 'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/');
        assert.match(stringAt(error.body, 'message'), message);
      }
    });

    it('accepts images, documents, tool result status and cache points in the documented shapes', async () => {
      const response = await converse(CLAUDE_4, {
        system: [{ text: 'sys' }, { cachePoint: { type: 'default' } }],
        messages: [
          {
            role: 'user',
            content: [
              { image: { format: 'png', source: { bytes: Buffer.from('png').toString('base64') } } },
              {
                document: { format: 'txt', name: 'notes (v2)', source: { bytes: Buffer.from('n').toString('base64') } },
              },
              { text: 'Describe these' },
            ],
          },
        ],
      });
      assert.equal(response.status, 200);
      assert.equal(
        at(await jsonOf(response), 'output', 'message', 'content', 0, 'text'),
        `Hello from ${CLAUDE_4}: Describe these`,
      );
    });
  });

  describe('Claude extended thinking', () => {
    it('reasons first with a signature, and takes the reasoning back unchanged on the tool turn', async () => {
      const toolConfig = { tools: [WEATHER_TOOL] };
      const question = userText('Weather in Paris?');
      const first = await jsonOf(
        await converse(CLAUDE_4, { messages: [question], toolConfig, additionalModelRequestFields: THINKING }),
      );
      const assistant = objectAt(first, 'output', 'message');
      const reasoning = objectAt(assistant, 'content', 0);
      const toolUse = objectAt(assistant, 'content', 1);
      const reasoningText = objectAt(reasoning, 'reasoningContent', 'reasoningText');
      assert.deepEqual(Object.keys(reasoningText), ['signature', 'text']);
      assert.match(stringAt(reasoningText, 'text'), /Weather in Paris\?/);
      assert.ok(stringAt(reasoningText, 'signature').length > 100);
      assert.equal(at(toolUse, 'toolUse', 'name'), 'get_weather');
      assert.equal(first.stopReason, 'tool_use');

      const result = {
        role: 'user',
        content: [{ toolResult: { toolUseId: at(toolUse, 'toolUse', 'toolUseId'), content: [{ text: '22°C' }] } }],
      };
      const next = (answer: Json) =>
        converse(CLAUDE_4, {
          messages: [question, answer, result],
          toolConfig,
          additionalModelRequestFields: THINKING,
        });

      const ok = await jsonOf(await next(assistant));
      assert.equal(at(ok, 'output', 'message', 'content', -1, 'text'), 'Tool said: 22°C');
      assert.ok(at(ok, 'output', 'message', 'content', 0, 'reasoningContent'));

      const dropped = await errorOf(await next({ role: 'assistant', content: [toolUse] }));
      assert.equal(dropped.status, 400);
      assert.match(
        stringAt(dropped.body, 'message'),
        /^The model returned the following errors: messages\.1\.content\.0\.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`\. When `thinking` is enabled/,
      );
      const changed = structuredClone(reasoning);
      const changedText = objectAt(changed, 'reasoningContent', 'reasoningText');
      changedText.text = `${stringAt(changedText, 'text')} (edited)`;
      const edited = await errorOf(await next({ role: 'assistant', content: [changed, toolUse] }));
      assert.equal(
        edited.body.message,
        'The model returned the following errors: messages.1.content.0: Invalid `signature` in `thinking` block',
      );
      const unsigned = structuredClone(reasoning);
      delete objectAt(unsigned, 'reasoningContent', 'reasoningText').signature;
      const noSignature = await errorOf(await next({ role: 'assistant', content: [unsigned, toolUse] }));
      assert.match(
        stringAt(noSignature.body, 'message'),
        /messages\.1\.content\.0\.thinking\.signature: Field required$/,
      );
    });

    it('gives a redactedContent block on SIM_REDACTED_THINKING and refuses it modified', async () => {
      const question = userText('Secret plan\nSIM_REDACTED_THINKING');
      const first = await jsonOf(
        await converse(CLAUDE_4, { messages: [question], additionalModelRequestFields: THINKING }),
      );
      const assistant = objectAt(first, 'output', 'message');
      const text = objectAt(assistant, 'content', 1);
      assert.equal(typeof at(assistant, 'content', 0, 'reasoningContent', 'redactedContent'), 'string');
      assert.match(stringAt(text, 'text'), /^Hello from /);
      const follow = (answer: Json) =>
        converse(CLAUDE_4, {
          messages: [question, answer, userText('and?')],
          additionalModelRequestFields: THINKING,
        });
      assert.equal((await follow(assistant)).status, 200);
      const tampered = { reasoningContent: { redactedContent: Buffer.from('not what you sent').toString('base64') } };
      const refused = await errorOf(await follow({ role: 'assistant', content: [tampered, text] }));
      assert.match(stringAt(refused.body, 'message'), /blocks in the latest assistant message cannot be modified/);
    });

    it('enforces the thinking parameters Claude enforces', async () => {
      const cases: Array<[Json, RegExp]> = [
        [
          { additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 100 } } },
          /budget_tokens: Input should be greater than or equal to 1024/,
        ],
        [
          { additionalModelRequestFields: THINKING, inferenceConfig: { maxTokens: 2000 } },
          /`max_tokens` must be greater than `thinking\.budget_tokens`/,
        ],
        [
          { additionalModelRequestFields: THINKING, inferenceConfig: { temperature: 0.3 } },
          /`temperature` may only be set to 1 when thinking is enabled/,
        ],
        [
          { additionalModelRequestFields: THINKING, toolConfig: { tools: [WEATHER_TOOL], toolChoice: { any: {} } } },
          /Thinking may not be enabled when tool_choice forces tool use/,
        ],
      ];
      for (const [extra, message] of cases) {
        const error = await errorOf(await converse(CLAUDE_4, { messages: [userText('hi')], ...extra }));
        assert.equal(error.status, 400);
        assert.match(stringAt(error.body, 'message'), message);
      }
      const topK = await jsonOf(
        await converse(CLAUDE_35, { messages: [userText('hi')], additionalModelRequestFields: { top_k: 40 } }),
      );
      assert.equal(topK.stopReason, 'end_turn');
    });
  });

  describe('prompt caching', () => {
    it('writes a marked prefix once, then reads it; a longer prefix reads the old part and writes the rest', async () => {
      const system = [{ text: 'You are a careful assistant for the simulator.' }, { cachePoint: { type: 'default' } }];
      const ask = async (messages: Json[]) =>
        objectAt(await jsonOf(await converse(CLAUDE_4, { system, messages })), 'usage');
      const first = await ask([userText('first question')]);
      assert.deepEqual(first, {
        cacheReadInputTokens: 0,
        cacheWriteInputTokens: 8,
        inputTokens: 5,
        outputTokens: first.outputTokens,
        totalTokens: 13 + numberAt(first, 'outputTokens'),
      });
      const second = await ask([userText('another question here')]);
      assert.equal(second.cacheReadInputTokens, 8);
      assert.equal(second.cacheWriteInputTokens, 0);
      assert.equal(second.inputTokens, 6);
      assert.equal(second.totalTokens, 14 + numberAt(second, 'outputTokens'));

      const longer = await ask([
        {
          role: 'user',
          content: [{ text: 'a long document of seven words here' }, { cachePoint: { type: 'default' } }],
        },
        { role: 'assistant', content: [{ text: 'ok' }] },
        userText('question'),
      ]);
      assert.equal(longer.cacheReadInputTokens, 8);
      assert.equal(longer.cacheWriteInputTokens, 10);
      assert.equal(longer.inputTokens, 8);
      const plain = await jsonOf(await converse(CLAUDE_4, { messages: [userText('no cache')] }));
      assert.deepEqual(Object.keys(objectAt(plain, 'usage')), ['inputTokens', 'outputTokens', 'totalTokens']);
    });

    it('refuses cache points on a model without prompt caching', async () => {
      const error = await errorOf(
        await converse(LLAMA, {
          messages: [{ role: 'user', content: [{ text: 'a' }, { cachePoint: { type: 'default' } }] }],
        }),
      );
      assert.equal(error.status, 400);
      assert.match(stringAt(error.body, 'message'), /unsupported model or your request did not allow prompt caching/);
    });
  });

  describe('ConverseStream', () => {
    it('frames events exactly as AWS does: byte-identical frame, same headers and payload key order', async () => {
      const recorded = RECORDED_FRAMES.map((hex) => toEvent(codec.decode(Buffer.from(hex, 'hex'))));
      const own = encodeEventFrame(codec, 'messageStart', JSON.stringify(recorded[0].payload));
      assert.equal(Buffer.from(own).toString('hex'), RECORDED_FRAMES[0]);

      const events = await decodeStream(
        await converseStream(CLAUDE_35, { messages: [userText('Weather?')], toolConfig: { tools: [WEATHER_TOOL] } }),
      );
      for (const real of recorded) {
        const ours = events.find((event) => event.type === real.type);
        assert.ok(ours, real.type);
        assert.deepEqual(Object.keys(ours.headers), Object.keys(real.headers));
        assert.deepEqual(without(ours.headers, ':event-type'), without(real.headers, ':event-type'));
        assert.deepEqual(Object.keys(ours.payload), Object.keys(real.payload));
        for (const key of ['start', 'usage'] as const) {
          if (!real.payload[key]) continue;
          assert.deepEqual(Object.keys(objectAt(ours.payload, key)), Object.keys(objectAt(real.payload, key)));
        }
      }
    });

    it('streams text deltas with padding, then messageStop and metadata', async () => {
      const response = await converseStream(NOVA, { messages: [userText('Tell me a story')] });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/vnd.amazon.eventstream');
      const events = await decodeStream(response);
      assert.deepEqual(
        events.map((event) => event.type),
        ['messageStart', ...Array<string>(7).fill('contentBlockDelta'), 'contentBlockStop', 'messageStop', 'metadata'],
      );
      for (const event of events) {
        assert.deepEqual(event.headers, {
          ':event-type': event.type,
          ':content-type': 'application/json',
          ':message-type': 'event',
        });
        const padding = stringAt(event.payload, 'p');
        assert.match(padding, /^[a-zA-Z0-9]+$/);
        assert.ok('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.startsWith(padding));
      }
      assert.equal(
        events
          .flatMap((event) => (event.type === 'contentBlockDelta' ? [at(event.payload, 'delta', 'text')] : []))
          .join(''),
        `Hello from ${NOVA}: Tell me a story`,
      );
      assert.deepEqual(without(events.at(-2)!.payload, 'p'), { stopReason: 'end_turn' });
      assert.deepEqual(without(events.at(-1)!.payload, 'p'), {
        metrics: { latencyMs: 250 },
        usage: { inputTokens: 7, outputTokens: 7, totalTokens: 14 },
      });
      assert.equal(sim.stats().converseStream, 1);
    });

    it('streams a tool call: contentBlockStart, an empty first input, JSON fragments, stop tool_use', async () => {
      const events = await decodeStream(
        await converseStream(CLAUDE_35, {
          messages: [userText('SIM_TOOL get_weather {"city":"Lyon","unit":"celsius"}')],
          toolConfig: { tools: [WEATHER_TOOL] },
        }),
      );
      const start = events.find((event) => event.type === 'contentBlockStart')!;
      assert.equal(start.payload.contentBlockIndex, 0);
      assert.equal(at(start.payload, 'start', 'toolUse', 'name'), 'get_weather');
      const inputs = events.flatMap((event) =>
        event.type === 'contentBlockDelta' ? [at(event.payload, 'delta', 'toolUse', 'input')] : [],
      );
      assert.equal(inputs[0], '');
      assert.ok(inputs.length >= 4);
      assert.deepEqual(JSON.parse(inputs.join('')), { city: 'Lyon', unit: 'celsius' });
      assert.equal(events.find((event) => event.type === 'messageStop')!.payload.stopReason, 'tool_use');
    });

    it('streams reasoning text deltas, then the signature, then the answer in the next block', async () => {
      const events = await decodeStream(
        await converseStream(CLAUDE_4, {
          messages: [userText('Why is the sky blue?')],
          additionalModelRequestFields: THINKING,
        }),
      );
      const deltas = events.filter((event) => event.type === 'contentBlockDelta');
      const reasoning = deltas
        .filter((event) => event.payload.contentBlockIndex === 0)
        .map((event) => event.payload.delta);
      assert.ok(reasoning.length >= 4);
      assert.ok(reasoning.slice(0, -1).every((delta) => typeof at(delta, 'reasoningContent', 'text') === 'string'));
      assert.ok(stringAt(reasoning, -1, 'reasoningContent', 'signature').length > 100);
      const answer = deltas
        .filter((event) => event.payload.contentBlockIndex === 1)
        .map((event) => at(event.payload, 'delta', 'text'));
      assert.equal(answer.join(''), `Hello from ${CLAUDE_4}: Why is the sky blue?`);
      assert.deepEqual(
        events.filter((event) => event.type === 'contentBlockStop').map((event) => event.payload.contentBlockIndex),
        [0, 1],
      );
    });

    it('splits every frame across socket writes when asked, and the frames still decode', async () => {
      const split = new BedrockSimulator({ splitFrames: 3 });
      const splitUrl = await split.start();
      try {
        const text = JSON.stringify({ messages: [userText('one two three')] });
        const response = await signedPost(splitUrl, modelPath(NOVA, 'converse-stream'), text);
        const whole = await signedPost(baseUrl, modelPath(NOVA, 'converse-stream'), text);
        const chunks: Buffer[] = [];
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
          chunks.push(Buffer.from(chunk));
        const wholeBytes = Buffer.from(await whole.arrayBuffer());
        const frames = await decodeStream(new Response(Buffer.concat(chunks)));
        assert.ok(chunks.length > frames.length, `${chunks.length} reads for ${frames.length} frames`);
        assert.ok(
          chunks.some((chunk) => chunk.length < 12),
          'a read ends inside a prelude',
        );
        assert.deepEqual(
          frames.map((frame) => frame.type),
          (await decodeStream(new Response(wholeBytes))).map((frame) => frame.type),
        );
      } finally {
        await split.stop();
      }
    });

    it('ends with an exception frame mid-stream, and reports model errors in the stream when configured', async () => {
      sim.enqueueFault({ streamException: 'throttlingException' });
      const events = await decodeStream(await converseStream(NOVA, { messages: [userText('a b c d e')] }));
      assert.deepEqual(
        events.map((event) => event.type),
        ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'throttlingException'],
      );
      assert.deepEqual(events.at(-1)!.headers, {
        ':exception-type': 'throttlingException',
        ':content-type': 'application/json',
        ':message-type': 'exception',
      });
      assert.deepEqual(events.at(-1)!.payload, { message: 'Too many requests, please wait before trying again.' });

      sim.enqueueFault({ streamException: 'modelStreamErrorException', exceptionAfterEvents: 1 });
      const modelError = await decodeStream(await converseStream(NOVA, { messages: [userText('a b c')] }));
      assert.deepEqual(Object.keys(modelError.at(-1)!.payload), ['message', 'originalMessage', 'originalStatusCode']);

      const inStream = new BedrockSimulator({ modelErrorsInStream: true });
      const inStreamUrl = await inStream.start();
      try {
        const response = await signedPost(inStreamUrl, modelPath(CLAUDE_4, 'converse-stream'), {
          messages: [userText('hi')],
          additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 10 } },
        });
        assert.equal(response.status, 200);
        const [frame] = await decodeStream(response);
        assert.equal(frame.type, 'validationException');
        assert.match(stringAt(frame.payload, 'message'), /^The model returned the following errors: thinking/);
        const bedrockLevel = await signedPost(inStreamUrl, modelPath(CLAUDE_4, 'converse-stream'), { messages: [] });
        assert.equal(bedrockLevel.status, 400);
      } finally {
        await inStream.stop();
      }
    });

    it('drops the connection after N frames and stops writing when the client hangs up', async () => {
      sim.enqueueFault({ dropAfterEvents: 2 });
      const dropped = await converseStream(NOVA, { messages: [userText('a b c d e')] });
      await assert.rejects(decodeStream(dropped));
      assert.equal(sim.hungUp, 0);

      sim.chunkDelayMs = 30;
      try {
        const controller = new AbortController();
        const response = await converseStream(
          NOVA,
          { messages: [userText('a long story')] },
          { signal: controller.signal },
        );
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        await reader.read();
        controller.abort();
        await sim.waitForHangUp(2_000);
        assert.equal(sim.requests.at(-1)!.hungUp, true);
      } finally {
        sim.chunkDelayMs = 0;
      }
    });
  });

  describe('SigV4', () => {
    it('refuses a wrong secret, a changed body, a wrong region or service, with the canonical string', async () => {
      const wrongSecret = await errorOf(
        await converse(NOVA, HI, { credentials: { ...DEFAULT_BEDROCK_CREDENTIALS, secretAccessKey: 'wrong' } }),
      );
      assert.equal(wrongSecret.status, 403);
      assert.equal(
        wrongSecret.type,
        'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/',
      );
      assert.match(
        stringAt(wrongSecret.body, 'message'),
        /^The request signature we calculated does not match the signature you provided/,
      );
      assert.match(stringAt(wrongSecret.body, 'message'), /'POST\n\/model\/amazon\.nova-lite-v1%253A0\/converse\n\n/);

      const changed = await errorOf(
        await converse(NOVA, HI, { sentBody: JSON.stringify({ messages: [userText('bye')] }) }),
      );
      assert.equal(changed.type.split(':')[0], 'InvalidSignatureException');
      const region = await errorOf(await converse(NOVA, HI, { region: 'eu-west-1' }));
      assert.deepEqual(region.body, { message: 'Credential should be scoped to a valid region. ' });
      const service = await errorOf(await converse(NOVA, HI, { service: 'bedrock-runtime' }));
      assert.deepEqual(service.body, { message: "Credential should be scoped to correct service: 'bedrock'. " });
      const old = await errorOf(await converse(NOVA, HI, { signingDate: new Date(Date.now() - 20 * 60_000) }));
      assert.match(stringAt(old.body, 'message'), /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
      assert.equal(sim.stats().authFailures, 5);
      assert.equal(sim.stats().converse, 0);
    });

    it('refuses an unknown key, a missing header and a session token mismatch as AWS does', async () => {
      const unknown = await errorOf(
        await converse(NOVA, HI, { credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } }),
      );
      assert.equal(unknown.status, 403);
      assert.equal(
        unknown.type,
        'UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/',
      );
      assert.deepEqual(unknown.body, { message: 'The security token included in the request is invalid.' });

      const missing = await errorOf(
        await fetch(`${baseUrl}${modelPath(NOVA, 'converse')}`, { method: 'POST', body: JSON.stringify(HI) }),
      );
      assert.equal(missing.status, 403);
      assert.equal(missing.type.split(':')[0], 'AccessDeniedException');
      assert.deepEqual(missing.body, { Message: 'Authorization header is missing' });

      const withToken: BedrockCredentials = {
        accessKeyId: 'ASIATEMP0001',
        secretAccessKey: 's3cr3t',
        sessionToken: 'tok-1',
      };
      sim.addCredentials(withToken);
      try {
        assert.equal((await converse(NOVA, HI, { credentials: withToken })).status, 200);
        const noToken = await errorOf(
          await converse(NOVA, HI, { credentials: { ...withToken, sessionToken: undefined } }),
        );
        assert.equal(noToken.type.split(':')[0], 'UnrecognizedClientException');
        sim.expireCredentials(withToken.accessKeyId);
        const expired = await errorOf(await converse(NOVA, HI, { credentials: withToken }));
        assert.equal(expired.type.split(':')[0], 'ExpiredTokenException');
        assert.deepEqual(expired.body, { message: 'The security token included in the request is expired' });
      } finally {
        sim.revokeCredentials(withToken.accessKeyId);
      }
    });

    it('accepts several credential sets at once, so keys can rotate', async () => {
      const next: BedrockCredentials = { accessKeyId: 'AKIANEXTKEY000000002', secretAccessKey: 'next-secret' };
      sim.addCredentials(next);
      assert.equal((await converse(NOVA, HI)).status, 200);
      assert.equal((await converse(NOVA, HI, { credentials: next })).status, 200);
      sim.revokeCredentials(DEFAULT_BEDROCK_CREDENTIALS.accessKeyId);
      try {
        assert.equal((await converse(NOVA, HI)).status, 403);
        assert.equal((await converse(NOVA, HI, { credentials: next })).status, 200);
        assert.deepEqual(
          sim.requests.map((request) => request.accessKeyId),
          [DEFAULT_BEDROCK_CREDENTIALS.accessKeyId, next.accessKeyId, undefined, next.accessKeyId],
        );
      } finally {
        sim.addCredentials(DEFAULT_BEDROCK_CREDENTIALS);
        sim.revokeCredentials(next.accessKeyId);
      }
    });
  });

  describe('credential endpoints', () => {
    it('serves container credentials to the SDK provider, counts calls, and expires them on its clock', async () => {
      let clock = Date.parse('2025-06-01T12:00:00Z');
      const local = new BedrockSimulator({
        now: () => clock,
        containerAuthorizationToken: 'container-token',
        containerCredentialsLifetimeMs: 60_000,
      });
      const localUrl = await local.start();
      try {
        const refused = await fetch(`${localUrl}/creds`, { headers: { authorization: 'wrong' } });
        assert.equal(refused.status, 401);
        local.enqueueFault({ operations: [], status: 500 });
        const failing = await fetch(`${localUrl}/creds`, { headers: { authorization: 'container-token' } });
        assert.equal(failing.status, 500);
        const provider = fromHttp({
          awsContainerCredentialsFullUri: `${localUrl}/creds`,
          awsContainerAuthorizationToken: 'container-token',
        });
        const first = await provider();
        assert.match(first.accessKeyId, /^ASIA[A-Z0-9]{16}$/);
        assert.equal(first.expiration?.getTime(), clock + 60_000);
        assert.equal(local.stats().containerCredentialCalls, 3);
        const call = (credentials: BedrockCredentials) =>
          signedPost(localUrl, modelPath(NOVA, 'converse'), HI, { credentials, signingDate: new Date(clock) });
        assert.equal((await call(first)).status, 200);

        clock += 61_000;
        const expired = await errorOf(await call(first));
        assert.equal(expired.type.split(':')[0], 'ExpiredTokenException');
        const second = await provider();
        assert.notEqual(second.accessKeyId, first.accessKeyId);
        assert.equal((await call(second)).status, 200);
        assert.equal(local.stats().containerCredentialCalls, 4);
        assert.equal(local.credentialRequests.at(-1)!.headers.authorization, 'container-token');
      } finally {
        await local.stop();
      }
    });

    it('answers AssumeRoleWithWebIdentity in STS XML to the SDK provider and refuses an unknown token', async () => {
      const local = new BedrockSimulator({ webIdentityTokens: ['jwt-good'], stsCredentialsLifetimeMs: 900_000 });
      const localUrl = await local.start();
      try {
        const assume = (webIdentityToken: string) =>
          fromWebToken({
            roleArn: 'arn:aws:iam::123456789012:role/gateway',
            roleSessionName: 'gateway-session',
            webIdentityToken,
            clientConfig: { endpoint: localUrl, region: 'us-east-1' },
          })();
        const credentials = await assume('jwt-good');
        assert.match(credentials.accessKeyId, /^ASIA/);
        assert.ok(credentials.sessionToken);
        assert.ok(Math.abs(credentials.expiration!.getTime() - (Date.now() + 900_000)) < 5_000);
        const response = await signedPost(localUrl, modelPath(NOVA, 'converse'), HI, { credentials });
        assert.equal(response.status, 200);
        await assert.rejects(assume('jwt-bad'), (error: Error) => /InvalidIdentityToken/.test(error.name));
        assert.equal(local.stats().stsCalls, 2);
        const [request] = local.credentialRequests;
        assert.equal(request.params?.Action, 'AssumeRoleWithWebIdentity');
        assert.equal(request.params?.WebIdentityToken, 'jwt-good');
      } finally {
        await local.stop();
      }
    });
  });

  describe('faults', () => {
    it('answers queued errors with the documented statuses, x-amzn-ErrorType and body', async () => {
      const cases: Array<[Json, number, string]> = [
        [{ status: 429 }, 429, 'ThrottlingException'],
        [{ errorType: 'ModelNotReadyException' }, 429, 'ModelNotReadyException'],
        [{ status: 503 }, 503, 'ServiceUnavailableException'],
        [{ status: 400 }, 400, 'ValidationException'],
        [{ status: 403 }, 403, 'AccessDeniedException'],
        [{ status: 404 }, 404, 'ResourceNotFoundException'],
        [{ status: 408 }, 408, 'ModelTimeoutException'],
        [{ status: 500 }, 500, 'InternalServerException'],
        [{ status: 424 }, 424, 'ModelErrorException'],
        [{ errorType: 'ServiceQuotaExceededException' }, 400, 'ServiceQuotaExceededException'],
      ];
      for (const [fault, status, type] of cases) {
        sim.enqueueFault(fault);
        const error = await errorOf(await converse(NOVA, HI));
        assert.equal(error.status, status, type);
        assert.equal(error.type, `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`);
        assert.deepEqual(Object.keys(error.body), ['message']);
      }
      assert.equal((await converse(NOVA, HI)).status, 200);
    });

    it('takes faults over HTTP, per operation and count', async () => {
      const queued = await fetch(`${baseUrl}/__sim/faults`, {
        method: 'POST',
        body: JSON.stringify([{ status: 429, times: 2, operations: ['converse-stream'] }]),
      });
      assert.deepEqual(await queued.json(), { queued: 1 });
      assert.equal((await converse(NOVA, HI)).status, 200);
      assert.equal((await converseStream(NOVA, HI)).status, 429);
      assert.equal((await converseStream(NOVA, HI)).status, 429);
      assert.equal((await converseStream(NOVA, HI)).status, 200);
      const stats = await jsonOf(await fetch(`${baseUrl}/__sim/stats`));
      assert.equal(stats.errors, 2);
    });

    it('hangs, drops the connection and delays the first byte', async () => {
      sim.enqueueFault({ hang: true });
      const controller = new AbortController();
      const hung = converse(NOVA, HI, { signal: controller.signal });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(hung);
      await sim.waitForHangUp(2_000);

      sim.enqueueFault({ dropConnection: true });
      await assert.rejects(converse(NOVA, HI));

      sim.enqueueFault({ firstByteDelayMs: 150 });
      const started = Date.now();
      assert.equal((await converse(NOVA, HI)).status, 200);
      assert.ok(Date.now() - started >= 140);
    });
  });

  describe('InvokeModel embeddings', () => {
    const invoke = (modelId: string, payload: unknown) => signedPost(baseUrl, modelPath(modelId, 'invoke'), payload);

    it('answers Titan Text Embeddings V2 with the requested dimensions and normalisation', async () => {
      const response = await invoke('amazon.titan-embed-text-v2:0', {
        inputText: 'hello embedding world',
        dimensions: 256,
        normalize: true,
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('x-amzn-bedrock-input-token-count'), '3');
      const result = await jsonOf(response);
      assert.deepEqual(Object.keys(result), ['embedding', 'inputTextTokenCount', 'embeddingsByType']);
      const embedding = numbersAt(result, 'embedding');
      assert.equal(embedding.length, 256);
      assert.equal(result.inputTextTokenCount, 3);
      assert.ok(Math.abs(Math.hypot(...embedding) - 1) < 1e-3);
      assert.deepEqual(at(result, 'embeddingsByType', 'float'), embedding);
      const again = await jsonOf(
        await invoke('amazon.titan-embed-text-v2:0', { inputText: 'hello embedding world', dimensions: 256 }),
      );
      assert.deepEqual(again.embedding, result.embedding);
      const raw = await jsonOf(await invoke('amazon.titan-embed-text-v2:0', { inputText: 'x', normalize: false }));
      const unnormalised = numbersAt(raw, 'embedding');
      assert.equal(unnormalised.length, 1024);
      assert.ok(Math.hypot(...unnormalised) > 1.5);

      const bad = await errorOf(await invoke('amazon.titan-embed-text-v2:0', { inputText: 'x', dimensions: 100 }));
      assert.equal(bad.status, 400);
      assert.equal(
        bad.body.message,
        'Malformed input request: #/dimensions: 100 is not a valid enum value, please reformat your input and try again.',
      );
      const missing = await errorOf(await invoke('amazon.titan-embed-text-v2:0', { text: 'x' }));
      assert.match(stringAt(missing.body, 'message'), /extraneous key \[text\] is not permitted/);
    });

    it('answers Cohere Embed v3 with one 1024-float vector per text, and by type when asked', async () => {
      const result = await jsonOf(
        await invoke('cohere.embed-english-v3', { texts: ['first text', 'second'], input_type: 'search_document' }),
      );
      assert.deepEqual(Object.keys(result), ['embeddings', 'id', 'response_type', 'texts']);
      assert.equal(result.response_type, 'embeddings_floats');
      assert.deepEqual(result.texts, ['first text', 'second']);
      assert.equal(arrayAt(result, 'embeddings').length, 2);
      assert.equal(arrayAt(result, 'embeddings', 0).length, 1024);
      const typed = await jsonOf(
        await invoke('cohere.embed-multilingual-v3', {
          texts: ['a'],
          input_type: 'search_query',
          embedding_types: ['float', 'int8'],
        }),
      );
      assert.equal(typed.response_type, 'embeddings_by_type');
      const int8 = numbersAt(typed, 'embeddings', 'int8', 0);
      assert.equal(int8.length, 1024);
      assert.ok(int8.every((value) => Number.isInteger(value) && value >= -127 && value <= 127));
      const missing = await errorOf(await invoke('cohere.embed-english-v3', { texts: ['a'] }));
      assert.match(stringAt(missing.body, 'message'), /required key \[input_type\] not found/);
      const chat = await errorOf(await converse('cohere.embed-english-v3', HI));
      assert.match(stringAt(chat.body, 'message'), /doesn't support the model that you provided/);
    });
  });
});
