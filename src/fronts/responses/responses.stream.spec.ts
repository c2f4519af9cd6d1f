import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { schemaErrors } from '../../../test/simulators/openai-schemas.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChunkDelta,
  FinishReason,
  Usage,
} from '../../common/openai.types.js';
import { ResponsesStreamTranslator } from './responses.stream.js';
import {
  decodeReasoningState,
  replayResponse,
  type ResponseMeta,
  toChatRequest,
  toResponse,
} from './responses.translator.js';
import type { ReasoningItem, ResponseObject, ResponsesRequest, ResponseStreamEvent } from './responses.types.js';
import { validateResponsesRequest } from './responses.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');

const META: ResponseMeta = { id: 'resp_s1', createdAt: 1_796_600_100, model: 'public-model' };
const USAGE: Usage = { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19 };
const request = (fields: Partial<ResponsesRequest> = {}): ResponsesRequest =>
  validateResponsesRequest({ model: 'public-model', input: 'hi', stream: true, ...fields });

function chunk(delta: ChunkDelta, finish: FinishReason | null = null, index = 0): ChatCompletionChunk {
  return {
    id: 'chatcmpl-s',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'upstream',
    choices: [{ index, delta, logprobs: null, finish_reason: finish }],
  };
}
const usageChunk = (usage: Usage = USAGE): ChatCompletionChunk => ({
  id: 'chatcmpl-s',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'upstream',
  choices: [],
  usage,
});
const call = (index: number, fields: { id?: string; name?: string; args?: string }) => ({
  tool_calls: [
    {
      index,
      ...(fields.id !== undefined && { id: fields.id, type: 'function' as const }),
      function: {
        ...(fields.name !== undefined && { name: fields.name }),
        ...(fields.args !== undefined && { arguments: fields.args }),
      },
    },
  ],
});

interface Run {
  events: ResponseStreamEvent[];
  /** Events each push produced, in order. */
  perChunk: ResponseStreamEvent[][];
  response: ResponseObject;
}

function run(req: ResponsesRequest, chunks: ChatCompletionChunk[], meta: ResponseMeta = META): Run {
  const translator = new ResponsesStreamTranslator(req, meta);
  const events = translator.start();
  const perChunk = chunks.map((c) => translator.push(c));
  events.push(...perChunk.flat(), ...translator.finish());
  return { events, perChunk, response: translator.response };
}

/**
 * The stream's structure as OpenAI sends it: numbered from 0, created and in_progress first, one terminal event
 * last, items added in output order and closed before the next opens, parts and deltas only inside their item.
 */
function assertWellFormed(events: ResponseStreamEvent[]): void {
  events.forEach((event, index) => {
    assert.equal(event.sequence_number, index);
    assert.equal(schemaErrors('ResponseStreamEvent', event), '', JSON.stringify(event));
  });
  assert.equal(events[0]?.type, 'response.created');
  assert.equal(events[1]?.type, 'response.in_progress');
  assert.match(events.at(-1)?.type ?? '', /^response\.(completed|incomplete|failed)$/);
  let added = 0;
  let open: number | undefined;
  let openPart: number | undefined;
  for (const event of events.slice(2, -1)) {
    if (event.type === 'response.output_item.added') {
      assert.equal(open, undefined, `item ${event.output_index} opened inside item ${open}`);
      assert.equal(event.output_index, added++);
      open = event.output_index;
      continue;
    }
    assert.ok('output_index' in event);
    assert.equal(event.output_index, open, `${event.type} outside its item`);
    if (event.type === 'response.output_item.done') {
      assert.equal(openPart, undefined);
      open = undefined;
    } else if (event.type === 'response.content_part.added') {
      assert.equal(openPart, undefined);
      openPart = event.content_index;
    } else if (event.type === 'response.content_part.done') {
      assert.equal(event.content_index, openPart);
      openPart = undefined;
    } else if ('content_index' in event) {
      assert.equal(event.content_index, openPart, `${event.type} outside its part`);
    }
  }
  const last = events.at(-1);
  if (last?.type === 'response.failed') return;
  assert.equal(open, undefined, 'an item was left open');
}

const sse = (events: ResponseStreamEvent[]): string =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');

const PARSE_RESULTS = new Set(['parsed', 'parsed_arguments', 'output_parsed', 'output_text']);

/** The SDK's own additions (parse results, `output_text`) left out, to compare with what the gateway sent. */
function withoutSdkFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSdkFields);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([key]) => !PARSE_RESULTS.has(key));
  return Object.fromEntries(entries.map(([key, entry]) => [key, withoutSdkFields(entry)]));
}

