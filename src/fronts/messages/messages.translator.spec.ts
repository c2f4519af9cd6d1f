import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type Anthropic from '@anthropic-ai/sdk';
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletion, ChatCompletionRequest, ChatMessage, FinishReason } from '../../common/openai.types.js';
import {
  estimateInputTokens,
  type MessageMeta,
  replayMessage,
  toChatRequest,
  toMessage,
} from './messages.translator.js';
import type {
  AnthropicMessage,
  MessagesContentBlockParam,
  MessagesMessageParam,
  MessagesRequest,
  MessagesStreamEvent,
} from './messages.types.js';
import { validateMessagesRequest } from './messages.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixture = <T>(name: string): T => JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as T;

const META: MessageMeta = { id: 'msg_gw_0001', model: 'claude-sonnet-4-6' };
const MODEL = 'gpt-5.1';

function request(overrides: Partial<MessagesRequest> = {}): MessagesRequest {
  return validateMessagesRequest({
    model: 'claude-sonnet-4-6',
    max_tokens: 1024,
    messages: [{ role: 'user', content: 'Hello' }],
    ...overrides,
  });
}

function chatOf(
  overrides: Partial<MessagesRequest> = {},
  serverTools: 'drop' | 'reject' = 'drop',
): ChatCompletionRequest {
  return toChatRequest(request(overrides), { model: MODEL, serverTools }).chat;
}

function messagesOf(messages: MessagesMessageParam[]): ChatMessage[] {
  return chatOf({ messages }).messages;
}

function completion(
  message: Partial<ChatCompletion['choices'][0]['message']>,
  finish: FinishReason | null = 'stop',
): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1765000000,
    model: MODEL,
    choices: [
      { index: 0, message: { role: 'assistant', content: null, ...message }, logprobs: null, finish_reason: finish },
    ],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
}

function expectInvalid(action: () => unknown, param: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 400);
    assert.equal(error.param, param);
    assert.ok(error.message.startsWith(`${param}: `), error.message);
    return true;
  });
}

/** The SDK's own accumulator over a list of events (it reads newline-separated JSON from a web stream). */
async function accumulate(events: MessagesStreamEvent[]): Promise<Anthropic.Messages.Message> {
  const sdkEvents: Anthropic.Messages.RawMessageStreamEvent[] = events.filter(
    (event): event is Exclude<MessagesStreamEvent, { type: 'error' }> => event.type !== 'error',
  );
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(sdkEvents.map((event) => `${JSON.stringify(event)}\n`).join('')));
      controller.close();
    },
  });
  const final = await MessageStream.fromReadableStream(body).finalMessage();
  // finalMessage() adds the SDK's own `parsed_output` (structured-output parsing), which is not on the wire.
  return JSON.parse(JSON.stringify(final), (key, value: unknown) =>
    key === 'parsed_output' ? undefined : value,
  ) as Anthropic.Messages.Message;
}

