import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import OpenAI from 'openai';
import { schemaErrors } from '../../../test/simulators/openai-schemas.js';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { AssistantMessage, ChatCompletion, ChatMessage, FinishReason, Usage } from '../../common/openai.types.js';
import {
  decodeReasoningState,
  encodeReasoningState,
  replayResponse,
  responseInputItems,
  type ResponseMeta,
  toChatRequest,
  toResponse,
} from './responses.translator.js';
import type {
  FunctionCallItem,
  ReasoningItem,
  ResponseInputItem,
  ResponseObject,
  ResponsesRequest,
  ResponseStreamEvent,
} from './responses.types.js';
import { validateResponsesRequest } from './responses.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixture = (name: string): ResponsesRequest =>
  validateResponsesRequest(JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')));

const META: ResponseMeta = { id: 'resp_test1', createdAt: 1_796_600_000, model: 'public-model' };
const request = (fields: Partial<ResponsesRequest> = {}): ResponsesRequest =>
  validateResponsesRequest({ model: 'public-model', input: 'hi', ...fields });
const chatOf = (fields: Partial<ResponsesRequest>, history?: ResponseInputItem[]) =>
  toChatRequest(request(fields), { model: 'upstream-alias', builtinTools: 'drop', history }).chat;

function invalid(run: () => unknown, param: string): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.status, 400);
    assert.equal(error.param, param);
    return error.message;
  }
  assert.fail('accepted');
}

function completion(message: Partial<AssistantMessage>, finish: FinishReason = 'stop', usage?: Usage): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'upstream-model',
    choices: [
      { index: 0, message: { role: 'assistant', content: null, ...message }, logprobs: null, finish_reason: finish },
    ],
    usage: usage ?? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
}

function assertValidResponse(response: ResponseObject): void {
  assert.equal(schemaErrors('Response', response), '', JSON.stringify(response));
}

function assertValidEvents(events: ResponseStreamEvent[]): void {
  events.forEach((event, index) => {
    assert.equal(event.sequence_number, index);
    assert.equal(schemaErrors('ResponseStreamEvent', event), '', JSON.stringify(event));
  });
}

const PARSE_RESULTS = new Set(['parsed', 'parsed_arguments', 'output_parsed']);

/** The SDK's parse results (`parsed`, `parsed_arguments`, `output_parsed`) left out, to compare with what the gateway sent. */
function withoutParsed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutParsed);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).filter(([key]) => !PARSE_RESULTS.has(key));
  return Object.fromEntries(entries.map(([key, entry]) => [key, withoutParsed(entry)]));
}

/** The `openai` SDK reading a stream of events, as `client.responses.stream()` does against a server. */
async function sdkStream(events: ResponseStreamEvent[]): Promise<{ final: unknown; seen: string[] }> {
  const body = events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
  const client = new OpenAI({
    apiKey: 'gw-key',
    baseURL: 'http://gateway.test/v1',
    maxRetries: 0,
    fetch: () => Promise.resolve(new Response(body, { headers: { 'content-type': 'text/event-stream' } })),
  });
  const stream = client.responses.stream({ model: 'public-model', input: 'hi' });
  const seen: string[] = [];
  for await (const event of stream) seen.push(event.type);
  return { final: withoutParsed(await stream.finalResponse()), seen };
}