/** What `client.responses.stream()` of the `openai` SDK builds from the stream. */
async function sdkFinalResponse(events: ResponseStreamEvent[]): Promise<unknown> {
  const body = sse(events);
  const client = new OpenAI({
    apiKey: 'gw-key',
    baseURL: 'http://gateway.test/v1',
    maxRetries: 0,
    fetch: () => Promise.resolve(new Response(body, { headers: { 'content-type': 'text/event-stream' } })),
  });
  const stream = client.responses.stream({ model: 'public-model', input: 'hi' });
  return withoutSdkFields(await stream.finalResponse());
}

const types = (events: ResponseStreamEvent[]) => events.map((event) => event.type);

describe('ResponsesStreamTranslator', () => {
  it('streams the transcript Codex CLI 0.171 accepted, byte for byte (reasoning, text, a signed tool call)', async () => {
    const codex = validateResponsesRequest(JSON.parse(fixtureText('codex-turn1.request.json')));
    const chunks = JSON.parse(fixtureText('codex-turn1.chunks.json')) as ChatCompletionChunk[];
    const result = run(codex, chunks, { id: 'resp_turn1', createdAt: 1_796_600_001, model: 'public-model' });
    assertWellFormed(result.events);
    assert.equal(sse(result.events), fixtureText('codex-turn1.sse'));
    assert.deepEqual(await sdkFinalResponse(result.events), withoutSdkFields(result.response));
  });

  it('nests interleaved deltas (reasoning, text, calls) into items, each closed before the next opens', async () => {
    const req = request({ reasoning: { summary: 'auto' }, tools: [{ type: 'function', name: 'read' }] });
    const result = run(req, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Think', thinking_blocks: [{ type: 'thinking', thinking: 'Think' }] }),
      chunk({ reasoning_content: 'ing.', thinking_blocks: [{ type: 'thinking', thinking: 'ing.' }] }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'c2ln' }] }),
      chunk({ content: 'Let me ' }),
      chunk({ content: 'read.', ...call(0, { id: 'call_1', name: 'read', args: '' }) }),
      chunk(call(0, { args: '{"path":' })),
      chunk(call(0, { args: '"a"}' })),
      chunk({}, 'tool_calls'),
      usageChunk(),
    ]);
    assertWellFormed(result.events);
    assert.deepEqual(types(result.events), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const [reasoning, message, readCall] = result.response.output;
    assert.deepEqual(decodeReasoningState((reasoning as ReasoningItem).encrypted_content), {
      b: [{ type: 'thinking', thinking: 'Thinking.', signature: 'c2ln' }],
    });
    assert.deepEqual(message.type === 'message' && message.content, [
      { type: 'output_text', text: 'Let me read.', annotations: [], logprobs: [] },
    ]);
    assert.deepEqual(readCall, {
      type: 'function_call',
      id: 'fc_s1_2',
      call_id: 'call_1',
      name: 'read',
      arguments: '{"path":"a"}',
      status: 'completed',
    });
    const added = result.events[16];
    assert.ok(added.type === 'response.output_item.added');
    assert.deepEqual(added.item, { ...readCall, arguments: '', status: 'in_progress' });
    assert.deepEqual(result.response.usage, {
      input_tokens: 12,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 19,
    });
    assert.equal(schemaErrors('Response', result.response), '');
    assert.deepEqual(await sdkFinalResponse(result.events), withoutSdkFields(result.response));
  });

  it('ends with the same Response as the non-streamed answer, and replays to the same item events', () => {
    const req = request({ reasoning: { summary: 'auto' }, include: ['reasoning.encrypted_content'], store: false });
    const blocks = [{ type: 'thinking' as const, thinking: 'Hmm.', signature: 'c2ln' }];
    const streamed = run(req, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Hmm.', thinking_blocks: [{ type: 'thinking', thinking: 'Hmm.' }] }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'c2ln' }] }),
      chunk({ content: 'Yes.' }),
      chunk({}, 'stop'),
      usageChunk(),
    ]);
    const answer: ChatCompletion = {
      id: 'chatcmpl-s',
      object: 'chat.completion',
      created: 1,
      model: 'upstream',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Yes.', reasoning_content: 'Hmm.', thinking_blocks: blocks },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: USAGE,
    };
    assert.deepEqual(streamed.response, toResponse(answer, req, META));
    const replayed = replayResponse(streamed.response);
    const itemEvents = (events: ResponseStreamEvent[]) => types(events).filter((type) => !type.endsWith('.delta'));
    assert.deepEqual(itemEvents(replayed), itemEvents(streamed.events));
  });

  it('gives the same Response however the upstream splits its deltas', () => {
    const text = 'Split me into pieces, please.';
    const whole = run(request(), [chunk({ content: text }), chunk({}, 'stop'), usageChunk()]);
    const pieces = run(request(), [...[...text].map((c) => chunk({ content: c })), chunk({}, 'stop'), usageChunk()]);
    assert.deepEqual(pieces.response, whole.response);
    assertWellFormed(pieces.events);
    assert.equal(pieces.events.filter((event) => event.type === 'response.output_text.delta').length, text.length);
  });

  it('opens a new reasoning item for thinking after a tool call (interleaved thinking), in order for the next turn', () => {
    const req = request({ reasoning: { summary: 'auto' }, tools: [{ type: 'function', name: 'f' }] });
    const result = run(req, [
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: 'one', signature: 's1' }] }),
      chunk(call(0, { id: 'call_1', name: 'f', args: '{}' })),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: 'two', signature: 's2' }] }),
      chunk(call(1, { id: 'call_2', name: 'f', args: '{}' })),
      chunk({}, 'tool_calls'),
    ]);
    assertWellFormed(result.events);
    assert.deepEqual(
      result.response.output.map((item) => item.type),
      ['reasoning', 'function_call', 'reasoning', 'function_call'],
    );
    const next = toChatRequest(request({ input: 'go on' }), {
      model: 'm',
      builtinTools: 'drop',
      history: result.response.output,
    }).chat;
    assert.deepEqual(next.messages[0].thinking_blocks, [
      { type: 'thinking', thinking: 'one', signature: 's1' },
      { type: 'thinking', thinking: 'two', signature: 's2' },
    ]);
    assert.equal(next.messages[0].reasoning_content, 'onetwo');
    assert.equal(next.messages[0].tool_calls?.length, 2);
  });

  it('queues a call (or text) that interleaves with the live call until its arguments are complete', () => {
    const req = request({
      tools: [
        { type: 'function', name: 'a' },
        { type: 'function', name: 'b' },
      ],
    });
    const result = run(req, [
      chunk(call(0, { id: 'call_a', name: 'a', args: '{"x":' })),
      chunk(call(1, { id: 'call_b', name: 'b', args: '{"y":' })),
      chunk({ content: 'Both.' }),
      chunk(call(0, { args: '1}' })),
      chunk(call(1, { args: '2}' })),
      chunk({}, 'tool_calls'),
    ]);
    assertWellFormed(result.events);
    assert.deepEqual(types(result.perChunk[1]), []);
    assert.deepEqual(types(result.perChunk[2]), []);
    assert.deepEqual(types(result.perChunk[3]), [
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
    ]);
    const argumentsOf = (outputIndex: number) =>
      result.events
        .flatMap((event) =>
          event.type === 'response.function_call_arguments.delta' && event.output_index === outputIndex
            ? [event.delta]
            : [],
        )
        .join('');
    assert.equal(argumentsOf(0), '{"x":1}');
    assert.equal(argumentsOf(1), '{"y":2}');
    assert.deepEqual(
      result.response.output.map((item) => (item.type === 'function_call' ? item.arguments : item.type)),
      ['{"x":1}', '{"y":2}', 'message'],
    );
  });

  it('streams sequential calls live: a call opens as soon as the previous arguments are complete', () => {
    const req = request({ tools: [{ type: 'function', name: 'a' }] });
    const result = run(req, [
      chunk(call(0, { id: 'call_1', name: 'a', args: '{"n":1}' })),
      chunk(call(1, { id: 'call_2', name: 'a', args: '' })),
      chunk(call(1, { args: '{"n":2}' })),
      chunk({}, 'tool_calls'),
    ]);
    assertWellFormed(result.events);
    assert.deepEqual(types(result.perChunk[1]), [
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
    ]);
    assert.deepEqual(types(result.perChunk[2]), ['response.function_call_arguments.delta']);
  });

  it('streams custom tool calls with their input unwrapped, and namespaced calls with their namespace', () => {
    const req = request({
      tools: [
        { type: 'custom', name: 'apply_patch' },
        { type: 'namespace', name: 'crm', description: 'CRM.', tools: [{ type: 'function', name: 'lookup' }] },
      ],
    });
    const result = run(req, [
      chunk(call(0, { id: 'call_p', name: 'apply_patch', args: '{"input":"*** Begin' })),
      chunk(call(0, { args: ' Patch"}' })),
      chunk(call(1, { id: 'call_l', name: 'crm__lookup', args: '{}' })),
      chunk({}, 'tool_calls'),
    ]);
    assertWellFormed(result.events);
    assert.deepEqual(result.response.output, [
      { type: 'custom_tool_call', id: 'ctc_s1_0', call_id: 'call_p', name: 'apply_patch', input: '*** Begin Patch' },
      {
        type: 'function_call',
        id: 'fc_s1_1',
        call_id: 'call_l',
        name: 'lookup',
        namespace: 'crm',
        arguments: '{}',
        status: 'completed',
      },
    ]);
    assert.ok(
      result.events.some(
        (event) => event.type === 'response.custom_tool_call_input.delta' && event.delta === '*** Begin Patch',
      ),
    );
  });

  it('puts text and a refusal in one message as two parts', () => {
    const result = run(request(), [
      chunk({ content: 'Partly.' }),
      chunk({ refusal: 'Not the rest.' }),
      chunk({}, 'stop'),
    ]);
    assertWellFormed(result.events);
    assert.ok(types(result.events).includes('response.refusal.done'));
    assert.deepEqual(result.response.output[0].type === 'message' && result.response.output[0].content, [
      { type: 'output_text', text: 'Partly.', annotations: [], logprobs: [] },
      { type: 'refusal', refusal: 'Not the rest.' },
    ]);
  });

  it('ends a cut-off answer with response.incomplete, the last item incomplete', () => {
    const result = run(request({ max_output_tokens: 16 }), [
      chunk({ content: 'Half a' }),
      chunk({}, 'length'),
      usageChunk(),
    ]);
    assertWellFormed(result.events);
    const last = result.events.at(-1);
    assert.ok(last?.type === 'response.incomplete');
    assert.deepEqual(last.response.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(last.response.output[0].status, 'incomplete');
    const done = result.events.find((event) => event.type === 'response.output_item.done');
    assert.ok(done?.type === 'response.output_item.done');
    assert.equal(done.item.status, 'incomplete');
    const filtered = run(request(), [chunk({ content: 'x' }), chunk({}, 'content_filter')]);
    assert.deepEqual(filtered.response.incomplete_details, { reason: 'content_filter' });
  });

  it('fails mid-stream with response.failed, closing nothing half-done as a success', () => {
    const translator = new ResponsesStreamTranslator(request(), META);
    const events = [...translator.start(), ...translator.push(chunk({ content: 'Half' }))];
    events.push(
      ...translator.fail({ code: 'upstream_timeout', message: 'The upstream provider did not answer in time.' }),
    );
    assertWellFormed(events);
    assert.ok(!types(events).includes('response.output_item.done'));
    assert.ok(!types(events).includes('response.output_text.done'));
    const last = events.at(-1);
    assert.ok(last?.type === 'response.failed');
    assert.deepEqual(last.response.error, {
      code: 'server_error',
      message: 'The upstream provider did not answer in time.',
    });
    assert.equal(last.response.status, 'failed');
    assert.equal(last.response.output[0].status, 'incomplete');
    assert.equal(translator.response, last.response);
    assert.deepEqual(translator.push(chunk({ content: 'late' })), []);
    assert.deepEqual(translator.finish(), []);
    const thinking = new ResponsesStreamTranslator(request({ reasoning: { summary: 'auto' } }), META);
    const thinkingEvents = [
      ...thinking.push(chunk({ reasoning_content: 'Hmm' })),
      ...thinking.fail({ code: 'x', message: 'm' }),
    ];
    assertWellFormed(thinkingEvents);
    assert.ok(!types(thinkingEvents).includes('response.reasoning_summary_text.done'));
    assert.equal(thinking.response.output[0].status, 'incomplete');
    const limited = new ResponsesStreamTranslator(request(), META);
    const limitedEvents = limited.fail({ code: 'rate_limit_exceeded', message: 'Slow down.' });
    assertWellFormed(limitedEvents);
    assert.deepEqual(limited.response.error, { code: 'rate_limit_exceeded', message: 'Slow down.' });
  });

  it('answers an empty stream with an empty message', () => {
    const result = run(request(), [chunk({ role: 'assistant', content: '' }), chunk({}, 'stop')]);
    assertWellFormed(result.events);
    assert.deepEqual(result.response.output, [
      {
        id: 'msg_s1_0',
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: '', annotations: [], logprobs: [] }],
      },
    ]);
  });

  it('folds thinking fragments and redacted blocks exactly, hiding the text when no summary is asked for', () => {
    const result = run(request({ reasoning: { effort: 'high' } }), [
      chunk({ reasoning_content: 'a', thinking_blocks: [{ type: 'thinking', thinking: 'a' }] }),
      chunk({ reasoning_content: 'b', thinking_blocks: [{ type: 'thinking', thinking: 'b' }] }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'sig+/=' }] }),
      chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: 'opaque==' }] }),
      chunk({ content: 'Done.' }),
      chunk({}, 'stop'),
    ]);
    assertWellFormed(result.events);
    assert.ok(!types(result.events).some((type) => type.startsWith('response.reasoning_summary')));
    const reasoning = result.response.output[0] as ReasoningItem;
    assert.deepEqual(reasoning.summary, []);
    assert.deepEqual(decodeReasoningState(reasoning.encrypted_content), {
      b: [
        { type: 'thinking', thinking: 'ab', signature: 'sig+/=' },
        { type: 'redacted_thinking', data: 'opaque==' },
      ],
      r: 'ab',
    });
  });

  it('carries thought signatures that arrive after reasoning in one trailing reasoning item', () => {
    const req = request({
      tools: [{ type: 'function', name: 'f' }],
      store: false,
      include: ['reasoning.encrypted_content'],
    });
    const result = run(req, [
      chunk({ content: 'On it.', extra_content: { google: { thought_signature: 'm-sig' } } }),
      chunk({
        tool_calls: [
          {
            index: 0,
            id: 'call_1',
            type: 'function',
            function: { name: 'f', arguments: '{}' },
            extra_content: { google: { thought_signature: 'c-sig' } },
          },
        ],
      }),
      chunk({}, 'tool_calls'),
    ]);
    assertWellFormed(result.events);
    const trailing = result.response.output.at(-1) as ReasoningItem;
    assert.equal(trailing.type, 'reasoning');
    assert.deepEqual(trailing.summary, []);
    assert.deepEqual(decodeReasoningState(trailing.encrypted_content), {
      x: { google: { thought_signature: 'm-sig' } },
      c: { call_1: { google: { thought_signature: 'c-sig' } } },
    });
    const next = toChatRequest(request({ input: 'ok' }), {
      model: 'm',
      builtinTools: 'drop',
      history: result.response.output,
    }).chat;
    assert.deepEqual(next.messages[0], {
      role: 'assistant',
      content: 'On it.',
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'f', arguments: '{}' },
          extra_content: { google: { thought_signature: 'c-sig' } },
        },
      ],
      extra_content: { google: { thought_signature: 'm-sig' } },
    });
    const unstored = run(request({ store: false }), [
      chunk({ content: 'x', extra_content: { google: { thought_signature: 's' } } }),
    ]);
    assert.deepEqual(
      unstored.response.output.map((item) => item.type),
      ['message'],
    );
  });

  it('reads choice 0 only, and streams token log probabilities when they are included', () => {
    const withLogprobs = chunk({ content: 'Hi' });
    withLogprobs.choices[0].logprobs = {
      content: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [] }],
    };
    const result = run(request({ include: ['message.output_text.logprobs'] }), [
      withLogprobs,
      chunk({ content: 'other answer' }, null, 1),
      chunk({}, 'stop'),
    ]);
    assertWellFormed(result.events);
    const delta = result.events.find((event) => event.type === 'response.output_text.delta');
    assert.ok(delta?.type === 'response.output_text.delta');
    assert.deepEqual(delta.logprobs, [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [] }]);
    assert.deepEqual(result.response.output[0].type === 'message' && result.response.output[0].content[0], {
      type: 'output_text',
      text: 'Hi',
      annotations: [],
      logprobs: [{ token: 'Hi', logprob: -0.5, bytes: [72, 105], top_logprobs: [] }],
    });
  });

  it('starts on the first chunk when start() was not called, and numbers every event from 0', () => {
    const translator = new ResponsesStreamTranslator(request(), META);
    const first = translator.push(chunk({ content: 'x' }));
    assert.deepEqual(types(first).slice(0, 2), ['response.created', 'response.in_progress']);
    assert.deepEqual(translator.start(), []);
    const rest = translator.finish();
    assertWellFormed([...first, ...rest]);
  });
});
