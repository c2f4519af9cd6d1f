import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import { validateChatRequest } from './chat-request.validator.js';

const messages = [{ role: 'user', content: 'hi' }];

function problem(body: unknown): { param: string | null; message: string; code: string | null } {
  try {
    validateChatRequest(body);
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 400);
    assert.equal(error.type, 'invalid_request_error');
    return { param: error.param, message: error.message, code: error.code };
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

describe('validateChatRequest', () => {
  it('returns the client object itself, unknown fields included', () => {
    const body = { model: 'm', messages, top_k: 5, chat_template_kwargs: { x: 1 } };
    assert.equal(validateChatRequest(body), body);
  });

  it('accepts every role and content form, tools, formats and nulls for optional fields', () => {
    const body = {
      model: 'm',
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'system', content: [{ type: 'text', text: 'sys' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'see' },
            { type: 'image_url', image_url: { url: 'data:,', detail: 'low' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'input_audio', input_audio: { data: 'AA==', format: 'wav' } },
            { type: 'file', file: {} },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }], refusal: null },
        { role: 'tool', tool_call_id: 'c1', content: 'result' },
        { role: 'function', name: 'f', content: 'old style' },
      ],
      tools: [
        { type: 'function', function: { name: 'f_1-x', parameters: { type: 'object' }, strict: true } },
        { type: 'custom' },
      ],
      tool_choice: { type: 'function', function: { name: 'f' } },
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: {}, strict: null } },
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      top_p: 1,
      n: 128,
      stop: ['a', 'b', 'c', 'd'],
      max_tokens: null,
      max_completion_tokens: 1,
      seed: -3,
      user: 'u',
      parallel_tool_calls: false,
      frequency_penalty: -2,
      presence_penalty: 2,
      logprobs: true,
      top_logprobs: 20,
      logit_bias: { '50256': -100 },
    };
    assert.equal(validateChatRequest(body), body);
  });

  it('names the first invalid field as OpenAI does', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ messages }, 'model', /model must be a string/],
      [{ model: '', messages }, 'model', /should not be empty/],
      [{ model: 'm' }, 'messages', /must be an array/],
      [{ model: 'm', messages: [] }, 'messages', /at least one message/],
      [{ model: 'm', messages: ['hi'] }, 'messages[0]', /must be an object/],
      [{ model: 'm', messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role', /role must be one of/],
      [{ model: 'm', messages: [{ role: 'user' }] }, 'messages[0].content', /content is required/],
      [{ model: 'm', messages: [{ role: 'user', content: [] }] }, 'messages[0].content', /empty array/],
      [
        { model: 'm', messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
        'messages[0].content',
        /text/,
      ],
      [
        { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url' }] }] },
        'messages[0].content',
        /image_url\.url/,
      ],
      [
        { model: 'm', messages: [...messages, { role: 'tool', content: 'x' }] },
        'messages[1].tool_call_id',
        /required for tool/,
      ],
      [{ model: 'm', messages: [{ role: 'user', content: 'x', name: 3 }] }, 'messages[0].name', /string/],
      [
        {
          model: 'm',
          messages: [{ role: 'assistant', content: null, tool_calls: [{ id: '', type: 'function', function: {} }] }],
        },
        'messages[0].tool_calls[0].id',
        /non-empty/,
      ],
      [
        {
          model: 'm',
          messages: [
            { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f' } }] },
          ],
        },
        'messages[0].tool_calls[0].function.arguments',
        /string/,
      ],
      [{ model: 'm', messages, temperature: 2.5 }, 'temperature', /not be greater than 2/],
      [{ model: 'm', messages, temperature: '1' }, 'temperature', /must be a number/],
      [{ model: 'm', messages, top_p: -0.1 }, 'top_p', /not be less than 0/],
      [{ model: 'm', messages, n: 0 }, 'n', /not be less than 1/],
      [{ model: 'm', messages, n: 1.5 }, 'n', /integer/],
      [{ model: 'm', messages, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
      [{ model: 'm', messages, max_tokens: 0 }, 'max_tokens', /not be less than 1/],
      [{ model: 'm', messages, stream: 'yes' }, 'stream', /boolean/],
      [
        { model: 'm', messages, stream_options: { include_usage: true } },
        'stream_options',
        /only allowed when 'stream' is true/,
      ],
      [
        { model: 'm', messages, stream: true, stream_options: { include_usage: 1 } },
        'stream_options.include_usage',
        /boolean/,
      ],
      [
        { model: 'm', messages, response_format: { type: 'yaml' } },
        'response_format.type',
        /text, json_object, json_schema/,
      ],
      [
        { model: 'm', messages, response_format: { type: 'json_schema', json_schema: { name: 'a b' } } },
        'response_format.json_schema.name',
        /1-64/,
      ],
      [{ model: 'm', messages, tools: [{ type: 'web' }] }, 'tools[0].type', /function, custom/],
      [
        { model: 'm', messages, tools: [{ type: 'function', function: { name: 'bad name' } }] },
        'tools[0].function.name',
        /1-64/,
      ],
      [
        { model: 'm', messages, tools: Array.from({ length: 129 }, () => ({ type: 'custom' })) },
        'tools',
        /no more than 128/,
      ],
      [{ model: 'm', messages, tool_choice: 'sometimes' }, 'tool_choice', /'none', 'auto', 'required'/],
      [{ model: 'm', messages, frequency_penalty: -3 }, 'frequency_penalty', /not be less than -2/],
      [{ model: 'm', messages, top_logprobs: 21 }, 'top_logprobs', /not be greater than 20/],
      [{ model: 'm', messages, logit_bias: [1] }, 'logit_bias', /object/],
      [{ model: 'm', messages, user: 7 }, 'user', /string/],
    ];
    for (const [body, param, message] of cases) {
      const found = problem(body);
      assert.equal(found.param, param, JSON.stringify(body));
      assert.equal(found.code, 'invalid_value');
      assert.match(found.message, new RegExp(`^Invalid value for '${param.replace(/[[\].]/g, '\\$&')}': `));
      assert.match(found.message, message, JSON.stringify(body));
    }
  });

  it('rejects a body that is not a JSON object as invalid_json', () => {
    for (const body of [null, [], 'text', 3]) {
      const found = problem(body);
      assert.equal(found.code, 'invalid_json');
      assert.equal(found.param, null);
    }
  });
});