describe('toChatRequest', () => {
  it('maps what Claude Code 2.1 sends onto the internal form', () => {
    const body = validateMessagesRequest(fixture('claude-code.request.json'));
    const { chat, droppedTools } = toChatRequest(body, { model: MODEL, serverTools: 'drop' });
    assert.deepEqual(chat, fixture('claude-code.chat.json'));
    assert.deepEqual(droppedTools, []);
  });

  it('maps a system string, skips an empty one, and keeps mid-conversation system entries in place', () => {
    assert.deepEqual(
      chatOf({
        system: 'Be brief.',
        messages: [
          { role: 'user', content: 'a' },
          { role: 'system', content: [{ type: 'text', text: 'Now in French.', cache_control: { type: 'ephemeral' } }] },
          { role: 'user', content: 'b' },
        ],
      }).messages,
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'a' },
        { role: 'system', content: [{ type: 'text', text: 'Now in French.', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: 'b' },
      ],
    );
    assert.deepEqual(chatOf({ system: '' }).messages, [{ role: 'user', content: 'Hello' }]);
  });

  it('leaves out a system message whose clear_at has passed, and beta tool changes per the server-tool policy', () => {
    const messages: Anthropic.Beta.Messages.BetaMessageParam[] = [
      { role: 'user', content: 'a' },
      { role: 'system', content: 'Only for a.', clear_at: 'next_user_message' },
      { role: 'system', content: 'Always.', clear_at: 'never' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'b' },
      { role: 'system', content: 'Only for b.', clear_at: 'next_user_message' },
      {
        role: 'system',
        content: [
          { type: 'text', text: 'New tool.' },
          { type: 'tool_removal', tool: { type: 'tool_reference', name: 'Write' } },
        ],
      },
      { role: 'system', output_config: { effort: 'low' } },
    ];
    const body = { messages } as unknown as Partial<MessagesRequest>;
    assert.deepEqual(chatOf(body).messages, [
      { role: 'user', content: 'a' },
      { role: 'system', content: 'Always.' },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'b' },
      { role: 'system', content: 'Only for b.' },
      { role: 'system', content: [{ type: 'text', text: 'New tool.' }] },
    ]);
    expectInvalid(() => chatOf(body, 'reject'), 'messages.6.content.1.type');
  });

  it('maps images, documents and search results to content parts, cache markers kept', () => {
    const marker = { type: 'ephemeral' as const, ttl: '1h' as const };
    const [user] = messagesOf([
      {
        role: 'user',
        content: [
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' },
            cache_control: marker,
          },
          { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
          { type: 'image', source: { type: 'file', file_id: 'file_01' } },
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
            title: 'Q3.pdf',
          },
          { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi1=' } },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Body.' }, title: 'Notes' },
          {
            type: 'document',
            source: {
              type: 'content',
              content: [
                { type: 'text', text: 'Part one.' },
                { type: 'text', text: 'Part two.' },
              ],
            },
            cache_control: marker,
          },
          { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' }, title: 'Spec' },
          { type: 'document', source: { type: 'file', file_id: 'file_02' } },
          {
            type: 'search_result',
            source: 'https://example.com/r',
            title: 'Result',
            content: [
              { type: 'text', text: 'One.' },
              { type: 'text', text: 'Two.' },
            ],
          },
          { type: 'text', text: 'Compare them.' },
        ],
      },
    ]);
    assert.deepEqual(user, {
      role: 'user',
      content: [
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' }, cache_control: marker },
        { type: 'image_url', image_url: { url: 'https://example.com/a.jpg' } },
        { type: 'file', file: { file_id: 'file_01' } },
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'Q3.pdf' } },
        { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi1=', filename: 'document.pdf' } },
        { type: 'text', text: 'Notes\n\nBody.' },
        { type: 'text', text: 'Part one.' },
        { type: 'text', text: 'Part two.', cache_control: marker },
        { type: 'text', text: '[Document "Spec": https://example.com/a.pdf]' },
        { type: 'file', file: { file_id: 'file_02' } },
        { type: 'text', text: 'Result\nhttps://example.com/r\n\nOne.\n\nTwo.' },
        { type: 'text', text: 'Compare them.' },
      ],
    });
  });

  it('sends tool results as tool messages, their images after them in one user message', () => {
    const messages = messagesOf([
      { role: 'user', content: 'Look at both.' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { file_path: 'a.png' } },
          { type: 'tool_use', id: 'toolu_2', name: 'Read', input: { file_path: 'b.txt' } },
        ],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'toolu_1',
            content: [
              { type: 'text', text: 'Image a.png:' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } },
            ],
          },
          {
            type: 'tool_result',
            tool_use_id: 'toolu_2',
            content: [
              { type: 'text', text: 'line 1' },
              { type: 'text', text: 'line 2', cache_control: { type: 'ephemeral' } },
            ],
          },
          { type: 'text', text: 'What do you see?' },
        ],
      },
    ]);
    assert.deepEqual(messages.slice(2), [
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Image a.png:' },
      {
        role: 'tool',
        tool_call_id: 'toolu_2',
        content: [
          { type: 'text', text: 'line 1' },
          { type: 'text', text: 'line 2', cache_control: { type: 'ephemeral' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBO' } },
          { type: 'text', text: 'What do you see?' },
        ],
      },
    ]);
  });

  it('marks is_error results with the error prefix, whatever their content', () => {
    const results: MessagesContentBlockParam[] = [
      { type: 'tool_result', tool_use_id: 'a', content: 'boom', is_error: true },
      { type: 'tool_result', tool_use_id: 'b', is_error: true },
      {
        type: 'tool_result',
        tool_use_id: 'c',
        is_error: true,
        content: [{ type: 'text', text: 'marked', cache_control: { type: 'ephemeral' } }],
      },
      { type: 'tool_result', tool_use_id: 'd', is_error: false, content: 'fine' },
    ];
    const messages = messagesOf([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: ['a', 'b', 'c', 'd'].map((id) => ({ type: 'tool_use', id, name: 'f', input: {} })),
      },
      { role: 'user', content: results },
    ]);
    assert.deepEqual(
      messages.slice(2).map((message) => message.content),
      [
        'Error: boom',
        'Error: ',
        [{ type: 'text', text: 'Error: marked', cache_control: { type: 'ephemeral' } }],
        'fine',
      ],
    );
  });

  it('maps an assistant turn: text, tool calls, thinking blocks in order with their text, markers', () => {
    const messages = messagesOf([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'First, ', signature: 'sig-1' },
          { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3p' },
          { type: 'thinking', thinking: 'then.', signature: '' },
          { type: 'text', text: 'Part A.' },
          { type: 'tool_use', id: 'toolu_9', name: 'f', input: { x: 1 }, cache_control: { type: 'ephemeral' } },
          { type: 'text', text: 'Part B.', cache_control: { type: 'ephemeral', ttl: '5m' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_9', content: 'ok' }] },
    ]);
    assert.deepEqual(messages[1], {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Part A.' },
        { type: 'text', text: 'Part B.', cache_control: { type: 'ephemeral', ttl: '5m' } },
      ],
      tool_calls: [{ id: 'toolu_9', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }],
      thinking_blocks: [
        { type: 'thinking', thinking: 'First, ', signature: 'sig-1' },
        { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3p' },
        { type: 'thinking', thinking: 'then.' },
      ],
      reasoning_content: 'First, then.',
      cache_control: { type: 'ephemeral' },
    });
    assert.deepEqual(
      messagesOf([
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'Sure' },
      ])[1],
      {
        role: 'assistant',
        content: 'Sure',
      },
    );
    assert.deepEqual(
      messagesOf([
        { role: 'user', content: 'a' },
        { role: 'assistant', content: [] },
      ])[1],
      {
        role: 'assistant',
        content: '',
      },
    );
  });

  it('maps tools and every tool_choice, parallel use included', () => {
    const tools = [
      { name: 'f', description: 'F.', input_schema: { type: 'object' as const, properties: {} }, strict: true },
      {
        type: 'custom' as const,
        name: 'g',
        input_schema: { type: 'object' as const },
        cache_control: { type: 'ephemeral' as const },
      },
    ];
    assert.deepEqual(chatOf({ tools }).tools, [
      {
        type: 'function',
        function: { name: 'f', description: 'F.', parameters: { type: 'object', properties: {} }, strict: true },
      },
      {
        type: 'function',
        function: { name: 'g', parameters: { type: 'object' } },
        cache_control: { type: 'ephemeral' },
      },
    ]);
    const choices: [MessagesRequest['tool_choice'], Partial<ChatCompletionRequest>][] = [
      [{ type: 'auto' }, { tool_choice: 'auto' }],
      [{ type: 'any' }, { tool_choice: 'required' }],
      [{ type: 'none' }, { tool_choice: 'none' }],
      [{ type: 'tool', name: 'g' }, { tool_choice: { type: 'function', function: { name: 'g' } } }],
      [
        { type: 'auto', disable_parallel_tool_use: true },
        { tool_choice: 'auto', parallel_tool_calls: false },
      ],
      [{ type: 'any', disable_parallel_tool_use: false }, { tool_choice: 'required' }],
      [
        { type: 'tool', name: 'f', disable_parallel_tool_use: true },
        { tool_choice: { type: 'function', function: { name: 'f' } }, parallel_tool_calls: false },
      ],
    ];
    for (const [choice, expected] of choices) {
      const chat = chatOf({ tools, tool_choice: choice });
      assert.deepEqual(
        { tool_choice: chat.tool_choice, parallel_tool_calls: chat.parallel_tool_calls },
        {
          parallel_tool_calls: undefined,
          ...expected,
        },
      );
    }
  });

  it('drops server tools and names them, or refuses them, as configured', () => {
    const tools = [
      { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
      { name: 'f', input_schema: { type: 'object' as const } },
      { type: 'bash_20250124', name: 'bash' },
      { type: 'code_execution_20250825', name: 'code_execution' },
      { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
      { type: 'computer_20250124', name: 'computer', display_width_px: 1024, display_height_px: 768 },
      { type: 'browser_toolset_20260801' },
    ];
    const { chat, droppedTools } = toChatRequest(request({ tools, tool_choice: { type: 'any' } }), {
      model: MODEL,
      serverTools: 'drop',
    });
    assert.deepEqual(droppedTools, [
      'web_search',
      'bash',
      'code_execution',
      'str_replace_based_edit_tool',
      'computer',
      'browser_toolset_20260801',
    ]);
    assert.deepEqual(chat.tools, [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }]);
    assert.equal(chat.tool_choice, 'required');
    expectInvalid(() => chatOf({ tools }, 'reject'), 'tools.0.type');
  });

  it('sends no tools and no tool choice when only server tools were given, and refuses forcing one', () => {
    const tools = [{ type: 'web_search_20250305', name: 'web_search' }];
    const chat = chatOf({ tools, tool_choice: { type: 'auto', disable_parallel_tool_use: true } });
    assert.equal(chat.tools, undefined);
    assert.equal(chat.tool_choice, undefined);
    assert.equal(chat.parallel_tool_calls, undefined);
    expectInvalid(() => chatOf({ tools, tool_choice: { type: 'tool', name: 'web_search' } }), 'tool_choice.name');
  });

  it('drops server-side blocks from the history, or refuses them, as configured', () => {
    const messages: Anthropic.Messages.MessageParam[] = [
      { role: 'user', content: 'Search it.' },
      {
        role: 'assistant',
        content: [
          { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'q' } },
          { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
          { type: 'text', text: 'Found it.' },
        ],
      },
      { role: 'user', content: 'Thanks.' },
    ];
    assert.deepEqual(messagesOf(messages)[1], { role: 'assistant', content: 'Found it.' });
    expectInvalid(() => chatOf({ messages }, 'reject'), 'messages.1.content.0.type');
    const onlyServer: Anthropic.Messages.MessageParam[] = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: [{ type: 'server_tool_use', id: 's', name: 'web_search', input: {} }] },
      { role: 'user', content: 'b' },
    ];
    assert.deepEqual(messagesOf(onlyServer), [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
    ]);
  });

  it('maps sampling, stop sequences, user, thinking, effort, structured output, caching and streaming', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
    const chat = chatOf({
      stop_sequences: ['END', '\n\nHuman:'],
      temperature: 0.2,
      top_p: 0.95,
      top_k: 40,
      metadata: { user_id: 'user-42' },
      thinking: { type: 'enabled', budget_tokens: 4096, display: 'omitted' },
      output_config: { effort: 'max', format: { type: 'json_schema', schema } },
      cache_control: { type: 'ephemeral', ttl: '1h' },
      stream: false,
    });
    assert.deepEqual(chat, {
      model: MODEL,
      messages: [{ role: 'user', content: 'Hello', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      max_tokens: 1024,
      stop: ['END', '\n\nHuman:'],
      temperature: 0.2,
      top_p: 0.95,
      top_k: 40,
      user: 'user-42',
      thinking: { type: 'enabled', budget_tokens: 4096 },
      reasoning_effort: 'xhigh',
      response_format: { type: 'json_schema', json_schema: { name: 'response', schema } },
    });
    assert.deepEqual(chatOf({ output_format: { type: 'json_schema', schema } }).response_format, {
      type: 'json_schema',
      json_schema: { name: 'response', schema },
    });
    assert.deepEqual(chatOf({ thinking: { type: 'adaptive' } }).thinking, { type: 'adaptive' });
    assert.deepEqual(chatOf({ thinking: { type: 'between_tools' } }).thinking, { type: 'adaptive' });
    assert.deepEqual(chatOf({ thinking: { type: 'disabled' } }).thinking, { type: 'disabled' });
    for (const effort of ['low', 'medium', 'high', 'xhigh'] as const) {
      assert.equal(chatOf({ output_config: { effort } }).reasoning_effort, effort);
    }
    assert.equal(chatOf({ metadata: { user_id: null } }).user, undefined);
    assert.equal(chatOf({ stop_sequences: [] }).stop, undefined);
  });
});

