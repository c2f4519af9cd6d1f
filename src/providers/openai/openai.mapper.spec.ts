import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpException } from '@nestjs/common';
import { GatewayError, RateLimitError } from '../../common/errors/gateway.error.js';
import { retryHeaders } from '../../common/errors/error-reply.js';
import { toGatewayError } from '../../common/errors/to-gateway-error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import { RAW_JSON, type WithRawJson } from '../llm-provider.js';
import {
  isReasoningModel,
  readOpenAiChunks,
  reasoningAsContent,
  toGatewayErrorFromOpenAi,
  toOpenAiRequest,
} from './openai.mapper.js';

const map = (status: number, body: unknown, headers = {}) => toGatewayErrorFromOpenAi('openai', status, body, headers);

describe('OpenAI upstream error mapping', () => {
  const cases: Array<[number, unknown, number, string, boolean]> = [
    [
      400,
      { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } },
      400,
      'invalid_request',
      false,
    ],
    [400, { error: { message: 'too long', code: 'context_length_exceeded' } }, 400, 'context_length_exceeded', false],
    [401, { error: { message: 'Incorrect API key provided: sk-abc' } }, 502, 'upstream_auth_error', false],
    [403, { error: { message: 'region' } }, 403, 'upstream_permission_denied', false],
    [404, { error: { message: 'no such model' } }, 404, 'model_not_found', false],
    [429, { error: { message: 'slow down', code: 'rate_limit_exceeded' } }, 429, 'rate_limit_exceeded', true],
    [
      429,
      { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
      429,
      'insufficient_quota',
      false,
    ],
    [500, { error: { message: 'boom' } }, 500, 'upstream_error', true],
    [503, 'Service Unavailable', 503, 'overloaded', true],
    [504, null, 504, 'upstream_timeout', true],
  ];
  for (const [status, body, expectedStatus, code, retryable] of cases) {
    it(`${status} ${code}`, () => {
      const error = map(status, body);
      assert.equal(error.status, expectedStatus);
      assert.equal(error.code, code);
      assert.equal(error.retryable, retryable);
      assert.ok(error.message.startsWith('openai: '));
    });
  }

  it('never passes the upstream 401 message on (it may echo the key)', () => {
    assert.doesNotMatch(map(401, { error: { message: 'Incorrect API key provided: sk-abc' } }).message, /sk-abc/);
  });

  it("keeps the upstream's Retry-After on 429", () => {
    assert.equal(map(429, {}, { 'retry-after': '3' }).retryAfterMs, 3_000);
  });

  it('keeps the param the upstream named', () => {
    assert.equal(map(400, { error: { message: 'x', param: 'messages[0]' } }).param, 'messages[0]');
  });
});

describe('retry headers', () => {
  it('advertise Retry-After in seconds and ms, capped at 60 s', () => {
    assert.deepEqual(retryHeaders(new RateLimitError('x', 2_500)), { 'retry-after': '3', 'retry-after-ms': '2500' });
    assert.deepEqual(retryHeaders(new RateLimitError('x', 600_000)), {
      'retry-after': '60',
      'retry-after-ms': '60000',
    });
  });

  it('tell the SDK not to retry a permanent 429/5xx', () => {
    assert.deepEqual(retryHeaders(new GatewayError(502, 'server_error', 'x', { retryable: false })), {
      'x-should-retry': 'false',
    });
    assert.deepEqual(retryHeaders(new GatewayError(400, 'invalid_request_error', 'x')), {});
  });
});

describe('toGatewayError', () => {
  it('maps Fastify body errors and hides unknown errors behind a generic 500', () => {
    assert.equal(toGatewayError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 100).status, 413);
    assert.equal(toGatewayError(new SyntaxError('Unexpected token'), 100).code, 'invalid_json');
    const hidden = toGatewayError(new Error('secret stack detail sk-123'), 100);
    assert.equal(hidden.status, 500);
    assert.doesNotMatch(hidden.message, /sk-123/);
    assert.equal(toGatewayError(new HttpException('nope', 404), 100).status, 404);
  });
});

