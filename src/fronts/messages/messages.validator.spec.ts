import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type Anthropic from '@anthropic-ai/sdk';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { CountTokensRequest, MessagesRequest } from './messages.types.js';
import { validateCountTokensRequest, validateMessagesRequest } from './messages.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as Record<string, unknown>;

const base = (): Record<string, unknown> => ({
  model: 'claude-sonnet-4-6',
  max_tokens: 1024,
  messages: [{ role: 'user', content: 'Hello' }],
});

function expectInvalid(body: unknown, param: string | null, message?: string, countTokens = false): void {
  assert.throws(
    () => (countTokens ? validateCountTokensRequest(body) : validateMessagesRequest(body)),
    (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, param);
      if (message !== undefined) assert.equal(error.message, message);
      return true;
    },
  );
}

describe('validateMessagesRequest', () => {
  it('accepts what Claude Code 2.1 sends and returns the same object, unknown fields included', () => {
    const body = fixture('claude-code.request.json');
    const validated = validateMessagesRequest(body);
    assert.equal(validated, body);
    const kept = validated as unknown as Record<string, unknown>;
    assert.deepEqual(kept.context_management, { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] });
    assert.deepEqual(kept.future_field, { anything: [1, 2, 3] });
  });

  it('accepts every documented block and tool kind', () => {
    const body = {
      ...base(),
      system: 'Be brief.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
            { type: 'image', source: { type: 'file', file_id: 'file_01' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
              title: 'A',
            },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain' } },
            { type: 'document', source: { type: 'content', content: [{ type: 'text', text: 'inline' }] } },
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
            {
              type: 'search_result',
              source: 'https://example.com',
              title: 'T',
              content: [{ type: 'text', text: 'r' }],
            },
            { type: 'text', text: 'What are these?', cache_control: { type: 'ephemeral', ttl: '1h' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hm', signature: 'sig' },
            { type: 'redacted_thinking', data: 'opaque' },
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'q' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
            { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_1',
              is_error: false,
              content: [
                { type: 'text', text: 'ok' },
                { type: 'image', source: { type: 'url', url: 'https://example.com/b.png' } },
                { type: 'tool_reference', tool_name: 'g' },
              ],
            },
          ],
        },
        { role: 'assistant', content: '' },
      ],
      tools: [
        { name: 'f', input_schema: { type: 'object' }, strict: true },
        { type: 'custom', name: 'g', input_schema: { type: 'object', properties: {} } },
        { type: 'web_search_20250305', name: 'web_search', max_uses: 3 },
      ],
      tool_choice: { type: 'tool', name: 'f', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      metadata: { user_id: null },
      thinking: { type: 'enabled', budget_tokens: 2048, display: 'omitted' },
      output_config: { effort: 'max', format: { type: 'json_schema', schema: { type: 'object' } } },
      output_format: { type: 'json_schema', schema: { type: 'object' } },
      cache_control: { type: 'ephemeral' },
      stream: false,
    };
    assert.equal(validateMessagesRequest(body), body);
  });

  it("takes the SDK's request types, beta ones included (they are assignable to the front's types)", () => {
    const params: Anthropic.Messages.MessageCreateParams = {
      model: 'claude-sonnet-4-6',
      max_tokens: 512,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi', cache_control: { type: 'ephemeral' } }] },
        { role: 'system', content: 'Be brief.' },
      ],
      tools: [{ type: 'computer_toolset_20260801' }, { name: 'f', input_schema: { type: 'object' } }],
    };
    const request: MessagesRequest = params;
    assert.equal(validateMessagesRequest(request), request);
    const beta: Anthropic.Beta.Messages.MessageCreateParams = {
      model: 'claude-sonnet-4-6',
      max_tokens: 512,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'system', content: 'Until the next user turn.', clear_at: 'next_user_message' },
        { role: 'system', output_config: { effort: 'low' } },
      ],
      thinking: { type: 'adaptive', display: 'updates' },
    };
    const betaRequest: MessagesRequest = beta;
    assert.equal(validateMessagesRequest(betaRequest), betaRequest);
    const count: CountTokensRequest = {
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }],
    } satisfies Anthropic.Messages.MessageCountTokensParams;
    assert.equal(validateCountTokensRequest(count), count);
  });

  it('requires max_tokens on messages but not on count_tokens', () => {
    const { max_tokens: _omitted, ...rest } = base();
    expectInvalid(rest, 'max_tokens', 'max_tokens: Field required');
    assert.equal(validateCountTokensRequest(rest), rest);
    expectInvalid({ ...rest, max_tokens: 'many' }, 'max_tokens', undefined, true);
    assert.ok(validateMessagesRequest({ ...base(), max_tokens: 0 }), 'max_tokens 0 pre-warms the cache');
  });

  it('refuses a body that is not an object', () => {
    expectInvalid([], null, 'The request body must be a JSON object.');
    expectInvalid('text', null);
  });

  const cases: [string, Record<string, unknown>, string, string | undefined][] = [
    ['no model', { model: undefined }, 'model', 'model: Field required'],
    ['an empty model', { model: '' }, 'model', 'model: String should have at least 1 character'],
    [
      'a negative max_tokens',
      { max_tokens: -1 },
      'max_tokens',
      'max_tokens: Input should be greater than or equal to 0',
    ],
    ['a fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens', 'max_tokens: Input should be a valid integer'],
    ['no messages', { messages: undefined }, 'messages', 'messages: Field required'],
    [
      'an empty messages list',
      { messages: [] },
      'messages',
      'messages: List should have at least 1 item after validation, not 0',
    ],
    [
      'an unknown role',
      { messages: [{ role: 'tool', content: 'x' }] },
      'messages.0.role',
      "messages.0.role: Input should be 'user', 'assistant' or 'system'",
    ],
    [
      'an empty user message',
      { messages: [{ role: 'user', content: '' }] },
      'messages.0',
      'messages.0: all messages must have non-empty content except for the optional final assistant message',
    ],
    [
      'a text block without text',
      { messages: [{ role: 'user', content: [{ type: 'text' }] }] },
      'messages.0.content.0.text',
      'messages.0.content.0.text: Field required',
    ],
    [
      'an empty text block',
      { messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] },
      'messages.0.content.0.text',
      'messages.0.content.0.text: text content blocks must be non-empty',
    ],
    [
      'an unknown block type',
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: [{ type: 'video' }] },
        ],
      },
      'messages.1.content.0.type',
      undefined,
    ],
    [
      'an image of an unsupported type',
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'base64', media_type: 'image/bmp', data: 'x' } }],
          },
        ],
      },
      'messages.0.content.0.source.media_type',
      "messages.0.content.0.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
    ],
    [
      'a tool_use block in a user turn',
      { messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }] },
      'messages.0.content.0.type',
      'messages.0.content.0.type: tool_use blocks are only allowed in assistant messages',
    ],
    [
      'a tool_use input that is not an object',
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: [] }] },
        ],
      },
      'messages.1.content.0.input',
      'messages.1.content.0.input: Input should be a valid dictionary',
    ],
    [
      'a tool_result without tool_use_id',
      { messages: [{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }] },
      'messages.0.content.0.tool_use_id',
      'messages.0.content.0.tool_use_id: Field required',
    ],
    [
      'a tool_result holding a thinking block',
      {
        messages: [
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'thinking' }] }] },
        ],
      },
      'messages.0.content.0.content.0.type',
      undefined,
    ],
    [
      'a thinking block without its signature',
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'x' }] },
        ],
      },
      'messages.1.content.0.signature',
      'messages.1.content.0.signature: Field required',
    ],
    [
      'a system entry with an image',
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'system', content: [{ type: 'image' }] },
        ],
      },
      'messages.1.content.0.type',
      undefined,
    ],
    [
      'a system entry with neither content nor output_config',
      { messages: [{ role: 'user', content: 'a' }, { role: 'system' }] },
      'messages.1.content',
      'messages.1.content: Field required',
    ],
    [
      'a clear_at that does not exist',
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'system', content: 's', clear_at: 'later' },
        ],
      },
      'messages.1.clear_at',
      "messages.1.clear_at: Input should be 'next_user_message' or 'never'",
    ],
    [
      'a cache marker of another kind',
      { system: [{ type: 'text', text: 's', cache_control: { type: 'persistent' } }] },
      'system.0.cache_control.type',
      "system.0.cache_control.type: Input should be 'ephemeral'",
    ],
    [
      'a cache TTL that does not exist',
      { cache_control: { type: 'ephemeral', ttl: '2h' } },
      'cache_control.ttl',
      "cache_control.ttl: Input should be '5m' or '1h'",
    ],
    [
      'a temperature above 1',
      { temperature: 1.5 },
      'temperature',
      'temperature: Input should be less than or equal to 1',
    ],
    ['a negative top_k', { top_k: -1 }, 'top_k', 'top_k: Input should be greater than or equal to 0'],
    [
      'stop sequences that are not strings',
      { stop_sequences: [1] },
      'stop_sequences.0',
      'stop_sequences.0: Input should be a valid string',
    ],
    [
      'a user_id that is not a string',
      { metadata: { user_id: 5 } },
      'metadata.user_id',
      'metadata.user_id: Input should be a valid string',
    ],
    [
      'a tool without input_schema',
      { tools: [{ name: 'f' }] },
      'tools.0.input_schema',
      'tools.0.input_schema: Field required',
    ],
    [
      'a tool schema that is not an object schema',
      { tools: [{ name: 'f', input_schema: { type: 'array' } }] },
      'tools.0.input_schema.type',
      "tools.0.input_schema.type: Input should be 'object'",
    ],
    [
      'a server tool name that is not a string',
      { tools: [{ type: 'web_search_20250305', name: 5 }] },
      'tools.0.name',
      'tools.0.name: Input should be a valid string',
    ],
    [
      'a forced tool without a name',
      { tool_choice: { type: 'tool' } },
      'tool_choice.name',
      'tool_choice.name: Field required',
    ],
    ['an unknown tool choice', { tool_choice: { type: 'required' } }, 'tool_choice.type', undefined],
    [
      'a thinking budget under 1024',
      { thinking: { type: 'enabled', budget_tokens: 100 } },
      'thinking.budget_tokens',
      'thinking.budget_tokens: Input should be greater than or equal to 1024',
    ],
    [
      'an unknown thinking type',
      { thinking: { type: 'on' } },
      'thinking.type',
      "thinking.type: Input tag 'on' found using 'type' does not match any of the expected tags: 'adaptive', 'between_tools', 'disabled', 'enabled'",
    ],
    [
      'an unknown effort',
      { output_config: { effort: 'extreme' } },
      'output_config.effort',
      "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'",
    ],
    [
      'an output format other than json_schema',
      { output_config: { format: { type: 'json_object' } } },
      'output_config.format.type',
      "output_config.format.type: Input should be 'json_schema'",
    ],
    [
      'a format without schema',
      { output_format: { type: 'json_schema' } },
      'output_format.schema',
      'output_format.schema: Field required',
    ],
    ['a stream flag that is not a boolean', { stream: 'yes' }, 'stream', 'stream: Input should be a valid boolean'],
  ];
  for (const [name, change, param, message] of cases) {
    it(`refuses ${name} with param ${param}`, () => expectInvalid({ ...base(), ...change }, param, message));
  }

  it('names every accepted block type when a type is unknown', () => {
    expectInvalid(
      { ...base(), messages: [{ role: 'user', content: [{ type: 'video' }] }] },
      'messages.0.content.0.type',
      "messages.0.content.0.type: Input tag 'video' found using 'type' does not match any of the expected tags: " +
        "'text', 'image', 'document', 'search_result', 'thinking', 'redacted_thinking', 'tool_use', 'tool_result', " +
        "'server_tool_use', 'web_search_tool_result', 'web_fetch_tool_result', 'advisor_tool_result', " +
        "'code_execution_tool_result', 'bash_code_execution_tool_result', 'text_editor_code_execution_tool_result', " +
        "'tool_search_tool_result', 'mcp_tool_use', 'mcp_tool_result', 'container_upload', 'compaction', " +
        "'tool_addition', 'tool_removal', 'mcp_tool_listing', 'fallback'",
    );
  });

  it('lets the final assistant message be empty (a prefill)', () => {
    const body = {
      ...base(),
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: [] },
      ],
    };
    assert.equal(validateMessagesRequest(body), body);
  });
});