const THINKING = [
  { type: 'thinking' as const, thinking: 'Let me think.', signature: 'EqQBCkgIARABGAIiQ+/sig==' },
  { type: 'redacted_thinking' as const, data: 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT' },
];

describe('toChatRequest', () => {
  it("translates Codex CLI's first turn: developer and user messages, flattened namespace, web_search dropped", () => {
    const codex = fixture('codex-turn1.request.json');
    const { chat, droppedTools } = toChatRequest(codex, { model: 'upstream-alias', builtinTools: 'drop' });
    assert.deepEqual(droppedTools, ['web_search']);
    assert.equal(chat.model, 'upstream-alias');
    assert.deepEqual(
      chat.messages.map((message) => message.role),
      ['developer', 'developer', 'user', 'user'],
    );
    assert.equal(chat.messages[3].content, 'run echo');
    const names = (chat.tools ?? []).map((tool) => tool.function.name);
    assert.ok(names.includes('exec_command'));
    assert.ok(names.includes('multi_agent_v1__spawn_agent'));
    assert.ok(!names.some((name) => name.includes('web_search')));
    const spawn = chat.tools?.find((tool) => tool.function.name === 'multi_agent_v1__spawn_agent');
    assert.match(spawn?.function.description ?? '', /^Tools for spawning and managing sub-agents\.\n\n/);
    assert.equal(chat.tools?.[0].function.strict, false);
    assert.equal(chat.tool_choice, 'auto');
    assert.equal(chat.parallel_tool_calls, true);
    assert.equal(chat.prompt_cache_key, codex.prompt_cache_key);
    assert.deepEqual(chat.stream_options, { include_usage: true });
    assert.equal(chat.stream, true);
    for (const key of ['store', 'include', 'client_metadata', 'reasoning', 'input']) assert.ok(!(key in chat), key);
  });

  it('refuses a built-in tool with its index and name when built-in tools are rejected', () => {
    const codex = fixture('codex-turn1.request.json');
    const index = (codex.tools ?? []).findIndex((tool) => tool.type === 'web_search');
    const message = invalid(() => toChatRequest(codex, { model: 'm', builtinTools: 'reject' }), `tools[${index}].type`);
    assert.match(message, /'web_search'/);
  });

  it("restores Codex CLI's second turn: one assistant turn with text, the call, signed thinking and thought signatures", () => {
    const { chat } = toChatRequest(fixture('codex-turn2.request.json'), { model: 'm', builtinTools: 'drop' });
    const tail = chat.messages.slice(-2);
    assert.deepEqual(tail[0], {
      role: 'assistant',
      content: 'Running it.',
      tool_calls: [
        {
          id: 'call_abc',
          type: 'function',
          function: { name: 'exec_command', arguments: '{"cmd":"echo hi-from-gw"}' },
          extra_content: { google: { thought_signature: 'ts-1' } },
        },
      ],
      reasoning_content: 'I should run echo.',
      thinking_blocks: [{ type: 'thinking', thinking: 'I should run echo.', signature: 'sig-AAA==' }],
    });
    assert.equal(tail[1].role, 'tool');
    assert.equal(tail[1].tool_call_id, 'call_abc');
    const output = tail[1].content;
    assert.ok(typeof output === 'string');
    assert.match(output, /hi-from-gw/);
  });

  it('puts instructions first, then the stored history, then the input', () => {
    const history: ResponseInputItem[] = [
      { type: 'message', role: 'user', content: 'earlier' },
      {
        type: 'message',
        id: 'msg_1',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'answer', annotations: [], logprobs: [] }],
      },
    ];
    const chat = chatOf({ instructions: 'Be terse.', input: 'now' }, history);
    assert.deepEqual(chat.messages, [
      { role: 'system', content: 'Be terse.' },
      { role: 'user', content: 'earlier' },
      { role: 'assistant', content: 'answer' },
      { role: 'user', content: 'now' },
    ]);
  });

  it('continues an assistant turn of the stored history with the input as one chat message', () => {
    const history: ResponseInputItem[] = [
      { type: 'message', role: 'user', content: 'go' },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
    ];
    const chat = chatOf({ input: [{ type: 'function_call', call_id: 'c2', name: 'f', arguments: '{}' }] }, history);
    assert.deepEqual(
      chat.messages.map((message) => [message.role, message.tool_calls?.length]),
      [
        ['user', undefined],
        ['assistant', 2],
      ],
    );
    invalid(() => chatOf({ input: 'x' }, [{ type: 'item_reference', id: 'msg_1' }]), 'previous_response_id');
    invalid(() => chatOf({ input: [{ role: 'user', content: 'x' }, { id: 'msg_1' }] }, history), 'input[1]');
  });

  it('maps content parts: text with cache breakpoints, images by URL (data URLs as they are) or file, files', () => {
    const chat = chatOf({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'long prefix', prompt_cache_breakpoint: { mode: 'explicit' } },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0K', detail: 'high' },
            { type: 'input_image', image_url: 'https://example.com/a.png' },
            { type: 'input_image', file_id: 'file-img' },
            { type: 'input_file', file_data: 'data:application/pdf;base64,JVBERi0', filename: 'a.pdf' },
            { type: 'input_file', file_id: 'file-pdf' },
          ],
        },
        { role: 'developer', content: [{ type: 'input_text', text: 'one part' }] },
      ],
    });
    assert.deepEqual(chat.messages[0].content, [
      { type: 'text', text: 'long prefix', cache_control: { type: 'ephemeral' } },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0K', detail: 'high' } },
      { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
      { type: 'file', file: { file_id: 'file-img' } },
      { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0', filename: 'a.pdf' } },
      { type: 'file', file: { file_id: 'file-pdf' } },
    ]);
    assert.deepEqual(chat.messages[1], { role: 'developer', content: 'one part' });
  });

  it('refuses what the internal form cannot carry, naming the field', () => {
    invalid(
      () =>
        chatOf({
          input: [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }] }],
        }),
      'input[0].content[0].file_url',
    );
    invalid(
      () =>
        chatOf({
          input: [
            { role: 'user', content: 'x' },
            { type: 'item_reference', id: 'msg_1' },
          ],
        }),
      'input[1]',
    );
    invalid(() => chatOf({ background: true }), 'background');
    invalid(() => chatOf({ conversation: 'conv_1' }), 'conversation');
    invalid(() => chatOf({ prompt: { id: 'pmpt_1' } }), 'prompt');
    invalid(
      () =>
        chatOf({
          tools: [
            { type: 'function', name: 'ns__f' },
            { type: 'namespace', name: 'ns', description: 'd', tools: [{ type: 'function', name: 'f' }] },
          ],
        }),
      'tools[1].tools[0]',
    );
  });

  it('merges an assistant turn (text, reasoning, calls) and keeps tool outputs as tool messages', () => {
    const chat = chatOf({
      input: [
        { role: 'user', content: 'go' },
        {
          type: 'reasoning',
          id: 'rs_x',
          summary: [
            { type: 'summary_text', text: 'First.' },
            { type: 'summary_text', text: 'Second.' },
          ],
          encrypted_content: 'gAAAAABopaque',
        },
        { role: 'assistant', content: [{ type: 'output_text', text: 'Calling.', annotations: [], logprobs: [] }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"a":1}' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } },
        { type: 'function_call', call_id: 'c2', name: 'spawn', namespace: 'agents', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: 'one' },
        {
          type: 'function_call_output',
          call_id: 'c2',
          output: [
            { type: 'input_text', text: 'see ' },
            { type: 'input_image', image_url: 'https://example.com/x.png' },
          ],
        },
        { type: 'reasoning', id: 'rs_y', summary: [{ type: 'summary_text', text: 'orphan' }] },
        { role: 'user', content: 'next' },
      ],
    });
    assert.deepEqual(chat.messages, [
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: 'Calling.',
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } },
          { id: 'c2', type: 'function', function: { name: 'agents__spawn', arguments: '{}' } },
        ],
        reasoning_content: 'First.\n\nSecond.',
      },
      { role: 'tool', tool_call_id: 'c1', content: 'one' },
      {
        role: 'tool',
        tool_call_id: 'c2',
        content: [
          { type: 'text', text: 'see ' },
          { type: 'image_url', image_url: { url: 'https://example.com/x.png' } },
        ],
      },
      { role: 'user', content: 'next' },
    ] satisfies ChatMessage[]);
  });

  it('keeps several assistant text parts and refusals as parts', () => {
    const chat = chatOf({
      input: [
        {
          type: 'message',
          role: 'assistant',
          id: 'msg_1',
          status: 'completed',
          content: [
            { type: 'output_text', text: 'a', annotations: [], logprobs: [] },
            { type: 'refusal', refusal: 'no' },
          ],
        },
      ],
    });
    assert.deepEqual(chat.messages[0].content, [
      { type: 'text', text: 'a' },
      { type: 'refusal', refusal: 'no' },
    ]);
  });

  it('translates custom tools to functions taking {input} and their calls and outputs back', () => {
    const chat = chatOf({
      tools: [
        {
          type: 'custom',
          name: 'apply_patch',
          description: 'Patch files.',
          format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' },
        },
        { type: 'custom', name: 'note' },
      ],
      tool_choice: { type: 'custom', name: 'apply_patch' },
      input: [
        { role: 'user', content: 'patch' },
        { type: 'custom_tool_call', call_id: 'c9', name: 'apply_patch', input: '*** Begin Patch\n' },
        { type: 'custom_tool_call_output', call_id: 'c9', output: 'ok' },
      ],
    });
    assert.deepEqual(chat.tools?.[0], {
      type: 'function',
      function: {
        name: 'apply_patch',
        description: 'Patch files.\n\nThe input must match this lark grammar:\nstart: "x"',
        parameters: {
          type: 'object',
          properties: { input: { type: 'string', description: 'The raw input for the tool.' } },
          required: ['input'],
          additionalProperties: false,
        },
      },
    });
    assert.equal(chat.tools?.[1].function.description, undefined);
    assert.deepEqual(chat.tool_choice, { type: 'function', function: { name: 'apply_patch' } });
    assert.deepEqual(chat.messages[1].tool_calls, [
      { id: 'c9', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch\\n"}' } },
    ]);
    assert.deepEqual(chat.messages[2], { role: 'tool', tool_call_id: 'c9', content: 'ok' });
  });

  it('maps tool_choice, leaving a dropped built-in tool to the model', () => {
    const tools: ResponsesRequest['tools'] = [
      { type: 'function', name: 'f' },
      { type: 'namespace', name: 'crm', description: 'CRM.', tools: [{ type: 'function', name: 'lookup' }] },
      { type: 'web_search' },
    ];
    const choice = (tool_choice: ResponsesRequest['tool_choice']) => chatOf({ tools, tool_choice }).tool_choice;
    assert.equal(choice('none'), 'none');
    assert.equal(choice('required'), 'required');
    assert.deepEqual(choice({ type: 'function', name: 'f' }), { type: 'function', function: { name: 'f' } });
    assert.deepEqual(choice({ type: 'function', name: 'crm.lookup' }), {
      type: 'function',
      function: { name: 'crm__lookup' },
    });
    assert.equal(choice({ type: 'web_search_preview' }), 'auto');
    assert.equal(choice({ type: 'mcp', server_label: 's' }), 'auto');
    assert.deepEqual(
      choice({
        type: 'allowed_tools',
        mode: 'required',
        tools: [{ type: 'function', name: 'crm.lookup' }, { type: 'web_search' }],
      }),
      {
        type: 'allowed_tools',
        allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'crm__lookup' } }] },
      },
    );
    assert.equal(choice({ type: 'allowed_tools', mode: 'auto', tools: [{ type: 'web_search' }] }), 'auto');
    const onlyBuiltin = chatOf({
      tools: [{ type: 'web_search' }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    for (const key of ['tools', 'tool_choice', 'parallel_tool_calls']) assert.ok(!(key in onlyBuiltin), key);
  });

  it('maps the sampling, output, reasoning, caching and identity settings; keeps metadata and store', () => {
    const chat = chatOf({
      max_output_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      text: {
        format: {
          type: 'json_schema',
          name: 'answer',
          description: 'The answer.',
          schema: { type: 'object' },
          strict: true,
        },
        verbosity: 'low',
      },
      reasoning: { effort: 'high', summary: 'auto' },
      user: 'u1',
      safety_identifier: 'sid',
      prompt_cache_key: 'pk',
      prompt_cache_retention: '24h',
      service_tier: 'flex',
      metadata: { trace: 't1' },
      store: true,
      truncation: 'auto',
      include: ['message.output_text.logprobs'],
      top_logprobs: 3,
    });
    assert.deepEqual(chat, {
      model: 'upstream-alias',
      messages: [{ role: 'user', content: 'hi' }],
      max_completion_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', description: 'The answer.', schema: { type: 'object' }, strict: true },
      },
      verbosity: 'low',
      reasoning_effort: 'high',
      user: 'u1',
      safety_identifier: 'sid',
      prompt_cache_key: 'pk',
      prompt_cache_retention: '24h',
      service_tier: 'flex',
      logprobs: true,
      top_logprobs: 3,
    });
    assert.deepEqual(chatOf({ text: { format: { type: 'json_object' } } }).response_format, { type: 'json_object' });
    assert.deepEqual(chatOf({ text: { format: { type: 'text' } } }).response_format, { type: 'text' });
    assert.equal(chatOf({ reasoning: { effort: 'max' } }).reasoning_effort, 'xhigh');
    assert.equal(chatOf({ reasoning: { effort: 'none' } }).reasoning_effort, 'none');
    assert.ok(!('stream' in chatOf({ stream: false })));
  });
});

