import assert from 'node:assert/strict';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { JWT } from 'google-auth-library';
import {
  GeminiSimulator,
  generateServiceAccountKey,
  type GoogleErrorBody,
  type ServiceAccountKeyFile,
} from './gemini-simulator.js';
import { arrayAt, asArray, at, type Json, jsonOf, numberAt, numbersAt, objectAt, stringAt } from './sim-json.js';

const API_KEY = 'gemini-test-key';
const PROJECT = 'sim-project';
const LOCATION = 'us-central1';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SUITE = { timeout: 20_000 };

interface Part {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { name: string; args: Json; id?: string };
}

function userText(text: string): Json {
  return { role: 'user', parts: [{ text }] };
}

/** Reads a response body as text, keeping what arrived before the connection failed. */
async function readUntilEnd(response: Response): Promise<{ text: string; failed: boolean }> {
  // A fetch body is a byte stream; undici declares it as ReadableStream<any>.
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, failed: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, failed: true };
  }
}

/** The JSON of each `data:` event of a Gemini SSE body, whose events end with a blank CRLF line. */
function sseEvents(text: string): Json[] {
  assert.ok(text === '' || text.endsWith('\r\n\r\n'), 'every event ends with \\r\\n\\r\\n');
  return text
    .split('\r\n\r\n')
    .filter((event) => event !== '')
    .map((event) => {
      assert.ok(event.startsWith('data: '), `event ${event} starts with data:`);
      return objectAt(JSON.parse(event.slice('data: '.length)));
    });
}

/** The parts of a candidate, as the spec reads them; the assertions pin their values. */
function parts(response: unknown, candidate = 0): Part[] {
  return asArray(at(objectAt(response, 'candidates', candidate), 'content', 'parts')) as Part[];
}

function base64Url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An RS256 JWT bearer assertion for a key file, claims overridable. */
function assertion(key: ServiceAccountKeyFile, claims: Json = {}, privateKey = key.private_key): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64Url({ alg: 'RS256', typ: 'JWT', kid: key.private_key_id });
  const payload = base64Url({
    iss: key.client_email,
    scope: CLOUD_PLATFORM,
    aud: key.token_uri,
    iat: now,
    exp: now + 3600,
    ...claims,
  });
  const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(privateKey).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

