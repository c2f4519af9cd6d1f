import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import { validateResponsesRequest } from './responses.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as Record<string, unknown>;

function problem(body: unknown): { param: string | null; message: string; code: string | null } {
  try {
    validateResponsesRequest(body);
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.status, 400);
    assert.equal(error.type, 'invalid_request_error');
    return { param: error.param, message: error.message, code: error.code };
  }
  assert.fail(`accepted ${JSON.stringify(body)}`);
}

const ok = (body: Record<string, unknown>) => ({ model: 'm', input: 'hi', ...body });

describe('validateResponsesRequest', () => {
  it('returns the client object itself, unknown fields included', () => {
    const body = ok({ client_metadata: { session_id: 's' }, top_k: 3 });
    assert.equal(validateResponsesRequest(body), body);
  });

  it('accepts what Codex CLI 0.171 sends on its first and second turn (recorded)', () => {
    for (const name of ['codex-turn1.request.json', 'codex-turn2.request.json']) {
      const body = fixture(name);
      assert.equal(validateResponsesRequest(body), body);
    }
  });

  it('accepts every item, part and tool form, and nulls for optional fields', () => {
    const body = {
      model: 'm',
      instructions: null,
      input: [
        { role: 'developer', content: 'be brief' },
        { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'sys' }] },
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'see', prompt_cache_breakpoint: { mode: 'explicit' } },
            { type: 'input_image', image_url: 'data:image/png;base64,AA==', detail: 'low' },
            { type: 'input_image', file_id: 'file-1', detail: null },
            { type: 'input_file', file_data: 'data:application/pdf;base64,AA==', filename: 'a.pdf' },
            { type: 'input_file', file_url: 'https://example.com/a.pdf', detail: 'high' },
          ],
        },
        {
          type: 'message',
          role: 'assistant',
          id: 'msg_1',
          status: 'completed',
          content: [
            { type: 'output_text', text: 'hello', annotations: [] },
            { type: 'refusal', refusal: 'no' },
          ],
        },
        { role: 'assistant', content: 'plain' },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 't' }], encrypted_content: null },
        { type: 'reasoning', id: 'rs_2', summary: [], content: [{ type: 'reasoning_text', text: 'raw' }] },
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}', namespace: 'ns', status: 'completed' },
        { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_text', text: 'r' }] },
        { type: 'custom_tool_call', call_id: 'c2', name: 'patch', input: '*** Begin Patch' },
        { type: 'custom_tool_call_output', call_id: 'c2', output: 'done' },
        { type: 'item_reference', id: 'msg_0' },
        { id: 'msg_0' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed', action: { type: 'search', query: 'q' } },
      ],
      tools: [
        { type: 'function', name: 'f_1-x', parameters: { type: 'object' }, strict: null, description: null },
        { type: 'custom', name: 'patch', format: { type: 'grammar', syntax: 'lark', definition: 'start: "x"' } },
        { type: 'custom', name: 'free', format: { type: 'text' } },
        { type: 'namespace', name: 'ns', description: 'd', tools: [{ type: 'function', name: 'g' }] },
        { type: 'web_search', external_web_access: false },
        { type: 'mcp', server_label: 's' },
      ],
      tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'f_1-x' }] },
      parallel_tool_calls: null,
      max_output_tokens: 16,
      temperature: 2,
      top_p: 0,
      top_logprobs: 20,
      text: { format: { type: 'json_schema', name: 'x', schema: {}, strict: null }, verbosity: 'low' },
      reasoning: { effort: 'max', summary: 'detailed' },
      metadata: { k: 'v' },
      stream: true,
      stream_options: { include_obfuscation: false },
      store: false,
      include: ['reasoning.encrypted_content', 'message.output_text.logprobs'],
      truncation: 'auto',
      service_tier: 'flex',
      prompt_cache_retention: '24h',
      safety_identifier: 'u1',
      previous_response_id: 'resp_1',
    };
    assert.equal(validateResponsesRequest(body), body);
    for (const choice of ['none', 'auto', 'required', { type: 'function', name: 'f' }, { type: 'custom', name: 'p' }]) {
      validateResponsesRequest(ok({ tool_choice: choice }));
    }
    validateResponsesRequest(ok({ tool_choice: { type: 'web_search_preview' } }));
    validateResponsesRequest(ok({ tool_choice: { type: 'mcp', server_label: 's' } }));
    validateResponsesRequest(ok({ conversation: { id: 'conv_1' }, prompt: { id: 'pmpt_1' } }));
  });

  it('names the first bad field the way the Responses API does', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ model: '' }, 'model'],
      [{ model: 3 }, 'model'],
      [{ input: 5 }, 'input'],
      [{ input: ['x'] }, 'input[0]'],
      [{ input: [{ content: 'x' }] }, 'input[0].type'],
      [{ input: [{ type: 'bogus' }] }, 'input[0].type'],
      [{ input: [{ role: 'tool', content: 'x' }] }, 'input[0].role'],
      [{ input: [{ role: 'user', content: 5 }] }, 'input[0].content'],
      [{ input: [{ role: 'user', content: [{ type: 'output_text', text: 'x' }] }] }, 'input[0].content[0].type'],
      [{ input: [{ role: 'user', content: [{ type: 'input_text' }] }] }, 'input[0].content[0].text'],
      [{ input: [{ role: 'user', content: [{ type: 'input_image' }] }] }, 'input[0].content[0].image_url'],
      [
        { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'u', detail: 'max' }] }] },
        'input[0].content[0].detail',
      ],
      [{ input: [{ role: 'user', content: [{ type: 'input_file' }] }] }, 'input[0].content[0].file_data'],
      [
        {
          input: [
            {
              role: 'user',
              content: [{ type: 'input_text', text: 'x', prompt_cache_breakpoint: { mode: 'implicit' } }],
            },
          ],
        },
        'input[0].content[0].prompt_cache_breakpoint.mode',
      ],
      [
        { input: [{ role: 'assistant', content: [{ type: 'input_image', image_url: 'u' }] }] },
        'input[0].content[0].type',
      ],
      [{ input: [{ type: 'function_call', call_id: '', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
      [{ input: [{ type: 'function_call', call_id: 'c', name: 'f', arguments: {} }] }, 'input[0].arguments'],
      [{ input: [{ type: 'function_call_output', call_id: 'c', output: 3 }] }, 'input[0].output'],
      [{ input: [{ type: 'custom_tool_call', call_id: 'c', name: 'f' }] }, 'input[0].input'],
      [{ input: [{ type: 'reasoning', id: 'rs', summary: 'x' }] }, 'input[0].summary'],
      [
        { input: [{ type: 'reasoning', id: 'rs', summary: [{ type: 'text', text: 'x' }] }] },
        'input[0].summary[0].type',
      ],
      [{ input: [{ type: 'reasoning', id: 'rs', summary: [], encrypted_content: 1 }] }, 'input[0].encrypted_content'],
      [{ instructions: 1 }, 'instructions'],
      [{ tools: {} }, 'tools'],
      [{ tools: [{ type: 'browser' }] }, 'tools[0].type'],
      [{ tools: [{ type: 'function', name: 'a b' }] }, 'tools[0].name'],
      [{ tools: [{ type: 'function', name: 'f', parameters: [] }] }, 'tools[0].parameters'],
      [{ tools: [{ type: 'function', name: 'f', strict: 'yes' }] }, 'tools[0].strict'],
      [
        { tools: [{ type: 'custom', name: 'p', format: { type: 'grammar', syntax: 'ebnf' } }] },
        'tools[0].format.syntax',
      ],
      [{ tools: [{ type: 'namespace', name: 'ns', description: 'd', tools: [] }] }, 'tools[0].tools'],
      [
        { tools: [{ type: 'namespace', name: 'ns', description: 'd', tools: [{ type: 'mcp' }] }] },
        'tools[0].tools[0].type',
      ],
      [{ tools: [{ type: 'namespace', name: '', description: 'd', tools: [] }] }, 'tools[0].name'],
      [{ tool_choice: 'any' }, 'tool_choice'],
      [{ tool_choice: { type: 'function' } }, 'tool_choice'],
      [{ tool_choice: { type: 'allowed_tools', mode: 'auto', tools: 'f' } }, 'tool_choice.tools'],
      [{ tool_choice: { type: 'allowed_tools', mode: 'none', tools: [] } }, 'tool_choice.mode'],
      [{ parallel_tool_calls: 'true' }, 'parallel_tool_calls'],
      [{ max_output_tokens: 15 }, 'max_output_tokens'],
      [{ max_output_tokens: 1.5 }, 'max_output_tokens'],
      [{ temperature: 2.1 }, 'temperature'],
      [{ top_p: -0.1 }, 'top_p'],
      [{ top_logprobs: 21 }, 'top_logprobs'],
      [{ text: { format: { type: 'xml' } } }, 'text.format.type'],
      [{ text: { format: { type: 'json_schema', name: 'bad name', schema: {} } } }, 'text.format.name'],
      [{ text: { format: { type: 'json_schema', name: 'x' } } }, 'text.format.schema'],
      [{ text: { verbosity: 'loud' } }, 'text.verbosity'],
      [{ reasoning: { effort: 'extreme' } }, 'reasoning.effort'],
      [{ reasoning: { summary: 'short' } }, 'reasoning.summary'],
      [{ metadata: { k: 1 } }, 'metadata.k'],
      [{ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata'],
      [{ safety_identifier: 'x'.repeat(65) }, 'safety_identifier'],
      [{ stream: 'yes' }, 'stream'],
      [{ stream_options: { include_obfuscation: true } }, 'stream_options'],
      [{ include: ['reasoning.summary'] }, 'include[0]'],
      [{ truncation: 'middle' }, 'truncation'],
      [{ service_tier: 'gold' }, 'service_tier'],
      [{ previous_response_id: 'resp_1', conversation: 'conv_1' }, 'conversation'],
      [{ prompt: { version: '1' } }, 'prompt.id'],
    ];
    for (const [fields, param] of cases) {
      const found = problem(ok(fields));
      assert.equal(found.param, param, JSON.stringify(fields));
      assert.equal(found.code, 'invalid_value');
      assert.match(found.message, new RegExp(`^Invalid value for '${param.replace(/[[\].]/g, '\\$&')}': `));
    }
  });

  it('refuses a body that is not an object as invalid JSON', () => {
    for (const body of [null, [], 'x', 3]) {
      const found = problem(body);
      assert.equal(found.code, 'invalid_json');
      assert.equal(found.param, null);
    }
  });
});