describe('toOpenAiRequest', () => {
  const plain: ChatCompletionRequest = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], top_k: 5 };

  it('sends a request without gateway extensions as the same object, vendor extras included', () => {
    assert.equal(toOpenAiRequest(plain), plain);
  });

  it('turns thinking into reasoning_effort, unless an effort is set', () => {
    assert.equal(toOpenAiRequest({ ...plain, thinking: { type: 'adaptive' } }).reasoning_effort, 'medium');
    assert.equal(
      toOpenAiRequest({ ...plain, thinking: { type: 'enabled', budget_tokens: 1_024 } }).reasoning_effort,
      'low',
    );
    assert.equal(
      toOpenAiRequest({ ...plain, thinking: { type: 'enabled', budget_tokens: 32_000 } }).reasoning_effort,
      'high',
    );
    const both = toOpenAiRequest({ ...plain, thinking: { type: 'adaptive' }, reasoning_effort: 'minimal' });
    assert.equal(both.reasoning_effort, 'minimal');
    assert.ok(!('thinking' in both));
    assert.ok(!('reasoning_effort' in toOpenAiRequest({ ...plain, thinking: { type: 'disabled' } })));
  });

  it('leaves out thinking blocks, thought signatures and cache markers, and keeps reasoning_content', () => {
    const request: ChatCompletionRequest = {
      model: 'deepseek-reasoner',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }] },
        {
          role: 'assistant',
          content: 'x',
          reasoning_content: 'because',
          thinking_blocks: [{ type: 'thinking', thinking: 'because', signature: 'sig' }],
          tool_calls: [
            {
              id: 'c1',
              type: 'function',
              function: { name: 'f', arguments: '{}' },
              extra_content: { google: { thought_signature: 's' } },
            },
          ],
          cache_control: { type: 'ephemeral' },
        },
      ],
      tools: [{ type: 'function', function: { name: 'f' }, cache_control: { type: 'ephemeral' } }],
    };
    const body = toOpenAiRequest(request);
    assert.deepEqual(body.messages, [
      { role: 'system', content: [{ type: 'text', text: 'sys' }] },
      {
        role: 'assistant',
        content: 'x',
        reasoning_content: 'because',
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
      },
    ]);
    assert.deepEqual(body.tools, [{ type: 'function', function: { name: 'f' } }]);
    assert.ok(request.messages[1].thinking_blocks, 'the request itself is unchanged');
  });
});

describe('isReasoningModel', () => {
  it('knows reasoning models by name', () => {
    for (const model of ['o1', 'o3-mini', 'o4-mini', 'gpt-5', 'gpt-5.1-codex', 'gpt-oss-120b', 'deepseek-reasoner']) {
      assert.ok(isReasoningModel(model), model);
    }
    for (const model of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'llama-3.1-70b'])
      assert.ok(!isReasoningModel(model), model);
  });
});

async function* bodyOf(frames: string[]): AsyncGenerator<string> {
  for (const frame of frames) yield frame;
}

describe('reasoning named `reasoning` (OpenRouter)', () => {
  it('becomes reasoning_content in streamed chunks, which are then re-serialised', async () => {
    const chunk = {
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index: 0, delta: { reasoning: 'thinking…' }, finish_reason: null }],
    };
    const body = [`data: ${JSON.stringify(chunk)}\n\n`, 'data: [DONE]\n\n'];
    const chunks: Array<WithRawJson<ChatCompletionChunk>> = [];
    for await (const read of readOpenAiChunks(bodyOf(body), 'or')) chunks.push(read);
    assert.deepEqual(chunks[0].choices[0].delta, { reasoning_content: 'thinking…' });
    assert.equal(chunks[0][RAW_JSON], undefined);
  });

  it('leaves reasoning_content as the upstream sent it, and other chunks byte for byte', async () => {
    const message = { role: 'assistant', reasoning_content: 'kept', reasoning: 'dropped' };
    assert.equal(reasoningAsContent(message), true);
    assert.deepEqual(message, { role: 'assistant', reasoning_content: 'kept' });
    assert.equal(reasoningAsContent({ reasoning_content: 'only' }), false);
    const plain = `data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n`;
    for await (const read of readOpenAiChunks(bodyOf([plain, 'data: [DONE]\n\n']), 'or')) assert.ok(read[RAW_JSON]);
  });
});