describe('GeminiSimulator: Gemini API (AI Studio)', SUITE, () => {
  const sim = new GeminiSimulator({ apiKey: API_KEY, name: 'primary' });
  let base = '';

  const call = (model: string, method: string, body: unknown, init: { query?: string; headers?: Json } = {}) =>
    fetch(`${base}/v1beta/models/${model}:${method}${init.query ?? ''}`, {
      method: 'POST',
      headers: { 'x-goog-api-key': API_KEY, 'content-type': 'application/json', ...init.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const generate = async (model: string, body: unknown) => {
    const response = await call(model, 'generateContent', body);
    return { status: response.status, body: await jsonOf(response) };
  };
  const expectError = async (model: string, body: unknown, status: number, message: string | RegExp) => {
    const result = await generate(model, body);
    assert.equal(result.status, status, JSON.stringify(result.body));
    const error = objectAt(result.body, 'error');
    assert.equal(error.code, status);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(stringAt(error, 'message'), message);
    return error;
  };
  const stream = async (model: string, body: unknown) => {
    const response = await call(model, 'streamGenerateContent', body, { query: '?alt=sse' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    return sseEvents((await readUntilEnd(response)).text);
  };

  before(async () => {
    base = await sim.start();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  it('answers generateContent with the echo, usage and the fields the API sends', async () => {
    const { status, body } = await generate('gemini-2.5-flash-lite', { contents: [userText('Hi there')] });
    assert.equal(status, 200);
    assert.equal(arrayAt(body, 'candidates').length, 1);
    assert.deepEqual(at(body, 'candidates', 0), {
      content: { parts: [{ text: 'Hello from gemini-2.5-flash-lite: Hi there' }], role: 'model' },
      finishReason: 'STOP',
      index: 0,
    });
    assert.deepEqual(body.usageMetadata, {
      promptTokenCount: 5,
      candidatesTokenCount: 5,
      totalTokenCount: 10,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }],
      serviceTier: 'standard',
    });
    assert.equal(body.modelVersion, 'gemini-2.5-flash-lite');
    assert.match(stringAt(body, 'responseId'), /^[A-Za-z0-9_-]{23}$/);
    const [recorded] = sim.requests;
    assert.equal(recorded.path, '/v1beta/models/gemini-2.5-flash-lite:generateContent');
    assert.equal(recorded.api, 'gemini');
    assert.equal(recorded.operation, 'generateContent');
    assert.equal(recorded.model, 'gemini-2.5-flash-lite');
    assert.equal(recorded.headers['x-goog-api-key'], API_KEY);
    assert.deepEqual(recorded.body, { contents: [userText('Hi there')] });
    assert.equal(sim.stats().generateContent, 1);
  });

  it('accepts the key in ?key= and answers a missing or wrong key as Google does', async () => {
    const byQuery = await fetch(`${base}/v1beta/models/gemini-2.5-flash-lite:generateContent?key=${API_KEY}`, {
      method: 'POST',
      body: JSON.stringify({ contents: [userText('hi')] }),
    });
    assert.equal(byQuery.status, 200);

    const missing = await fetch(`${base}/v1beta/models/gemini-2.5-flash-lite:generateContent`, {
      method: 'POST',
      body: JSON.stringify({ contents: [userText('hi')] }),
    });
    assert.equal(missing.status, 403);
    assert.deepEqual(await missing.json(), {
      error: {
        code: 403,
        message:
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        status: 'PERMISSION_DENIED',
      },
    });

    const wrong = await call(
      'gemini-2.5-flash-lite',
      'generateContent',
      { contents: [userText('hi')] },
      {
        headers: { 'x-goog-api-key': 'AIzaWrong' },
      },
    );
    assert.equal(wrong.status, 400);
    const body = (await wrong.json()) as GoogleErrorBody;
    assert.equal(body.error.message, 'API key not valid. Please pass a valid API key.');
    assert.equal(body.error.status, 'INVALID_ARGUMENT');
    assert.deepEqual(body.error.details?.[0], {
      '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
      reason: 'API_KEY_INVALID',
      domain: 'googleapis.com',
      metadata: { service: 'generativelanguage.googleapis.com' },
    });
  });

  it('reads snake_case field names as the API does (both JSON names are accepted)', async () => {
    const { status, body } = await generate('gemini-2.5-flash-lite', {
      system_instruction: { parts: [{ text: 'Be brief.' }] },
      contents: [userText('one two three four')],
      generation_config: { max_output_tokens: 3 },
    });
    assert.equal(status, 200);
    assert.deepEqual(parts(body), [{ text: 'Hello from gemini-2.5-flash-lite:' }]);
    assert.equal(at(body, 'candidates', 0, 'finishReason'), 'MAX_TOKENS');
    assert.equal(at(body, 'usageMetadata', 'promptTokenCount'), 2 + 3 + 4 + 3);
  });

  it('streams SSE chunks with cumulative usage, the finish reason on the last one', async () => {
    const events = await stream('gemini-2.5-flash-lite', { contents: [userText('Tell me a story')] });
    assert.ok(events.length >= 3);
    const text = events
      .map((event) =>
        parts(event)
          .map((part) => part.text ?? '')
          .join(''),
      )
      .join('');
    assert.equal(text, 'Hello from gemini-2.5-flash-lite: Tell me a story');
    for (const event of events.slice(0, -1)) {
      assert.equal(objectAt(event, 'candidates', 0).finishReason, undefined);
      assert.equal(event.modelVersion, 'gemini-2.5-flash-lite');
    }
    const last = events.at(-1);
    assert.equal(at(last, 'candidates', 0, 'finishReason'), 'STOP');
    assert.equal(at(last, 'usageMetadata', 'candidatesTokenCount'), 7);
    assert.equal(at(last, 'usageMetadata', 'totalTokenCount'), 7 + 7);
    assert.equal(at(events[0], 'usageMetadata', 'candidatesTokenCount'), 1);
    assert.equal(new Set(events.map((event) => event.responseId)).size, 1);
    assert.equal(sim.stats().streams, 1);
  });

  it('streams a JSON array without alt=sse', async () => {
    const response = await call('gemini-2.5-flash-lite', 'streamGenerateContent', { contents: [userText('a b')] });
    assert.equal(response.status, 200);
    assert.match(String(response.headers.get('content-type')), /^application\/json/);
    const text = await response.text();
    assert.match(text, /^\[\{/);
    assert.match(text, /\n,\r\n\{/);
    assert.equal(at(JSON.parse(text), -1, 'candidates', 0, 'finishReason'), 'STOP');
  });

  it('rejects what the real API rejects, with its messages', async () => {
    await expectError(
      'gemini-2.5-flash',
      { contents: [] },
      400,
      '* GenerateContentRequest.contents: contents is not specified\n',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] },
      400,
      'Please use a valid role: user, model.',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [{ role: 'user', parts: [] }] },
      400,
      '* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [{ role: 'user', parts: [{}] }] },
      400,
      "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one initialized field\n",
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [{ role: 'user', parts: [{ text: 'x', inlineData: { mimeType: 'image/png', data: 'AA==' } }] }] },
      400,
      "Invalid JSON payload received. Oneof field 'data' is already set. Cannot set 'inlineData'",
    );
    const unknown = await expectError(
      'gemini-2.5-flash',
      { contents: [userText('x')], generationConfig: { max_tokens: 5 } },
      400,
      `Invalid JSON payload received. Unknown name "max_tokens" at 'generation_config': Cannot find field.`,
    );
    assert.deepEqual(unknown.details, [
      {
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: 'generation_config', description: unknown.message }],
      },
    ]);
    await expectError(
      'gemini-2.5-flash',
      { messages: [] },
      400,
      'Invalid JSON payload received. Unknown name "messages": Cannot find field.',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [userText('x')], generationConfig: { temperature: 'hot' } },
      400,
      `Invalid value at 'generation_config.temperature' (TYPE_FLOAT), "hot"`,
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [userText('x')], safetySettings: [{ category: 'HARM_CATEGORY_NOPE', threshold: 'BLOCK_NONE' }] },
      400,
      `Invalid value at 'safety_settings[0].category' (type.googleapis.com/google.ai.generativelanguage.v1beta.HarmCategory), "HARM_CATEGORY_NOPE"`,
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [userText('x')], generationConfig: { presencePenalty: 0.5 } },
      400,
      'Penalty is not enabled for models/gemini-2.5-flash',
    );
    await expectError(
      'gemini-nope',
      { contents: [userText('x')] },
      404,
      'models/gemini-nope is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.',
    );
    const invalidJson = await call('gemini-2.5-flash', 'generateContent', '{"contents": [');
    assert.equal(invalidJson.status, 400);
    assert.equal(
      ((await invalidJson.json()) as GoogleErrorBody).error.message,
      'Invalid JSON payload received. Unexpected token.',
    );
    const unknownPath = await fetch(`${base}/v1beta/models/gemini-2.5-flash:chat`, {
      method: 'POST',
      headers: { 'x-goog-api-key': API_KEY },
    });
    assert.equal(unknownPath.status, 404);
    assert.match(String(unknownPath.headers.get('content-type')), /^text\/html/);
  });

  it('enforces the order of function call and function response turns', async () => {
    const modelCall = { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: {} } }] };
    const response = (count: number) => ({
      role: 'user',
      parts: Array.from({ length: count }, () => ({ functionResponse: { name: 'get_weather', response: {} } })),
    });
    await expectError(
      'gemini-2.5-flash',
      { contents: [userText('hi'), response(1)] },
      400,
      'Please ensure that function response turn comes immediately after a function call turn.',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [userText('hi'), modelCall, response(2)] },
      400,
      'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.',
    );
    await expectError(
      'gemini-2.5-flash',
      { contents: [modelCall, response(1)] },
      400,
      'Please ensure that function call turn comes immediately after a user turn or after a function response turn.',
    );
  });

  describe('function calling', () => {
    const tools = [
      {
        functionDeclarations: [
          { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
          { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } },
        ],
      },
    ];

    it('Gemini 2.5: calls the first tool with fixed arguments, no id, no signature without thinking', async () => {
      const { body } = await generate('gemini-2.5-flash-lite', { contents: [userText('Weather?')], tools });
      assert.deepEqual(parts(body), [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }]);
      assert.equal(at(body, 'candidates', 0, 'finishReason'), 'STOP');
      assert.equal(objectAt(body, 'candidates', 0).finishMessage, undefined);
    });

    it('Gemini 2.5 with thinking: the signature is on the first part', async () => {
      const { body } = await generate('gemini-2.5-flash', { contents: [userText('Weather?')], tools });
      const [part] = parts(body);
      assert.equal(part.functionCall?.name, 'get_weather');
      assert.equal(typeof part.thoughtSignature, 'string');
      assert.equal(at(body, 'usageMetadata', 'thoughtsTokenCount'), 72);
    });

    it('Gemini 3: the call has an id, the signature and the finish message the API sends', async () => {
      const { body } = await generate('gemini-3-flash-preview', { contents: [userText('Weather?')], tools });
      const [part] = parts(body);
      assert.equal(part.functionCall?.name, 'get_weather');
      assert.deepEqual(part.functionCall?.args, { city: 'Paris' });
      assert.match(part.functionCall?.id ?? '', /^[a-z0-9]{8}$/);
      assert.ok(part.thoughtSignature);
      assert.equal(at(body, 'candidates', 0, 'finishMessage'), 'Model generated function call(s).');
    });

    it('SIM_TOOL lines choose the tool and arguments; several lines make parallel calls, signed on the first only', async () => {
      const prompt = 'Do both\nSIM_TOOL get_time {"zone":"UTC"}\nSIM_TOOL get_weather {"city":"Oslo","days":2}';
      const { body } = await generate('gemini-3-flash-preview', { contents: [userText(prompt)], tools });
      const [first, second] = parts(body);
      assert.deepEqual(
        [first.functionCall?.name, first.functionCall?.args, second.functionCall?.name, second.functionCall?.args],
        ['get_time', { zone: 'UTC' }, 'get_weather', { city: 'Oslo', days: 2 }],
      );
      assert.ok(first.thoughtSignature);
      assert.equal(second.thoughtSignature, undefined);
      assert.notEqual(first.functionCall?.id, second.functionCall?.id);
    });

    it('honours NONE, ANY with allowedFunctionNames, and SIM_TEXT', async () => {
      const none = await generate('gemini-2.5-flash-lite', {
        contents: [userText('Weather?')],
        tools,
        toolConfig: { functionCallingConfig: { mode: 'NONE' } },
      });
      assert.deepEqual(parts(none.body), [{ text: 'Hello from gemini-2.5-flash-lite: Weather?' }]);
      const forced = await generate('gemini-2.5-flash-lite', {
        contents: [userText('Weather?')],
        tools,
        tool_config: { function_calling_config: { mode: 'any', allowed_function_names: ['get_time'] } },
      });
      assert.equal(parts(forced.body)[0].functionCall?.name, 'get_time');
      const text = await generate('gemini-2.5-flash-lite', { contents: [userText('SIM_TEXT Just this.')], tools });
      assert.deepEqual(parts(text.body), [{ text: 'Just this.' }]);
      await expectError(
        'gemini-2.5-flash-lite',
        {
          contents: [userText('x')],
          tools,
          toolConfig: { functionCallingConfig: { mode: 'ANY' } },
          generationConfig: { responseMimeType: 'application/json' },
        },
        400,
        "Forced function calling (ANY mode) with a response mime type: 'application/json' is unsupported",
      );
    });

    it('answers a function response with "Tool said:"', async () => {
      const { body } = await generate('gemini-2.5-flash-lite', {
        contents: [
          userText('Weather?'),
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: '15C' } } }] },
        ],
        tools,
      });
      assert.deepEqual(parts(body), [{ text: 'Tool said: {"temp":"15C"}' }]);
    });

    it('Gemini 3 validates the signatures of the current turn: missing, changed, sentinel, previous turns', async () => {
      const first = await generate('gemini-3-flash-preview', { contents: [userText('Weather?')], tools });
      const modelTurn = objectAt(first.body, 'candidates', 0, 'content');
      const modelPart = objectAt(modelTurn, 'parts', 0);
      const answer = { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: 1 } } }] };
      const replay = (turn: Json) => ({ contents: [userText('Weather?'), turn, answer], tools });

      const ok = await generate('gemini-3-flash-preview', replay(modelTurn));
      assert.equal(ok.status, 200);
      assert.match(parts(ok.body).at(-1)!.text ?? '', /^Tool said:/);

      const stripped = { role: 'model', parts: [{ functionCall: modelPart.functionCall }] };
      await expectError(
        'gemini-3-flash-preview',
        replay(stripped),
        400,
        'Function call `get_weather` in the `1.` content block is missing a `thought_signature`.',
      );
      const changed = {
        role: 'model',
        parts: [{ ...modelPart, thoughtSignature: 'AAAA' + stringAt(modelPart, 'thoughtSignature').slice(4) }],
      };
      await expectError('gemini-3-flash-preview', replay(changed), 400, 'Corrupted thought signature.');
      const moved = {
        role: 'model',
        parts: [{ ...modelPart, functionCall: { ...objectAt(modelPart, 'functionCall'), args: { city: 'Rome' } } }],
      };
      await expectError('gemini-3-flash-preview', replay(moved), 400, 'Corrupted thought signature.');
      const sentinel = {
        role: 'model',
        parts: [{ ...stripped.parts[0], thoughtSignature: 'skip_thought_signature_validator' }],
      };
      assert.equal((await generate('gemini-3-flash-preview', replay(sentinel))).status, 200);

      const earlierTurn = {
        contents: [
          userText('Weather?'),
          stripped,
          answer,
          { role: 'model', parts: [{ text: 'It is mild.' }] },
          userText('Thanks'),
        ],
        tools,
      };
      assert.equal(
        (await generate('gemini-3-flash-preview', earlierTurn)).status,
        200,
        'previous turns are not validated',
      );
      assert.equal((await generate('gemini-2.5-flash', replay(stripped))).status, 200, 'Gemini 2.5 does not validate');
    });

    it('streams a Gemini 3 function call whole, then an empty text part with the finish reason', async () => {
      const events = await stream('gemini-3-flash-preview', { contents: [userText('Weather?')], tools });
      assert.equal(events.length, 2);
      const [callPart] = parts(events[0]);
      assert.equal(callPart.functionCall?.name, 'get_weather');
      assert.ok(callPart.thoughtSignature);
      assert.deepEqual(parts(events[1]), [{ text: '' }]);
      assert.equal(at(events[1], 'candidates', 0, 'finishReason'), 'STOP');
      assert.equal(
        at(events[0], 'usageMetadata', 'thoughtsTokenCount'),
        at(events[1], 'usageMetadata', 'thoughtsTokenCount'),
      );
    });
  });

  describe('thinking', () => {
    it('Gemini 2.5 with includeThoughts: thought summary parts come before the answer', async () => {
      const { body } = await generate('gemini-2.5-flash', {
        contents: [userText('Why is the sky blue?')],
        generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } },
      });
      const [thought, answer] = parts(body);
      assert.equal(thought.thought, true);
      assert.match(thought.text ?? '', /Why is the sky blue\?/);
      assert.deepEqual(answer, { text: 'Hello from gemini-2.5-flash: Why is the sky blue?' });
      const usage = objectAt(body, 'usageMetadata');
      assert.equal(usage.thoughtsTokenCount, 72);
      assert.equal(
        usage.totalTokenCount,
        numberAt(usage, 'promptTokenCount') +
          numberAt(usage, 'candidatesTokenCount') +
          numberAt(usage, 'thoughtsTokenCount'),
      );
    });

    it('a budget caps thinking, 0 turns it off on Flash and is refused by Pro', async () => {
      const capped = await generate('gemini-2.5-flash', {
        contents: [userText('hi')],
        generationConfig: { thinkingConfig: { thinkingBudget: 10 } },
      });
      assert.equal(at(capped.body, 'usageMetadata', 'thoughtsTokenCount'), 10);
      const off = await generate('gemini-2.5-flash', {
        contents: [userText('hi')],
        generationConfig: { thinkingConfig: { thinkingBudget: 0, includeThoughts: true } },
      });
      assert.equal(objectAt(off.body, 'usageMetadata').thoughtsTokenCount, undefined);
      assert.equal(parts(off.body).length, 1);
      await expectError(
        'gemini-2.5-pro',
        { contents: [userText('hi')], generationConfig: { thinkingConfig: { thinkingBudget: 0 } } },
        400,
        'Budget 0 is invalid. This model only works in thinking mode.',
      );
    });

    it('Gemini 3: thinkingLevel sets the thinking, with budget is refused, MINIMAL is refused by 3.1 Pro', async () => {
      const low = await generate('gemini-3-flash-preview', {
        contents: [userText('hi')],
        generationConfig: { thinkingConfig: { thinkingLevel: 'low' } },
      });
      assert.equal(at(low.body, 'usageMetadata', 'thoughtsTokenCount'), 36);
      const [answer] = parts(low.body);
      assert.ok(answer.thoughtSignature, 'Gemini 3 signs the last part of a text answer');
      await expectError(
        'gemini-3-flash-preview',
        {
          contents: [userText('hi')],
          generationConfig: { thinkingConfig: { thinkingLevel: 'LOW', thinkingBudget: 100 } },
        },
        400,
        'You can only set only one of thinking budget and thinking level.',
      );
      await expectError(
        'gemini-3.1-pro-preview',
        { contents: [userText('hi')], generationConfig: { thinkingConfig: { thinkingLevel: 'MINIMAL' } } },
        400,
        'Thinking level MINIMAL is not supported for this model. Please retry with other thinking level.',
      );
    });

    it('thinking counts against maxOutputTokens: the answer can come back empty with MAX_TOKENS', async () => {
      const { body } = await generate('gemini-2.5-flash', {
        contents: [userText('hi')],
        generationConfig: { maxOutputTokens: 50 },
      });
      assert.equal(at(body, 'candidates', 0, 'finishReason'), 'MAX_TOKENS');
      assert.deepEqual(at(body, 'candidates', 0, 'content'), { role: 'model' });
      assert.equal(at(body, 'usageMetadata', 'thoughtsTokenCount'), 50);
      assert.equal(objectAt(body, 'usageMetadata').candidatesTokenCount, undefined);
    });

    it('streams thoughts first and, on Gemini 3, the text signature in a final empty part', async () => {
      const events = await stream('gemini-3-flash-preview', {
        contents: [userText('Tell me more')],
        generationConfig: { thinkingConfig: { includeThoughts: true } },
      });
      const all = events.flatMap((event) => parts(event));
      const firstAnswer = all.findIndex((part) => !part.thought);
      assert.ok(firstAnswer > 0);
      assert.ok(all.slice(0, firstAnswer).every((part) => part.thought === true));
      const last = all.at(-1)!;
      assert.equal(last.text, '');
      assert.ok(last.thoughtSignature);
      assert.ok(all.slice(0, -1).every((part) => part.thoughtSignature === undefined));
    });
  });

  describe('finish reasons and structured output', () => {
    it('stop sequences cut the answer; SIM_SAFETY and SIM_RECITATION block the candidate; SIM_BLOCK_PROMPT blocks the prompt', async () => {
      const stopped = await generate('gemini-2.5-flash-lite', {
        contents: [userText('alpha beta')],
        generationConfig: { stopSequences: ['beta'] },
      });
      assert.deepEqual(parts(stopped.body), [{ text: 'Hello from gemini-2.5-flash-lite: alpha ' }]);
      assert.equal(at(stopped.body, 'candidates', 0, 'finishReason'), 'STOP');

      const safety = await generate('gemini-2.5-flash-lite', { contents: [userText('SIM_SAFETY')] });
      const candidate = objectAt(safety.body, 'candidates', 0);
      assert.equal(candidate.finishReason, 'SAFETY');
      assert.equal(candidate.content, undefined);
      assert.deepEqual(
        arrayAt(candidate, 'safetyRatings').find((rating) => at(rating, 'blocked')),
        { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
      );
      assert.equal(arrayAt(candidate, 'safetyRatings').length, 4);

      const recitation = await generate('gemini-2.5-flash-lite', { contents: [userText('SIM_RECITATION')] });
      assert.equal(at(recitation.body, 'candidates', 0, 'finishReason'), 'RECITATION');
      assert.equal(arrayAt(recitation.body, 'candidates', 0, 'citationMetadata', 'citationSources').length, 1);

      const blocked = await generate('gemini-2.5-flash-lite', { contents: [userText('SIM_BLOCK_PROMPT')] });
      assert.deepEqual(blocked.body.promptFeedback, { blockReason: 'PROHIBITED_CONTENT' });
      assert.equal(blocked.body.candidates, undefined);
    });

    it('answers JSON valid against responseJsonSchema ($ref, enums, arrays, required properties)', async () => {
      const schema = {
        type: 'object',
        properties: {
          title: { type: 'string' },
          rating: { type: 'integer', minimum: 1, maximum: 5 },
          mood: { enum: ['happy', 'sad'] },
          tags: { type: 'array', items: { type: 'string' }, minItems: 2 },
          author: { $ref: '#/$defs/person' },
          note: { type: ['string', 'null'] },
          optional: { type: 'boolean' },
        },
        required: ['title', 'rating', 'mood', 'tags', 'author', 'note'],
        $defs: { person: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
      };
      const { body } = await generate('gemini-2.5-flash-lite', {
        contents: [userText('Review this')],
        generationConfig: { responseMimeType: 'application/json', responseJsonSchema: schema },
      });
      const value: unknown = JSON.parse(parts(body)[0].text ?? '');
      const validate = new Ajv2020({ strict: false }).compile(schema);
      assert.ok(validate(value), JSON.stringify(validate.errors));
      assert.equal(objectAt(value).optional, undefined);
      assert.equal(at(value, 'mood'), 'happy');
    });

    it('answers JSON valid against an OpenAPI responseSchema, and the first value for text/x.enum', async () => {
      const { body } = await generate('gemini-2.5-flash-lite', {
        contents: [userText('List')],
        generationConfig: {
          responseMimeType: 'application/json',
          responseSchema: {
            type: 'ARRAY',
            items: { type: 'OBJECT', properties: { n: { type: 'NUMBER' } }, required: ['n'] },
          },
        },
      });
      assert.deepEqual(JSON.parse(parts(body)[0].text ?? ''), [{ n: 0 }]);
      const enumAnswer = await generate('gemini-2.5-flash-lite', {
        contents: [userText('Pick')],
        generationConfig: {
          responseMimeType: 'text/x.enum',
          responseSchema: { type: 'STRING', enum: ['red', 'blue'] },
        },
      });
      assert.equal(parts(enumAnswer.body)[0].text, 'red');
    });

    it('returns candidateCount candidates', async () => {
      const { body } = await generate('gemini-2.5-flash-lite', {
        contents: [userText('hi')],
        generationConfig: { candidateCount: 2 },
      });
      assert.deepEqual(
        arrayAt(body, 'candidates').map((candidate) => at(candidate, 'index')),
        [0, 1],
      );
      assert.equal(at(body, 'usageMetadata', 'candidatesTokenCount'), 8);
    });

    it('counts media parts by modality in promptTokensDetails', async () => {
      const { body } = await generate('gemini-2.5-flash-lite', {
        contents: [
          { role: 'user', parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: 'AA==' } }] },
        ],
      });
      assert.deepEqual(at(body, 'usageMetadata', 'promptTokensDetails'), [
        { modality: 'TEXT', tokenCount: 6 },
        { modality: 'IMAGE', tokenCount: 258 },
      ]);
      assert.equal(at(body, 'usageMetadata', 'promptTokenCount'), 264);
    });
  });

  it('implicit caching: a request that starts with a served prefix reports it as cached', async () => {
    const history = [userText('one two three four five'), { role: 'model', parts: [{ text: 'six seven' }] }];
    const system = { parts: [{ text: 'You are a careful assistant.' }] };
    const first = await generate('gemini-2.5-flash-lite', {
      systemInstruction: system,
      contents: [...history, userText('first')],
    });
    assert.equal(objectAt(first.body, 'usageMetadata').cachedContentTokenCount, undefined);
    const second = await generate('gemini-2.5-flash-lite', {
      systemInstruction: system,
      contents: [...history, userText('second')],
    });
    const prefixTokens = 5 + 3 + (5 + 3) + (2 + 3);
    assert.equal(at(second.body, 'usageMetadata', 'cachedContentTokenCount'), prefixTokens);
    assert.deepEqual(at(second.body, 'usageMetadata', 'cacheTokensDetails'), [
      { modality: 'TEXT', tokenCount: prefixTokens },
    ]);
    const otherModel = await generate('gemini-2.5-flash', {
      systemInstruction: system,
      contents: [...history, userText('x')],
    });
    assert.equal(objectAt(otherModel.body, 'usageMetadata').cachedContentTokenCount, undefined);
  });

  describe('embeddings, token counting and models', () => {
    it('embedContent returns a 3072-dimension unit vector, truncated by outputDimensionality', async () => {
      const full = await call('gemini-embedding-001', 'embedContent', {
        content: { parts: [{ text: 'hello world' }] },
      });
      const values = numbersAt(await full.json(), 'embedding', 'values');
      assert.equal(values.length, 3072);
      assert.ok(Math.abs(Math.hypot(...values) - 1) < 1e-3);
      const small = await call('gemini-embedding-001', 'embedContent', {
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: 'hello world' }] },
        outputDimensionality: 768,
      });
      const truncated = numbersAt(await small.json(), 'embedding', 'values');
      assert.deepEqual(truncated, values.slice(0, 768));
      const wrongModel = await call('gemini-2.5-flash', 'embedContent', { content: { parts: [{ text: 'x' }] } });
      assert.equal(wrongModel.status, 404);
      assert.match(((await wrongModel.json()) as GoogleErrorBody).error.message, /not supported for embedContent/);
    });

    it('batchEmbedContents embeds each request and refuses more than 100', async () => {
      const request = (text: string) => ({ model: 'models/gemini-embedding-001', content: { parts: [{ text }] } });
      const response = await call('gemini-embedding-001', 'batchEmbedContents', {
        requests: [request('a'), request('b')],
      });
      const body = await jsonOf(response);
      assert.equal(arrayAt(body, 'embeddings').length, 2);
      assert.notDeepEqual(at(body, 'embeddings', 0, 'values'), at(body, 'embeddings', 1, 'values'));
      const tooMany = await call('gemini-embedding-001', 'batchEmbedContents', {
        requests: Array.from({ length: 101 }, () => request('x')),
      });
      assert.equal(tooMany.status, 400);
      assert.equal(
        ((await tooMany.json()) as GoogleErrorBody).error.message,
        '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n',
      );
    });

    it('countTokens counts contents or a whole generateContentRequest', async () => {
      const plain = await call('gemini-2.5-flash', 'countTokens', { contents: [userText('one two three')] });
      assert.deepEqual(await plain.json(), {
        totalTokens: 6,
        promptTokensDetails: [{ modality: 'TEXT', tokenCount: 6 }],
      });
      const full = await call('gemini-2.5-flash', 'countTokens', {
        generateContentRequest: {
          model: 'models/gemini-2.5-flash',
          systemInstruction: { parts: [{ text: 'Be brief.' }] },
          contents: [userText('one two three')],
        },
      });
      assert.equal((await jsonOf(full)).totalTokens, 6 + 5);
    });

    it('lists models with pagination and gets one', async () => {
      const page = await fetch(`${base}/v1beta/models?pageSize=2`, { headers: { 'x-goog-api-key': API_KEY } });
      const first = await jsonOf(page);
      assert.equal(arrayAt(first, 'models').length, 2);
      assert.equal(at(first, 'models', 0, 'name'), 'models/gemini-2.5-pro');
      assert.ok(arrayAt(first, 'models', 0, 'supportedGenerationMethods').includes('generateContent'));
      const rest = await fetch(`${base}/v1beta/models?pageSize=50&pageToken=${stringAt(first, 'nextPageToken')}`, {
        headers: { 'x-goog-api-key': API_KEY },
      });
      const names = arrayAt(await rest.json(), 'models').map((model) => at(model, 'name'));
      assert.ok(names.includes('models/gemini-embedding-001'));
      const one = await fetch(`${base}/v1beta/models/gemini-3-flash-preview`, {
        headers: { 'x-goog-api-key': API_KEY },
      });
      assert.equal((await jsonOf(one)).displayName, 'Gemini 3 Flash Preview');
    });
  });

  describe('faults', () => {
    const body = { contents: [userText('hi')] };

    it('answers queued faults with Google error bodies: 400, 403, 404, 429 with RetryInfo, 500, 503', async () => {
      const expected: Array<[number, string]> = [
        [400, 'INVALID_ARGUMENT'],
        [403, 'PERMISSION_DENIED'],
        [404, 'NOT_FOUND'],
        [429, 'RESOURCE_EXHAUSTED'],
        [500, 'INTERNAL'],
        [503, 'UNAVAILABLE'],
      ];
      for (const [status] of expected)
        sim.enqueueFault({ status, ...(status === 429 ? { retryDelaySeconds: 7 } : {}) });
      for (const [status, name] of expected) {
        const result = await generate('gemini-2.5-flash', body);
        assert.equal(result.status, status);
        const error = objectAt(result.body, 'error');
        assert.equal(error.status, name);
        if (status === 404) assert.match(stringAt(error, 'message'), /^models\/gemini-2.5-flash is not found/);
        if (status === 429) {
          const retry = arrayAt(error, 'details').find((detail) =>
            stringAt(detail, '@type').endsWith('google.rpc.RetryInfo'),
          );
          assert.equal(at(retry, 'retryDelay'), '7s');
        }
        if (status === 503) assert.equal(error.message, 'The model is overloaded. Please try again later.');
      }
      assert.equal((await generate('gemini-2.5-flash', body)).status, 200);
    });

    it('takes faults over HTTP, by operation and count', async () => {
      const queued = await fetch(`${base}/__sim/faults`, {
        method: 'POST',
        body: JSON.stringify([{ status: 500, operations: ['embedContent'], times: 2 }]),
      });
      assert.deepEqual(await queued.json(), { queued: 1 });
      assert.equal((await generate('gemini-2.5-flash', body)).status, 200);
      const embed = () => call('gemini-embedding-001', 'embedContent', { content: { parts: [{ text: 'x' }] } });
      assert.equal((await embed()).status, 500);
      assert.equal((await embed()).status, 500);
      assert.equal((await embed()).status, 200);
    });

    it('fails mid-stream with an error object after the first chunk', async () => {
      sim.enqueueFault({ midStreamError: { status: 503 } });
      const events = await stream('gemini-2.5-flash-lite', { contents: [userText('one two three four')] });
      assert.equal(events.length, 2);
      assert.ok(parts(events[0])[0].text);
      assert.deepEqual(events[1], {
        error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' },
      });
    });

    it('drops the connection mid-stream, or before answering a non-streaming request', async () => {
      sim.enqueueFault({ dropAfterChunks: 2 });
      const response = await call(
        'gemini-2.5-flash-lite',
        'streamGenerateContent',
        { contents: [userText('one two three four')] },
        { query: '?alt=sse' },
      );
      const { text, failed } = await readUntilEnd(response);
      assert.equal(failed, true);
      assert.equal(text.split('\r\n\r\n').filter(Boolean).length, 2);
      sim.enqueueFault({ dropAfterChunks: 0 });
      await assert.rejects(generate('gemini-2.5-flash', body));
      assert.equal(sim.hungUp, 0, 'a drop by the server is not a client hang-up');
    });

    it('hangs until the client gives up, and records the hang-up', async () => {
      sim.enqueueFault({ hang: true });
      const controller = new AbortController();
      const pending = fetch(`${base}/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        headers: { 'x-goog-api-key': API_KEY },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(pending);
      await waitFor(() => sim.hungUp === 1);
      assert.equal(sim.requests[0].hungUp, true);
    });

    it('delays the first byte', async () => {
      sim.enqueueFault({ firstByteDelayMs: 150 });
      const started = Date.now();
      assert.equal((await generate('gemini-2.5-flash', body)).status, 200);
      assert.ok(Date.now() - started >= 140);
    });

    it('stops streaming when the client hangs up', async () => {
      const slow = new GeminiSimulator({ apiKey: API_KEY, chunkDelayMs: 50 });
      const slowBase = await slow.start();
      try {
        const controller = new AbortController();
        const response = await fetch(`${slowBase}/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse`, {
          method: 'POST',
          headers: { 'x-goog-api-key': API_KEY },
          body: JSON.stringify({ contents: [userText('a b c d e f g h i j k l m n o p')] }),
          signal: controller.signal,
        });
        const reader = response.body!.getReader();
        await reader.read();
        controller.abort();
        await waitFor(() => slow.hungUp === 1);
        assert.equal(slow.stats().inFlight, 0);
      } finally {
        await slow.stop();
      }
    });
  });
});

describe('GeminiSimulator: Vertex AI and the service-account token endpoint', SUITE, () => {
  const sim = new GeminiSimulator({ name: 'vertex', vertexProject: PROJECT });
  let key: ServiceAccountKeyFile;

  const requestToken = (form: Record<string, string>) =>
    fetch(sim.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
  const accessToken = async (claims: Json = {}) => {
    const response = await requestToken({ grant_type: JWT_BEARER, assertion: assertion(key, claims) });
    assert.equal(response.status, 200);
    return stringAt(await response.json(), 'access_token');
  };
  const vertex = (token: string | undefined, model: string, method: string, body: unknown, project = PROJECT) =>
    fetch(`${sim.vertexModelsUrl(project, LOCATION)}/${model}:${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  const oauthError = async (response: Response) => {
    assert.equal(response.status, 400);
    return (await response.json()) as { error: string; error_description: string };
  };

  before(async () => {
    await sim.start();
    key = sim.createServiceAccountKey({ projectId: PROJECT });
  });
  after(() => sim.stop());
  beforeEach(() => {
    sim.reset();
    sim.tokenLifetimeSeconds = 3599;
  });

  it('generates a service account key file pointing at the simulator', () => {
    assert.equal(key.type, 'service_account');
    assert.equal(key.project_id, PROJECT);
    assert.equal(key.client_email, `gateway-test@${PROJECT}.iam.gserviceaccount.com`);
    assert.equal(key.token_uri, `${sim.baseUrl}/token`);
    assert.match(key.private_key, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(key.private_key_id, /^[0-9a-f]{40}$/);
    assert.match(key.client_id, /^\d{21}$/);
  });

  it('exchanges a signed JWT for an access token and serves generateContent with it', async () => {
    const response = await requestToken({ grant_type: JWT_BEARER, assertion: assertion(key) });
    assert.equal(response.status, 200);
    const token = await jsonOf(response);
    const accessToken = stringAt(token, 'access_token');
    assert.match(accessToken, /^ya29\.c\./);
    assert.equal(token.expires_in, 3599);
    assert.equal(token.token_type, 'Bearer');
    assert.equal(sim.tokenRequests, 1);
    assert.deepEqual(at(sim.requests[0].assertion?.claims, 'iss'), key.client_email);

    const answer = await vertex(accessToken, 'gemini-2.5-flash-lite', 'generateContent', {
      contents: [userText('Hi there')],
    });
    assert.equal(answer.status, 200);
    const body = await jsonOf(answer);
    assert.deepEqual(at(body, 'candidates', 0), {
      content: { role: 'model', parts: [{ text: 'Hello from gemini-2.5-flash-lite: Hi there' }] },
      finishReason: 'STOP',
    });
    assert.deepEqual(body.usageMetadata, {
      promptTokenCount: 5,
      candidatesTokenCount: 5,
      totalTokenCount: 10,
      trafficType: 'ON_DEMAND',
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }],
      candidatesTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }],
    });
    assert.equal(body.modelVersion, 'gemini-2.5-flash-lite');
    assert.ok(!Number.isNaN(Date.parse(stringAt(body, 'createTime'))));
    assert.equal(sim.requests[1].api, 'vertex');

    // The Gemini API takes OAuth access tokens too.
    const studio = await fetch(`${sim.baseUrl}/v1beta/models/gemini-2.5-flash-lite:generateContent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ contents: [userText('hi')] }),
    });
    assert.equal(studio.status, 200);
  });

  it('refuses a JWT signed by another key, and the other JWT problems, as Google does', async () => {
    const stranger = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const forged = await requestToken({ grant_type: JWT_BEARER, assertion: assertion(key, {}, stranger.privateKey) });
    assert.deepEqual(await oauthError(forged), { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });

    const unknownAccount = await requestToken({
      grant_type: JWT_BEARER,
      assertion: assertion(key, { iss: 'nobody@sim-project.iam.gserviceaccount.com' }),
    });
    assert.deepEqual(await oauthError(unknownAccount), {
      error: 'invalid_grant',
      error_description: 'Invalid grant: account not found',
    });
    const now = Math.floor(Date.now() / 1000);
    const tooLong = await requestToken({
      grant_type: JWT_BEARER,
      assertion: assertion(key, { iat: now, exp: now + 7200 }),
    });
    assert.match(
      (await oauthError(tooLong)).error_description,
      /^Invalid JWT: Token must be a short-lived token \(60 minutes\)/,
    );
    const expired = await requestToken({
      grant_type: JWT_BEARER,
      assertion: assertion(key, { iat: now - 4000, exp: now - 400 }),
    });
    assert.match((await oauthError(expired)).error_description, /short-lived token/);
    const wrongAudience = await requestToken({
      grant_type: JWT_BEARER,
      assertion: assertion(key, { aud: 'https://example.com' }),
    });
    assert.equal((await oauthError(wrongAudience)).error_description, 'Invalid JWT: Failed audience check.');
    const noScope = await requestToken({ grant_type: JWT_BEARER, assertion: assertion(key, { scope: '' }) });
    assert.deepEqual(await oauthError(noScope), {
      error: 'invalid_scope',
      error_description: 'Invalid OAuth scope or ID token audience provided.',
    });
    const wrongGrant = await requestToken({ grant_type: 'client_credentials' });
    assert.deepEqual(await oauthError(wrongGrant), {
      error: 'unsupported_grant_type',
      error_description: 'Invalid grant_type: client_credentials',
    });
    assert.equal(sim.tokenRequests, 7);
    assert.equal(sim.stats().tokensIssued, 0);
  });

  it('an expired token gets 401 UNAUTHENTICATED; the client refreshes and the request count shows it', async () => {
    const first = await accessToken();
    sim.expireAccessTokens();
    const refused = await vertex(first, 'gemini-2.5-flash', 'generateContent', { contents: [userText('hi')] });
    assert.equal(refused.status, 401);
    const error = ((await refused.json()) as GoogleErrorBody).error;
    assert.equal(error.status, 'UNAUTHENTICATED');
    assert.equal(
      error.message,
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
    );
    assert.equal(at(error.details, 0, 'reason'), 'ACCESS_TOKEN_EXPIRED');
    const second = await accessToken();
    assert.notEqual(second, first);
    assert.equal(
      (await vertex(second, 'gemini-2.5-flash', 'generateContent', { contents: [userText('hi')] })).status,
      200,
    );
    assert.equal(sim.tokenRequests, 2);
  });

  it('tokens expire after the configured lifetime', async () => {
    sim.tokenLifetimeSeconds = 1;
    const token = await accessToken();
    assert.equal((await vertex(token, 'gemini-2.5-flash', 'countTokens', { contents: [userText('hi')] })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal((await vertex(token, 'gemini-2.5-flash', 'countTokens', { contents: [userText('hi')] })).status, 401);
  });

  it('refuses missing credentials, API keys, unknown tokens, narrow scopes and other projects', async () => {
    const body = { contents: [userText('hi')] };
    const missing = await vertex(undefined, 'gemini-2.5-flash', 'generateContent', body);
    assert.equal(missing.status, 401);
    const missingError = ((await missing.json()) as GoogleErrorBody).error;
    assert.match(missingError.message, /^Request is missing required authentication credential\./);
    assert.equal(at(missingError.details, 0, 'reason'), 'CREDENTIALS_MISSING');
    const unknown = await vertex('ya29.not-issued', 'gemini-2.5-flash', 'generateContent', body);
    assert.equal(unknown.status, 401);
    const narrow = await accessToken({ scope: 'https://www.googleapis.com/auth/devstorage.read_only' });
    const scoped = await vertex(narrow, 'gemini-2.5-flash', 'generateContent', body);
    assert.equal(scoped.status, 403);
    assert.equal(
      ((await scoped.json()) as GoogleErrorBody).error.message,
      'Request had insufficient authentication scopes.',
    );
    const token = await accessToken();
    const otherProject = await vertex(token, 'gemini-2.5-flash', 'generateContent', body, 'someone-else');
    assert.equal(otherProject.status, 403);
    assert.equal(
      ((await otherProject.json()) as GoogleErrorBody).error.message,
      "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/someone-else/locations/us-central1/publishers/google/models/gemini-2.5-flash' (or it may not exist).",
    );
    const unknownModel = await vertex(token, 'gemini-0', 'generateContent', body);
    assert.equal(unknownModel.status, 404);
    assert.match(
      ((await unknownModel.json()) as GoogleErrorBody).error.message,
      /^Publisher Model `projects\/sim-project\/locations\/us-central1\/publishers\/google\/models\/gemini-0` was not found/,
    );
    const noRole = await vertex(token, 'gemini-2.5-flash', 'generateContent', {
      contents: [{ parts: [{ text: 'hi' }] }],
    });
    assert.equal(noRole.status, 400, 'Vertex needs the role');
  });

  it('streams SSE with usage only on the last chunk, and wraps JSON-array stream errors in an array', async () => {
    const token = await accessToken();
    const response = await fetch(
      `${sim.vertexModelsUrl(PROJECT, LOCATION)}/gemini-2.5-flash-lite:streamGenerateContent?alt=sse`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ contents: [userText('a b c')] }),
      },
    );
    const events = sseEvents(await response.text());
    assert.ok(events.length > 2);
    for (const event of events.slice(0, -1)) assert.deepEqual(event.usageMetadata, { trafficType: 'ON_DEMAND' });
    assert.equal(at(events.at(-1), 'usageMetadata', 'candidatesTokenCount'), 6);
    assert.ok(
      events.every(
        (event) => typeof event.createTime === 'string' && objectAt(event, 'candidates', 0).index === undefined,
      ),
    );

    const failed = await fetch(
      `${sim.vertexModelsUrl(PROJECT, LOCATION)}/gemini-2.5-flash-lite:streamGenerateContent`,
      {
        method: 'POST',
        body: JSON.stringify({ contents: [userText('a')] }),
      },
    );
    assert.equal(failed.status, 401);
    const wrapped = (await failed.json()) as GoogleErrorBody[];
    assert.equal(wrapped[0].error.status, 'UNAUTHENTICATED');
  });

  it('embeds through Vertex embedContent with usage, and has no batchEmbedContents', async () => {
    const token = await accessToken();
    const response = await vertex(token, 'gemini-embedding-001', 'embedContent', {
      content: { parts: [{ text: 'hello world' }] },
      outputDimensionality: 256,
    });
    const body = await jsonOf(response);
    assert.equal(arrayAt(body, 'embedding', 'values').length, 256);
    assert.deepEqual(body.usageMetadata, { promptTokenCount: 2, totalTokenCount: 2 });
    const batch = await vertex(token, 'gemini-embedding-001', 'batchEmbedContents', { requests: [] });
    assert.equal(batch.status, 404);
  });

  it('serves google-auth-library: its JWT client signs the assertion, gets a token and calls Vertex', async () => {
    const client = new JWT({ email: key.client_email, key: key.private_key, scopes: [CLOUD_PLATFORM] });
    // The library always posts to Google's token URL; point it at the simulator.
    client.transporter.interceptors.request.add({
      resolved: (config) => {
        if (config.url.href === 'https://oauth2.googleapis.com/token') config.url = new URL(sim.tokenUrl);
        return Promise.resolve(config);
      },
    });
    const { token } = await client.getAccessToken();
    assert.match(token ?? '', /^ya29\.c\./);
    const claims = sim.requests[0].assertion?.claims;
    assert.equal(at(claims, 'aud'), 'https://oauth2.googleapis.com/token');
    assert.equal(at(claims, 'scope'), CLOUD_PLATFORM);
    const answer = await client.request<Json>({
      url: `${sim.vertexModelsUrl(PROJECT, LOCATION)}/gemini-3-flash-preview:generateContent`,
      method: 'POST',
      data: { contents: [userText('Hello')] },
    });
    assert.equal(answer.status, 200);
    assert.equal(parts(answer.data)[0].text, 'Hello from gemini-3-flash-preview: Hello');
  });

  it('generateServiceAccountKey works standalone with a registered public key', async () => {
    const generated = generateServiceAccountKey({
      tokenUri: sim.tokenUrl,
      clientEmail: 'other@sim-project.iam.gserviceaccount.com',
    });
    sim.addServiceAccount({ clientEmail: generated.keyFile.client_email, publicKey: generated.publicKey });
    const response = await requestToken({ grant_type: JWT_BEARER, assertion: assertion(generated.keyFile) });
    assert.equal(response.status, 200);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