describe('responseInputItems', () => {
  it('gives a string input as one user message and easy messages their type', () => {
    assert.deepEqual(responseInputItems(request({ input: 'hello' })), [
      { type: 'message', role: 'user', content: 'hello' },
    ]);
    const call = { type: 'function_call' as const, call_id: 'c', name: 'f', arguments: '{}' };
    const items = responseInputItems(request({ input: [{ role: 'user', content: 'x' }, call] }));
    assert.deepEqual(items, [{ type: 'message', role: 'user', content: 'x' }, call]);
    assert.equal(items[1], call);
    assert.deepEqual(responseInputItems(request({ input: undefined })), []);
  });
});

describe('encrypted_content', () => {
  it('is gw1. + base64url(JSON) and decodes only its own values', () => {
    const state = { b: THINKING, c: { call_1: { google: { thought_signature: 'sig/+=' } } } };
    const encoded = encodeReasoningState(state);
    assert.match(encoded, /^gw1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(JSON.parse(Buffer.from(encoded.slice(4), 'base64url').toString('utf8')), state);
    assert.deepEqual(decodeReasoningState(encoded), state);
    for (const foreign of [
      'gAAAAABopaque',
      'gw1.!!!',
      `gw1.${Buffer.from('[1]').toString('base64url')}`,
      'gw1.',
      null,
    ]) {
      assert.equal(decodeReasoningState(foreign), undefined, String(foreign));
    }
    const badBlock = `gw1.${Buffer.from(JSON.stringify({ b: [{ type: 'thinking' }] })).toString('base64url')}`;
    assert.equal(decodeReasoningState(badBlock), undefined);
  });
});

describe('toResponse', () => {
  it('answers text with every field the Response schema requires, the settings echoed and exact usage', () => {
    const req = request({
      instructions: 'Be terse.',
      max_output_tokens: 100,
      metadata: { trace: 't1' },
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      text: { format: { type: 'text' } },
      user: 'u1',
    });
    const usage: Usage = {
      prompt_tokens: 120,
      completion_tokens: 30,
      total_tokens: 150,
      prompt_tokens_details: { cached_tokens: 100, cache_creation_tokens: 20 },
      completion_tokens_details: { reasoning_tokens: 12 },
    };
    const response = toResponse(completion({ content: 'Hello.' }, 'stop', usage), req, META);
    assertValidResponse(response);
    assert.deepEqual(response, {
      id: 'resp_test1',
      object: 'response',
      created_at: 1_796_600_000,
      status: 'completed',
      background: false,
      completed_at: null,
      error: null,
      incomplete_details: null,
      instructions: 'Be terse.',
      max_output_tokens: 100,
      max_tool_calls: null,
      model: 'public-model',
      output: [
        {
          id: 'msg_test1_0',
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Hello.', annotations: [], logprobs: [] }],
        },
      ],
      parallel_tool_calls: true,
      previous_response_id: null,
      prompt_cache_key: null,
      reasoning: { effort: null, summary: null },
      safety_identifier: null,
      service_tier: 'default',
      store: true,
      temperature: 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: 'auto',
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' }, strict: null }],
      top_logprobs: 0,
      top_p: 1,
      truncation: 'disabled',
      metadata: { trace: 't1' },
      user: 'u1',
      usage: {
        input_tokens: 120,
        input_tokens_details: { cached_tokens: 100, cache_write_tokens: 20 },
        output_tokens: 30,
        output_tokens_details: { reasoning_tokens: 12 },
        total_tokens: 150,
      },
    });
  });

  it('gives the SDK a Response whose output_text it computes itself', async () => {
    const response = toResponse(completion({ content: 'Hello.' }), request(), META);
    const client = new OpenAI({
      apiKey: 'gw-key',
      baseURL: 'http://gateway.test/v1',
      maxRetries: 0,
      fetch: () => Promise.resolve(Response.json(response)),
    });
    const parsed = await client.responses.create({ model: 'public-model', input: 'hi' });
    assert.equal(parsed.output_text, 'Hello.');
    assert.ok(!('output_text' in response));
  });

  it('orders reasoning, message and calls; namespaced and custom calls keep the names the client declared', () => {
    const req = request({
      include: ['reasoning.encrypted_content'],
      store: false,
      reasoning: { effort: 'medium', summary: 'auto' },
      tools: [
        { type: 'function', name: 'read' },
        { type: 'namespace', name: 'crm', description: 'CRM.', tools: [{ type: 'function', name: 'lookup' }] },
        { type: 'custom', name: 'apply_patch' },
      ],
    });
    const response = toResponse(
      completion(
        {
          content: 'Checking.',
          reasoning_content: 'Let me think.',
          thinking_blocks: THINKING,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'read', arguments: '{"path":"a"}' },
              extra_content: { google: { thought_signature: 'ts/1' } },
            },
            { id: 'call_2', type: 'function', function: { name: 'crm__lookup', arguments: '{}' } },
            {
              id: 'call_3',
              type: 'function',
              function: { name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' },
            },
          ],
        },
        'tool_calls',
      ),
      req,
      META,
    );
    assertValidResponse(response);
    const [reasoning, message, read, lookup, patch] = response.output;
    assert.equal(reasoning.type, 'reasoning');
    assert.deepEqual(reasoning.summary, [{ type: 'summary_text', text: 'Let me think.' }]);
    assert.deepEqual(decodeReasoningState(reasoning.encrypted_content), {
      b: THINKING,
      c: { call_1: { google: { thought_signature: 'ts/1' } } },
    });
    assert.equal(message.id, 'msg_test1_1');
    assert.deepEqual(read, {
      type: 'function_call',
      id: 'fc_test1_2',
      call_id: 'call_1',
      name: 'read',
      arguments: '{"path":"a"}',
      status: 'completed',
    });
    assert.deepEqual(lookup, {
      type: 'function_call',
      id: 'fc_test1_3',
      call_id: 'call_2',
      name: 'lookup',
      namespace: 'crm',
      arguments: '{}',
      status: 'completed',
    });
    assert.deepEqual(patch, {
      type: 'custom_tool_call',
      id: 'ctc_test1_4',
      call_id: 'call_3',
      name: 'apply_patch',
      input: '*** Begin Patch',
    });
  });

  it('round-trips reasoning: what the client sends back is exactly the internal form it came from', () => {
    const message: Partial<AssistantMessage> = {
      content: 'Reading.',
      reasoning_content: 'Let me think.',
      thinking_blocks: THINKING,
      extra_content: { google: { thought_signature: 'msg-sig' } },
      tool_calls: [
        {
          id: 'call_1',
          type: 'function',
          function: { name: 'read', arguments: '{}' },
          extra_content: { google: { thought_signature: 'ts/1' } },
        },
      ],
    };
    for (const settings of [
      { include: ['reasoning.encrypted_content'], store: false, reasoning: { summary: 'auto' as const } },
      { store: true },
    ]) {
      const req = request({ ...settings, tools: [{ type: 'function', name: 'read' }] });
      const response = toResponse(completion(message, 'tool_calls'), req, META);
      const next = toChatRequest(request({ ...settings, input: 'next' }), {
        model: 'm',
        builtinTools: 'drop',
        history: [...responseInputItems(req), ...response.output],
      }).chat;
      assert.deepEqual(next.messages.slice(1, 2), [{ role: 'assistant', ...message }], JSON.stringify(settings));
    }
  });

  it('hides the reasoning text without a summary request, and carries it in encrypted_content', () => {
    const req = request({ reasoning: { effort: 'low' } });
    const response = toResponse(completion({ content: 'A.', reasoning_content: 'Because.' }), req, META);
    const reasoning = response.output[0] as ReasoningItem;
    assert.deepEqual(reasoning.summary, []);
    assert.deepEqual(decodeReasoningState(reasoning.encrypted_content), { r: 'Because.' });
    const next = toChatRequest(request({ input: 'more' }), {
      model: 'm',
      builtinTools: 'drop',
      history: response.output,
    }).chat;
    assert.deepEqual(next.messages[0], { role: 'assistant', content: 'A.', reasoning_content: 'Because.' });
  });

  it('writes no encrypted_content for an unstored response that did not ask for it', () => {
    const response = toResponse(
      completion({ content: 'A.', reasoning_content: 'Because.', thinking_blocks: THINKING }),
      request({ store: false, reasoning: { summary: 'concise' } }),
      META,
    );
    assert.deepEqual(response.output[0], {
      id: 'rs_test1_0',
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'Because.' }],
    });
  });

  it('shows thinking-block text as the summary when the provider gave no reasoning_content', () => {
    const response = toResponse(
      completion({ content: 'A.', thinking_blocks: THINKING }),
      request({ store: false, reasoning: { summary: 'auto' } }),
      META,
    );
    assert.deepEqual((response.output[0] as ReasoningItem).summary, [{ type: 'summary_text', text: 'Let me think.' }]);
  });

  it('reports a cut-off answer as incomplete, with the last item incomplete', () => {
    const length = toResponse(completion({ content: 'Half' }, 'length'), request(), META);
    assertValidResponse(length);
    assert.equal(length.status, 'incomplete');
    assert.deepEqual(length.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(length.output[0].status, 'incomplete');
    const filtered = toResponse(
      completion(
        { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{' } }] },
        'content_filter',
      ),
      request(),
      META,
    );
    assert.deepEqual(filtered.incomplete_details, { reason: 'content_filter' });
    assert.equal((filtered.output[0] as FunctionCallItem).status, 'incomplete');
  });

  it('answers refusals as refusal parts and an empty answer as an empty message', () => {
    const refused = toResponse(completion({ content: null, refusal: 'I cannot help.' }), request(), META);
    assertValidResponse(refused);
    assert.deepEqual(refused.output[0].type === 'message' && refused.output[0].content, [
      { type: 'refusal', refusal: 'I cannot help.' },
    ]);
    const empty = toResponse(completion({ content: '' }), request(), META);
    assertValidResponse(empty);
    assert.deepEqual(empty.output[0].type === 'message' && empty.output[0].content, [
      { type: 'output_text', text: '', annotations: [], logprobs: [] },
    ]);
  });

  it('passes token log probabilities when the request includes them', () => {
    const withLogprobs: ChatCompletion = completion({ content: 'Hi' });
    withLogprobs.choices[0].logprobs = {
      content: [
        { token: 'Hi', logprob: -0.1, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.1, bytes: null }] },
      ],
    };
    const response = toResponse(withLogprobs, request({ include: ['message.output_text.logprobs'] }), META);
    assertValidResponse(response);
    assert.deepEqual(response.output[0].type === 'message' && response.output[0].content[0], {
      type: 'output_text',
      text: 'Hi',
      annotations: [],
      logprobs: [
        { token: 'Hi', logprob: -0.1, bytes: [72, 105], top_logprobs: [{ token: 'Hi', logprob: -0.1, bytes: [] }] },
      ],
    });
  });
});