describe('toMessage', () => {
  it('maps a completion with thinking, text and tool calls onto a Message the SDK types accept', () => {
    const message: Anthropic.Messages.Message = toMessage(fixture('completion-reasoning-tools.json'), META);
    assert.deepEqual(message, fixture('completion-reasoning-tools.message.json'));
  });

  it('makes one unsigned thinking block of reasoning_content when there are no blocks', () => {
    const message = toMessage(completion({ content: '4', reasoning_content: '2 + 2 is 4.' }), META);
    assert.deepEqual(message.content, [
      { type: 'thinking', thinking: '2 + 2 is 4.', signature: '' },
      { type: 'text', text: '4', citations: null },
    ]);
  });

  it('wraps tool arguments that are not a JSON object as Anthropic documents, and gives id-less calls an id', () => {
    const message = toMessage(
      completion(
        {
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a": tru' } },
            { id: 'call_2', type: 'function', function: { name: 'f', arguments: '[1, 2]' } },
            { id: '', type: 'function', function: { name: 'g', arguments: '' } },
          ],
        },
        'tool_calls',
      ),
      META,
    );
    assert.deepEqual(message.content, [
      { type: 'tool_use', id: 'call_1', name: 'f', input: { INVALID_JSON: '{"a": tru' }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'call_2', name: 'f', input: { INVALID_JSON: '[1, 2]' }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'toolu_gw_0001_2', name: 'g', input: {}, caller: { type: 'direct' } },
    ]);
  });

  const stops: [FinishReason | null, Partial<ChatCompletion['choices'][0]['message']>, string, string | null][] = [
    ['stop', { content: 'Hi' }, 'end_turn', null],
    [null, { content: 'Hi' }, 'end_turn', null],
    ['length', { content: 'Hi' }, 'max_tokens', null],
    [
      'tool_calls',
      { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      'tool_use',
      null,
    ],
    [
      'stop',
      { tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      'tool_use',
      null,
    ],
    ['function_call', { content: null }, 'tool_use', null],
    ['content_filter', { content: 'Partial' }, 'refusal', null],
    ['stop', { content: null, refusal: 'I cannot help with that.' }, 'refusal', null],
  ];
  for (const [finish, message, stopReason, stopSequence] of stops) {
    it(`maps finish_reason ${String(finish)}${message.refusal ? ' with a refusal' : ''} to ${stopReason}`, () => {
      const result = toMessage(completion(message, finish), META);
      assert.equal(result.stop_reason, stopReason);
      assert.equal(result.stop_sequence, stopSequence);
      assert.deepEqual(
        result.stop_details,
        stopReason === 'refusal' ? { type: 'refusal', category: null, explanation: null } : null,
      );
    });
  }

  it('reports the refusal text as text, and the stop sequence when the upstream names it', () => {
    assert.deepEqual(toMessage(completion({ refusal: 'No.' }), META).content, [
      { type: 'text', text: 'No.', citations: null },
    ]);
    const named = completion({ content: 'Done' });
    Object.assign(named.choices[0], { stop_reason: '###' });
    const message = toMessage(named, META);
    assert.equal(message.stop_reason, 'stop_sequence');
    assert.equal(message.stop_sequence, '###');
  });

  it('splits usage the way Anthropic counts it', () => {
    const base = completion({ content: 'x' });
    const usage = (value: ChatCompletion['usage']) => toMessage({ ...base, usage: value }, META).usage;
    assert.deepEqual(
      usage({
        prompt_tokens: 1000,
        completion_tokens: 50,
        total_tokens: 1050,
        prompt_tokens_details: { cached_tokens: 700, cache_creation_tokens: 200 },
        completion_tokens_details: { reasoning_tokens: 20 },
      }),
      {
        input_tokens: 100,
        output_tokens: 50,
        cache_creation_input_tokens: 200,
        cache_read_input_tokens: 700,
        cache_creation: null,
        inference_geo: null,
        output_tokens_details: { thinking_tokens: 20 },
        server_tool_use: null,
        service_tier: null,
        speed: null,
      },
    );
    assert.equal(usage({ prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 }).input_tokens, 9);
    assert.deepEqual(
      [usage(undefined).input_tokens, usage(undefined).output_tokens, usage(undefined).output_tokens_details],
      [0, 0, null],
    );
  });

  it('uses choice 0 and the meta id and public model', () => {
    const two = completion({ content: 'zero' });
    two.choices = [{ ...two.choices[0], index: 1, message: { role: 'assistant', content: 'one' } }, two.choices[0]];
    const message = toMessage(two, { id: 'msg_x', model: 'public-name' });
    assert.deepEqual(message.content, [{ type: 'text', text: 'zero', citations: null }]);
    assert.equal(message.id, 'msg_x');
    assert.equal(message.model, 'public-name');
  });
});

describe('round trips through the client', () => {
  /** The assistant turn a client sends back: the Message's content as it received it. */
  function nextTurn(message: AnthropicMessage): ChatMessage {
    const body = request({
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: JSON.parse(JSON.stringify(message.content)) as MessagesContentBlockParam[] },
      ],
    });
    return toChatRequest(body, { model: MODEL, serverTools: 'drop' }).chat.messages[1];
  }

  it('gives back the thinking blocks byte for byte, with reasoning_content and tool calls', () => {
    const source = fixture<ChatCompletion>('completion-reasoning-tools.json');
    const original = source.choices[0].message;
    const back = nextTurn(toMessage(source, META));
    assert.deepEqual(back.thinking_blocks, original.thinking_blocks);
    assert.equal(back.reasoning_content, original.reasoning_content);
    assert.deepEqual(
      back.tool_calls?.map((call) => [call.id, JSON.parse(call.function.arguments) as unknown]),
      original.tool_calls?.map((call) => [call.id, JSON.parse(call.function.arguments) as unknown]),
    );
    assert.equal(back.content, original.content);
  });

  it("carries Gemini's thought signatures on tool calls and on the message through the tool_use id and a block", () => {
    const gemini = completion(
      {
        content: 'Checking.',
        reasoning_content: 'Need the time.',
        thinking_blocks: [{ type: 'thinking', thinking: 'Need the time.' }],
        tool_calls: [
          {
            id: 'call_9f8e7d',
            type: 'function',
            function: { name: 'get_time', arguments: '{"zone":"UTC"}' },
            extra_content: { google: { thought_signature: 'CiUBVKhc7sig/+tool==' } },
          },
        ],
        extra_content: { google: { thought_signature: 'CiIBtext+sig==' } },
      },
      'tool_calls',
    );
    const message = toMessage(gemini, META);
    const toolUse = message.content.find((block) => block.type === 'tool_use');
    assert.match(toolUse?.id ?? '', /^gx_[A-Za-z0-9_-]+$/);
    assert.deepEqual(message.content.at(-1)?.type, 'redacted_thinking');
    const back = nextTurn(message);
    assert.deepEqual(back.tool_calls, gemini.choices[0].message.tool_calls);
    assert.deepEqual(back.extra_content, gemini.choices[0].message.extra_content);
    assert.deepEqual(back.thinking_blocks, gemini.choices[0].message.thinking_blocks);
    assert.equal(back.reasoning_content, 'Need the time.');
    // The tool result names the wrapped id; the provider sees the original one.
    const withResult = toChatRequest(
      request({
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: JSON.parse(JSON.stringify(message.content)) as MessagesContentBlockParam[] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse?.id ?? '', content: '12:00' }] },
        ],
      }),
      { model: MODEL, serverTools: 'drop' },
    ).chat.messages;
    assert.deepEqual(withResult[2], { role: 'tool', tool_call_id: 'call_9f8e7d', content: '12:00' });
  });

  it('gives back tool arguments that were not JSON as the text they were', () => {
    const broken = completion(
      { tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a": tru' } }] },
      'tool_calls',
    );
    assert.equal(nextTurn(toMessage(broken, META)).tool_calls?.[0].function.arguments, '{"a": tru');
  });
});

