import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import OpenAI from 'openai';
import { schemaErrors } from './openai-schemas.js';
import { OpenAiSimulator } from './openai-simulator.js';
import { arrayAt, at, type Json, numberAt, objectAt, stringAt } from './sim-json.js';

const API_KEY = 'sk-simulator-test';
const TOOLS = [
  { type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  { type: 'function', name: 'get_time', parameters: { type: 'object' }, strict: false },
];

interface SseEvent {
  event: string;
  data: Json;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.trim() !== '')
    .map((frame) => {
      const event = /^event: (.*)$/m.exec(frame)?.[1] ?? '';
      const data = objectAt(JSON.parse(/^data: (.*)$/m.exec(frame)?.[1] ?? 'null'));
      return { event, data };
    });
}

function assertResponseSchema(response: unknown): void {
  assert.equal(schemaErrors('Response', response), '', JSON.stringify(response));
}

function assertEventSchemas(events: SseEvent[]): void {
  for (const { event, data } of events) {
    assert.equal(event, data.type, 'event name equals the data type');
    assert.equal(schemaErrors('ResponseStreamEvent', data), '', JSON.stringify(data));
  }
  assert.deepEqual(
    events.map(({ data }) => data.sequence_number),
    events.map((_, index) => index),
  );
}

describe('OpenAiSimulator Responses API', () => {
  const sim = new OpenAiSimulator({ apiKey: API_KEY, name: 'responses' });
  let baseUrl = '';
  let client: OpenAI;

  const post = async (body: Json) => {
    const response = await fetch(`${baseUrl}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
  };
  const create = async (body: Json) => {
    const { status, text } = await post(body);
    assert.equal(status, 200, text);
    const response = objectAt(JSON.parse(text));
    assertResponseSchema(response);
    return response;
  };
  const stream = async (body: Json) => {
    const { status, type, text } = await post({ ...body, stream: true });
    assert.equal(status, 200, text);
    assert.match(type, /^text\/event-stream/);
    assert.ok(!text.includes('[DONE]'));
    const events = parseSse(text);
    assertEventSchemas(events);
    return events;
  };

  before(async () => {
    baseUrl = await sim.start();
    client = new OpenAI({ apiKey: API_KEY, baseURL: baseUrl, maxRetries: 0, timeout: 5_000 });
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  it('answers a string input with a message item and usage, valid against the Response schema', async () => {
    const response = await create({ model: 'gpt-4.1-mini', input: 'Hello there', instructions: 'Be brief.' });
    assert.match(stringAt(response, 'id'), /^resp_[0-9a-f]{48}$/);
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(response.instructions, 'Be brief.');
    assert.equal(arrayAt(response, 'output').length, 1);
    const message = objectAt(response, 'output', 0);
    assert.equal(message.type, 'message');
    assert.equal(message.role, 'assistant');
    assert.deepEqual(message.content, [
      { type: 'output_text', annotations: [], logprobs: [], text: 'Hello from gpt-4.1-mini: Hello there' },
    ]);
    assert.deepEqual(response.usage, {
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 5,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 15,
    });
  });

  it('streams the documented event order for a message, without [DONE]', async () => {
    const events = await stream({ model: 'gpt-4o', input: [{ role: 'user', content: 'Tell me a story' }] });
    const types = events.map(({ data }) => data.type);
    assert.deepEqual(types.slice(0, 4), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    assert.deepEqual(types.slice(-4), [
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const deltas = events.filter(({ data }) => data.type === 'response.output_text.delta');
    assert.equal(deltas.map(({ data }) => data.delta).join(''), 'Hello from gpt-4o: Tell me a story');
    assert.equal(at(events[0].data, 'response', 'status'), 'in_progress');
    const completed = objectAt(events.at(-1)?.data, 'response');
    assert.equal(completed.status, 'completed');
    assert.equal(at(completed, 'output', 0, 'content', 0, 'text'), 'Hello from gpt-4o: Tell me a story');
    assert.equal(at(completed, 'usage', 'output_tokens'), deltas.length);
  });

  it('streams through the official SDK to the same final response', async () => {
    const responseStream = client.responses.stream({ model: 'gpt-4o-mini', input: 'SIM_TEXT exactly this' });
    let text = '';
    for await (const event of responseStream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    const final = await responseStream.finalResponse();
    assert.equal(text, 'exactly this');
    assert.equal(final.output_text, 'exactly this');
  });

  it('calls a function tool: by default the first, with SIM_TOOL the named one with exactly those arguments', async () => {
    const byDefault = await create({ model: 'gpt-4o', input: 'Weather in Paris?', tools: TOOLS });
    const defaultCall = objectAt(byDefault, 'output', 0);
    assert.equal(defaultCall.type, 'function_call');
    assert.equal(defaultCall.name, 'get_weather');
    assert.equal(defaultCall.arguments, '{"city":"Paris"}');
    assert.match(stringAt(defaultCall, 'call_id'), /^call_/);

    const events = await stream({ model: 'gpt-4o', input: 'Now\nSIM_TOOL get_time {"zone": "UTC"}', tools: TOOLS });
    const types = events.map(({ data }) => data.type);
    assert.deepEqual(types.slice(0, 3), ['response.created', 'response.in_progress', 'response.output_item.added']);
    assert.ok(types.includes('response.function_call_arguments.delta'));
    const done = events.find(({ data }) => data.type === 'response.function_call_arguments.done')!.data;
    assert.equal(done.name, 'get_time');
    assert.equal(done.arguments, '{"zone": "UTC"}');
    const deltas = events.filter(({ data }) => data.type === 'response.function_call_arguments.delta');
    assert.equal(deltas.map(({ data }) => data.delta).join(''), '{"zone": "UTC"}');
    assert.deepEqual(types.slice(-2), ['response.output_item.done', 'response.completed']);
  });

  it('honours tool_choice none and a forced function, and answers a function_call_output', async () => {
    const none = await create({ model: 'gpt-4o', input: 'Hi', tools: TOOLS, tool_choice: 'none' });
    assert.equal(at(none, 'output', 0, 'type'), 'message');
    const forced = await create({
      model: 'gpt-4o',
      input: 'Hi',
      tools: TOOLS,
      tool_choice: { type: 'function', name: 'get_time' },
    });
    const call = objectAt(forced, 'output', 0);
    assert.equal(call.name, 'get_time');
    const answered = await create({
      model: 'gpt-4o',
      tools: TOOLS,
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'Hi' }] },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '12:00' },
      ],
    });
    assert.equal(at(answered, 'output', 0, 'content', 0, 'text'), 'Tool said: 12:00');
  });

  it('answers the built-in web_search tool with a web_search_call item, then a message', async () => {
    const response = await create({ model: 'gpt-4o', input: 'latest news', tools: [{ type: 'web_search' }] });
    assert.deepEqual(
      arrayAt(response, 'output').map((item) => at(item, 'type')),
      ['web_search_call', 'message'],
    );
    assert.equal(at(response, 'output', 0, 'action', 'query'), 'latest news');
    const events = await stream({ model: 'gpt-4o', input: 'latest news', tools: [{ type: 'web_search' }] });
    const types = events.map(({ data }) => data.type);
    for (const type of ['in_progress', 'searching', 'completed']) {
      assert.ok(types.includes(`response.web_search_call.${type}`), type);
    }
  });

  it('answers text.format json_schema with a minimal valid instance', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 2 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
        kind: { enum: ['a', 'b'] },
        age: { type: 'integer', minimum: 18 },
        nested: { $ref: '#/$defs/nested' },
      },
      required: ['name', 'tags', 'kind', 'age', 'nested'],
      additionalProperties: false,
      $defs: { nested: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } },
    };
    const response = await create({
      model: 'gpt-4o',
      input: 'Describe',
      text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
    });
    assert.deepEqual(JSON.parse(stringAt(response, 'output', 0, 'content', 0, 'text')), {
      name: 'aa',
      tags: [''],
      kind: 'a',
      age: 18,
      nested: { ok: false },
    });
    assert.equal(at(response, 'text', 'format', 'type'), 'json_schema');
  });

  it('reasons for reasoning models: summary events, reasoning_tokens, and a verifiable encrypted_content', async () => {
    const request = {
      model: 'o4-mini',
      input: 'Plan the trip',
      tools: TOOLS,
      store: false,
      include: ['reasoning.encrypted_content'],
      reasoning: { effort: 'high', summary: 'auto' },
    };
    const events = await stream(request);
    const types = events.map(({ data }) => data.type);
    assert.deepEqual(types.slice(0, 8), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
    ]);
    const final = objectAt(events.at(-1)?.data, 'response');
    const reasoning = objectAt(final, 'output', 0);
    const call = objectAt(final, 'output', 1);
    assert.equal(reasoning.type, 'reasoning');
    const sealed = stringAt(reasoning, 'encrypted_content');
    assert.match(sealed, /^gAAAAA/);
    assert.equal(at(reasoning, 'summary', 0, 'type'), 'summary_text');
    assert.equal(call.type, 'function_call');
    const reasoningTokens = numberAt(final, 'usage', 'output_tokens_details', 'reasoning_tokens');
    assert.ok(reasoningTokens > 0);
    assert.equal(at(final, 'usage', 'output_tokens'), reasoningTokens + 4);
    assert.equal(final.store, false);

    const output = { type: 'function_call_output', call_id: call.call_id, output: 'sunny' };
    const continuation = (items: Json[]) =>
      post({ ...request, input: ['Plan the trip', ...items, output].map(asItem) });
    const accepted = await continuation([reasoning, call]);
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(at(JSON.parse(accepted.text), 'output', -1, 'content', 0, 'text'), 'Tool said: sunny');

    const tampered = await continuation([{ ...reasoning, encrypted_content: `${sealed.slice(0, -6)}AAAAAA` }, call]);
    assert.equal(tampered.status, 400);
    const tamperedError = objectAt(JSON.parse(tampered.text), 'error');
    assert.equal(tamperedError.code, 'invalid_encrypted_content');
    assert.equal(tamperedError.type, 'invalid_request_error');
    assert.match(stringAt(tamperedError, 'message'), /^The encrypted content gAAA\.\.\..{4} could not be verified\.$/);
    assert.equal(schemaErrors('ErrorResponse', JSON.parse(tampered.text)), '');

    const { encrypted_content: _sealed, ...unsealed } = reasoning;
    const lost = await continuation([unsealed, call]);
    assert.equal(lost.status, 404);
    assert.match(
      stringAt(JSON.parse(lost.text), 'error', 'message'),
      /^Item with id 'rs_[0-9a-f]+' not found\. Items are not persisted/,
    );

    const withoutReasoning = await continuation([call]);
    assert.equal(withoutReasoning.status, 400);
    assert.equal(
      at(JSON.parse(withoutReasoning.text), 'error', 'message'),
      `Item '${stringAt(call, 'id')}' of type 'function_call' was provided without its required 'reasoning' item: '${stringAt(reasoning, 'id')}'.`,
    );
  });

  it('reasons for any model when reasoning is set, and not with effort none', async () => {
    const reasoning = await create({ model: 'gpt-4o', input: 'Think', reasoning: { effort: 'low' } });
    const item = objectAt(reasoning, 'output', 0);
    assert.equal(item.type, 'reasoning');
    assert.deepEqual(item.summary, []);
    assert.equal(item.encrypted_content, undefined);
    const none = await create({ model: 'o3', input: 'Think', reasoning: { effort: 'none' } });
    assert.equal(at(none, 'output', 0, 'type'), 'message');
    assert.equal(at(none, 'usage', 'output_tokens_details', 'reasoning_tokens'), 0);
  });

  it('ends with response.incomplete when max_output_tokens runs out', async () => {
    const events = await stream({ model: 'gpt-4o', input: 'one two three four five', max_output_tokens: 3 });
    const final = events.at(-1)?.data;
    assert.equal(at(final, 'type'), 'response.incomplete');
    const response = objectAt(final, 'response');
    assert.equal(response.status, 'incomplete');
    assert.deepEqual(response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(at(response, 'output', 0, 'status'), 'incomplete');
    assert.equal(at(response, 'output', 0, 'content', 0, 'text'), 'Hello from gpt-4o: ');
    assert.equal(at(response, 'usage', 'output_tokens'), 3);
  });

  it('fails on SIM_FAIL: response.failed when streaming, a 500 otherwise', async () => {
    const events = await stream({ model: 'gpt-4o', input: 'SIM_FAIL the model broke' });
    assert.deepEqual(
      events.map(({ data }) => data.type),
      ['response.created', 'response.in_progress', 'response.failed'],
    );
    assert.deepEqual(at(events.at(-1)?.data, 'response', 'error'), {
      code: 'server_error',
      message: 'the model broke',
    });
    const plain = await post({ model: 'gpt-4o', input: 'SIM_FAIL the model broke' });
    assert.equal(plain.status, 500);
    assert.equal(at(JSON.parse(plain.text), 'error', 'type'), 'server_error');
  });

  it('stores responses: previous_response_id continues, GET retrieves, DELETE removes', async () => {
    const first = await create({ model: 'gpt-4o', input: 'My name is Ada' });
    const firstId = stringAt(first, 'id');
    const second = await create({ model: 'gpt-4o', input: 'What is my name?', previous_response_id: firstId });
    assert.equal(second.previous_response_id, firstId);
    const usage = (response: Json, field: string) => numberAt(response, 'usage', field);
    assert.ok(usage(second, 'input_tokens') > usage(first, 'input_tokens') + usage(first, 'output_tokens'));
    const retrieved = await client.responses.retrieve(firstId);
    assert.equal(retrieved.id, firstId);
    assertResponseSchema(retrieved);
    const deleted = await fetch(`${baseUrl}/responses/${firstId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    assert.deepEqual(await deleted.json(), { id: firstId, object: 'response', deleted: true });
    await assert.rejects(client.responses.retrieve(firstId), (error: unknown) => error instanceof OpenAI.NotFoundError);
    const orphan = await post({ model: 'gpt-4o', input: 'again', previous_response_id: firstId });
    assert.equal(orphan.status, 400);
    assert.equal(at(JSON.parse(orphan.text), 'error', 'code'), 'previous_response_not_found');

    const unstored = await create({ model: 'gpt-4o', input: 'ephemeral', store: false });
    assert.equal((await post({ model: 'gpt-4o', input: 'x', previous_response_id: unstored.id })).status, 400);
  });

  it('reports cached input tokens for a prefix it served before', async () => {
    const history = [
      { role: 'developer', content: 'You are a careful assistant with a long system prompt.' },
      { role: 'user', content: 'First question' },
    ];
    const first = await create({ model: 'gpt-4o', input: history, prompt_cache_key: 'conversation-1' });
    assert.equal(at(first, 'usage', 'input_tokens_details', 'cached_tokens'), 0);
    const second = await create({
      model: 'gpt-4o',
      prompt_cache_key: 'conversation-1',
      input: [...history, at(first, 'output', 0), { role: 'user', content: 'Second question' }],
    });
    assert.equal(
      at(second, 'usage', 'input_tokens_details', 'cached_tokens'),
      13,
      'the developer message: 10 words + 3',
    );
    assert.equal(second.prompt_cache_key, 'conversation-1');
    assert.equal(at(sim.requests.at(-1)?.body, 'prompt_cache_key'), 'conversation-1');
  });

  it('refuses bad requests in OpenAI error shape', async () => {
    const noModel = await post({ input: 'x' });
    assert.equal(noModel.status, 400);
    assert.equal(schemaErrors('ErrorResponse', JSON.parse(noModel.text)), '');
    const badInput = await post({ model: 'gpt-4o', input: 42 });
    assert.equal(badInput.status, 400);
    assert.equal(at(JSON.parse(badInput.text), 'error', 'param'), 'input');
  });

  it('takes faults on the responses path: a mid-stream error event, a drop', async () => {
    sim.enqueueFault({ midStreamError: true, paths: ['/responses'] });
    const broken = await post({ model: 'gpt-4o', input: 'one two three', stream: true });
    const events = parseSse(broken.text);
    assert.equal(events.length, 3);
    assert.equal(events[2].event, 'error');
    assert.equal(schemaErrors('ResponseStreamEvent', events[2].data), '');
    sim.enqueueFault({ status: 429, paths: ['/responses'] });
    assert.equal((await post({ model: 'gpt-4o', input: 'x' })).status, 429);
  });
});

function asItem(item: Json | string): Json {
  return typeof item === 'string' ? { role: 'user', content: item } : item;
}