describe('replayResponse', () => {
  const response = toResponse(
    completion(
      {
        content: 'Checking.',
        refusal: 'Not that part.',
        reasoning_content: 'Let me think.',
        thinking_blocks: THINKING,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'read', arguments: '{"path":"a"}' } },
          { id: 'call_2', type: 'function', function: { name: 'apply_patch', arguments: '{"input":"x"}' } },
        ],
      },
      'tool_calls',
      { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
    ),
    request({
      reasoning: { summary: 'auto' },
      tools: [
        { type: 'function', name: 'read' },
        { type: 'custom', name: 'apply_patch' },
      ],
    }),
    META,
  );

  it("replays a cached Response as the API's exact event sequence", () => {
    const events = replayResponse(response);
    assertValidEvents(events);
    assert.deepEqual(
      events.map((event) => event.type),
      [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.reasoning_summary_part.added',
        'response.reasoning_summary_text.delta',
        'response.reasoning_summary_text.done',
        'response.reasoning_summary_part.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.content_part.added',
        'response.refusal.delta',
        'response.refusal.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
        'response.output_item.done',
        'response.output_item.added',
        'response.custom_tool_call_input.delta',
        'response.custom_tool_call_input.done',
        'response.output_item.done',
        'response.completed',
      ],
    );
    const created = events[0];
    assert.ok(created.type === 'response.created');
    assert.equal(created.response.status, 'in_progress');
    assert.deepEqual(created.response.output, []);
    assert.ok(!('usage' in created.response));
    const last = events.at(-1);
    assert.ok(last?.type === 'response.completed');
    assert.equal(last.response, response);
  });

  it("is read back by the openai SDK's stream parser into the same Response", async () => {
    const { final, seen } = await sdkStream(replayResponse(response));
    assert.deepEqual(final, { ...response, output_text: 'Checking.' });
    assert.equal(seen.length, replayResponse(response).length);
  });

  it('ends an incomplete Response with response.incomplete', () => {
    const incomplete = toResponse(completion({ content: 'Half' }, 'length'), request(), META);
    const events = replayResponse(incomplete);
    assertValidEvents(events);
    assert.equal(events.at(-1)?.type, 'response.incomplete');
  });
});