describe('replayMessage', () => {
  const messages: [string, AnthropicMessage][] = [
    ['thinking, redacted thinking, text and two tool calls', fixture('completion-reasoning-tools.message.json')],
    [
      'a Gemini answer with signatures',
      toMessage(
        completion({
          content: 'Hi',
          tool_calls: [
            {
              id: 'c1',
              type: 'function',
              function: { name: 'f', arguments: '{"k":[1,{"n":null}]}' },
              extra_content: { google: { thought_signature: 'sig==' } },
            },
          ],
          extra_content: { google: { thought_signature: 'msg==' } },
        }),
        META,
      ),
    ],
    [
      'a stop sequence and an unsigned thinking block',
      {
        ...toMessage(completion({ content: 'Done', reasoning_content: 'Think.' }), META),
        stop_reason: 'stop_sequence',
        stop_sequence: 'END',
      },
    ],
    ['no content at all', toMessage(completion({ content: null }, 'length'), META)],
  ];
  for (const [name, message] of messages) {
    it(`streams ${name} so that the SDK accumulates the same Message`, async () => {
      const events = replayMessage(message);
      assert.equal(events[0].type, 'message_start');
      assert.deepEqual(
        events.slice(-2).map((event) => event.type),
        ['message_delta', 'message_stop'],
      );
      assert.deepEqual(await accumulate(events), message);
    });
  }

  it('sends each block as start, one delta per field, stop', () => {
    const events = replayMessage(fixture('completion-reasoning-tools.message.json'));
    assert.deepEqual(
      events.map((event) => ('index' in event ? `${event.type}:${event.index}` : event.type)),
      [
        'message_start',
        'content_block_start:0',
        'content_block_delta:0',
        'content_block_delta:0',
        'content_block_stop:0',
        'content_block_start:1',
        'content_block_stop:1',
        'content_block_start:2',
        'content_block_delta:2',
        'content_block_stop:2',
        'content_block_start:3',
        'content_block_delta:3',
        'content_block_stop:3',
        'content_block_start:4',
        'content_block_delta:4',
        'content_block_stop:4',
        'message_delta',
        'message_stop',
      ],
    );
    const start = events[0];
    assert.ok(start.type === 'message_start');
    assert.deepEqual(start.message.content, []);
    assert.equal(start.message.stop_reason, null);
    assert.equal(start.message.usage.input_tokens, 95);
  });
});

describe('estimateInputTokens', () => {
  it('counts JSON characters / 4, rounded up, plus 3 per message', () => {
    // [{"role":"user","content":"Hello"}] is 35 characters: ceil(35 / 4) + 3.
    assert.equal(estimateInputTokens(request()), 12);
  });

  it('adds the system prompt and the tools, and is deterministic', () => {
    const body = request({ system: 'Be brief.', tools: [{ name: 'f', input_schema: { type: 'object' } }] });
    const expected =
      Math.ceil(
        (JSON.stringify(body.messages).length +
          JSON.stringify(body.system).length +
          JSON.stringify(body.tools).length) /
          4,
      ) + 6;
    assert.equal(estimateInputTokens(body), expected);
    assert.equal(estimateInputTokens(body), estimateInputTokens(structuredClone(body)));
  });

  it('counts an inline image as 1 600 tokens whatever its size', () => {
    const withImage = (data: string) =>
      estimateInputTokens(
        request({
          messages: [
            { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data } }] },
          ],
        }),
      );
    assert.equal(withImage('A'.repeat(10)), withImage('A'.repeat(100_000)));
    assert.ok(withImage('A') >= 1_600);
  });
});
