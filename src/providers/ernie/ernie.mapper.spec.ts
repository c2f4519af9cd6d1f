import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import { readSseEvents } from '../../upstream/sse-parser.js';
import { requestFixtures } from './__fixtures__/chat-requests.js';
import { responseFixtures } from './__fixtures__/chat-responses.js';
import { errorCodeFixtures } from './__fixtures__/error-codes.js';
import {
  FUNCTION_CALL_STREAM,
  MID_STREAM_ERROR,
  TEXT_ON_LAST_EVENT_STREAM,
  TEXT_STREAM,
  TRUNCATED_STREAM,
} from './__fixtures__/stream-transcripts.js';
import {
  createErnieStreamState,
  fromErnieResponse,
  readErnieChunks,
  resolveErnieModel,
  toErnieRequest,
  toGatewayErrorFromErnie,
  toGatewayErrorFromErnieHttp,
} from './ernie.mapper.js';

const PROVIDER = 'ernie';

function request(overrides: Partial<ChatCompletionRequest>): ChatCompletionRequest {
  return { model: 'ERNIE-3.5-8K', messages: [{ role: 'user', content: 'Hi' }], ...overrides };
}

function rejects400(input: ChatCompletionRequest, param: string): void {
  assert.throws(
    () => toErnieRequest(input, { endpoint: 'completions', maxOutputTokens: 2048 }),
    (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, param);
      return true;
    },
  );
}

/** Feeds `text` in pieces of `size` bytes, as a network would. */
function wire(text: string, size = 7): Readable {
  const bytes = Buffer.from(text);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) pieces.push(bytes.subarray(offset, offset + size));
  return Readable.from(pieces);
}

async function collect(text: string, input: ChatCompletionRequest): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of readErnieChunks(readSseEvents(wire(text)), createErnieStreamState(input), PROVIDER)) {
    chunks.push(chunk);
  }
  return chunks;
}

describe('resolveErnieModel', () => {
  it('maps display names, aliases and v2-style ids case-insensitively', () => {
    assert.deepEqual(resolveErnieModel(PROVIDER, 'ERNIE-4.0-8K'), {
      endpoint: 'completions_pro',
      maxOutputTokens: 2048,
    });
    assert.equal(resolveErnieModel(PROVIDER, 'ERNIE-Bot-4').endpoint, 'completions_pro');
    assert.equal(resolveErnieModel(PROVIDER, 'ernie-3.5-8k').endpoint, 'completions');
    assert.equal(resolveErnieModel(PROVIDER, 'ERNIE-Speed-8K').endpoint, 'ernie_speed');
    assert.equal(resolveErnieModel(PROVIDER, 'ERNIE-Bot-turbo').endpoint, 'eb-instant');
    assert.deepEqual(resolveErnieModel(PROVIDER, 'ERNIE-Speed-128K'), {
      endpoint: 'ernie-speed-128k',
      maxOutputTokens: 4096,
    });
  });

  it('prefers configured endpoints, exact or case-insensitive, keeping a known model maximum', () => {
    const overrides = { 'My-Deployment': 'custom_ep', 'ERNIE-3.5-8K': 'my_35' };
    assert.deepEqual(resolveErnieModel(PROVIDER, 'my-deployment', overrides), {
      endpoint: 'custom_ep',
      maxOutputTokens: undefined,
    });
    assert.deepEqual(resolveErnieModel(PROVIDER, 'ERNIE-3.5-8K', overrides), {
      endpoint: 'my_35',
      maxOutputTokens: 2048,
    });
  });

  it('answers 404 model_not_found for an unknown model', () => {
    assert.throws(
      () => resolveErnieModel(PROVIDER, 'ERNIE-Speed'),
      (error: unknown) =>
        error instanceof GatewayError &&
        error.status === 404 &&
        error.code === 'model_not_found' &&
        error.param === 'model',
    );
  });
});

describe('toErnieRequest', () => {
  for (const fixture of requestFixtures) {
    it(fixture.name, () => {
      const model = resolveErnieModel(PROVIDER, fixture.request.model, { 'my-deployment': 'custom_ep' });
      assert.equal(model.maxOutputTokens, fixture.maxOutputTokens);
      assert.deepEqual(toErnieRequest(fixture.request, model), fixture.expected);
    });
  }

  it('gives an odd-length, alternating list that ends with the user', () => {
    const body = toErnieRequest(
      request({
        messages: [
          { role: 'assistant', content: 'greeting' },
          { role: 'assistant', content: 'another greeting' },
          { role: 'user', content: 'a' },
          { role: 'system', content: 'late system' },
          { role: 'user', content: 'b' },
        ],
      }),
      { endpoint: 'completions' },
    );
    assert.deepEqual(body.messages, [{ role: 'user', content: 'a\nb' }]);
    assert.equal(body.system, 'late system');
  });

  it('rejects what v1 cannot do with a 400 naming the parameter', () => {
    rejects400(request({ n: 2 }), 'n');
    rejects400(request({ logprobs: true }), 'logprobs');
    rejects400(request({ top_logprobs: 2 }), 'top_logprobs');
    rejects400(request({ logit_bias: { '50256': -100 } }), 'logit_bias');
    rejects400(request({ modalities: ['text', 'audio'] }), 'modalities');
    rejects400(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
            ],
          },
        ],
      }),
      'messages[0].content[1]',
    );
  });

  it('takes json_schema as JSON mode with the schema in system, the closest ERNIE v1 has', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const body = toErnieRequest(
      request({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Where?' },
        ],
        response_format: { type: 'json_schema', json_schema: { name: 'place', description: 'a place', schema } },
      }),
      { endpoint: 'completions' },
    );
    assert.equal(body.response_format, 'json_object');
    assert.equal(
      body.system,
      `Be brief.\n\nAnswer with one JSON object only, "place" (a place), valid against this JSON Schema:\n${JSON.stringify(schema)}`,
    );
    assert.equal(
      toErnieRequest(request({ response_format: { type: 'json_object' } }), { endpoint: 'completions' }).system,
      undefined,
    );
  });

  it('rejects conversations v1 cannot express', () => {
    rejects400(request({ messages: [] }), 'messages');
    rejects400(request({ messages: [{ role: 'system', content: 'only a persona' }] }), 'messages');
    rejects400(
      request({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hel' },
        ],
      }),
      'messages[1]',
    );
    rejects400(request({ messages: [{ role: 'user', content: '   ' }] }), 'messages[0].content');
    rejects400(
      request({
        messages: [
          { role: 'user', content: 'Hi' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
              { id: 'b', type: 'function', function: { name: 'g', arguments: '{}' } },
            ],
          },
        ],
      }),
      'messages[1].tool_calls',
    );
    rejects400(
      request({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'tool', tool_call_id: 'nope', content: 'x' },
        ],
      }),
      'messages[1].tool_call_id',
    );
    rejects400(
      request({
        messages: [
          { role: 'user', content: 'Weather?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'w', arguments: '{}' } }],
          },
          { role: 'tool', tool_call_id: 'c', content: 'sunny' },
          { role: 'user', content: 'thanks' },
        ],
      }),
      'messages[3]',
    );
  });

  it('rejects numbers outside OpenAI ranges and stop lists v1 cannot take', () => {
    rejects400(request({ temperature: 2.5 }), 'temperature');
    rejects400(request({ top_p: 1.5 }), 'top_p');
    rejects400(request({ presence_penalty: 3 }), 'presence_penalty');
    rejects400(request({ max_tokens: 0 }), 'max_tokens');
    rejects400(request({ max_completion_tokens: 1.5 }), 'max_completion_tokens');
    rejects400(request({ stop: ['1', '2', '3', '4', '5'] }), 'stop');
    rejects400(request({ stop: 'x'.repeat(21) }), 'stop');
  });

  it('forces the only tool for tool_choice required, and refuses it with several', () => {
    const tool = (name: string) => ({ type: 'function' as const, function: { name } });
    const body = toErnieRequest(request({ tools: [tool('f')], tool_choice: 'required' }), { endpoint: 'completions' });
    assert.deepEqual(body.tool_choice, { type: 'function', function: { name: 'f' } });
    rejects400(request({ tools: [tool('f'), tool('g')], tool_choice: 'required' }), 'tool_choice');
    rejects400(request({ tool_choice: 'required' }), 'tool_choice');
  });
});

describe('fromErnieResponse', () => {
  for (const fixture of responseFixtures) {
    it(fixture.name, () => {
      assert.deepEqual(fromErnieResponse(fixture.response, 'ERNIE-3.5-8K'), fixture.expected);
    });
  }
});

describe('readErnieChunks', () => {
  const streamRequest = (includeUsage: boolean) =>
    request({
      model: 'ernie-alias',
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });

  it('translates the recorded transcript chunk by chunk, usage only in the final usage chunk', async () => {
    const chunks = await collect(TEXT_STREAM, streamRequest(true));
    const base = {
      id: 'chatcmpl-as-vb0m37ti8y',
      object: 'chat.completion.chunk',
      created: 1709089502,
      model: 'ernie-alias',
    };
    assert.deepEqual(chunks, [
      {
        ...base,
        choices: [
          { index: 0, delta: { role: 'assistant', content: '当然可以，' }, logprobs: null, finish_reason: null },
        ],
        usage: null,
      },
      {
        ...base,
        choices: [{ index: 0, delta: { content: '以下是一个简单的故事。' }, logprobs: null, finish_reason: null }],
        usage: null,
      },
      { ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null },
      { ...base, choices: [], usage: { prompt_tokens: 5, completion_tokens: 420, total_tokens: 425 } },
    ]);
  });

  it('sends no usage chunk unless include_usage was asked for', async () => {
    const chunks = await collect(TEXT_STREAM, streamRequest(false));
    assert.equal(chunks.length, 3);
    assert.ok(chunks.every((chunk) => chunk.usage === null && chunk.choices.length === 1));
    assert.equal(chunks.at(-1)?.choices[0].finish_reason, 'stop');
  });

  it('emits text carried by the final event before the finish chunk', async () => {
    const chunks = await collect(TEXT_ON_LAST_EVENT_STREAM, streamRequest(true));
    assert.deepEqual(
      chunks.map((chunk) => [chunk.choices[0]?.delta, chunk.choices[0]?.finish_reason ?? null]),
      [
        [{ role: 'assistant', content: 'Hello ' }, null],
        [{ content: 'world.' }, null],
        [{}, 'length'],
        [undefined, null],
      ],
    );
    assert.ok(chunks.every((chunk) => chunk.id === 'chatcmpl-as-last1' && chunk.created === 1709000000));
  });

  it('streams a function call as one tool_calls delta and a tool_calls finish', async () => {
    const chunks = await collect(FUNCTION_CALL_STREAM, streamRequest(false));
    assert.deepEqual(chunks[0].choices[0].delta, {
      role: 'assistant',
      tool_calls: [
        {
          index: 0,
          id: 'call_as-fcs1',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ],
    });
    assert.equal(chunks[1].choices[0].finish_reason, 'tool_calls');
    assert.equal(chunks.length, 2);
  });

  it('throws streamInterrupted when the stream ends without is_end', async () => {
    await assert.rejects(collect(TRUNCATED_STREAM, streamRequest(true)), (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.code, 'upstream_stream_interrupted');
      return true;
    });
  });

  it('throws streamInterrupted with Baidu text and code for an error event mid-stream', async () => {
    await assert.rejects(collect(MID_STREAM_ERROR, streamRequest(true)), (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.code, 'upstream_stream_interrupted');
      assert.match(error.message, /try again later \(336100\)/);
      return true;
    });
  });
});

describe('toGatewayErrorFromErnie', () => {
  for (const fixture of errorCodeFixtures) {
    it(`${fixture.errorCode} → ${fixture.status} ${fixture.code}`, () => {
      const error = toGatewayErrorFromErnie(PROVIDER, { error_code: fixture.errorCode, error_msg: fixture.errorMsg });
      assert.deepEqual(
        { status: error.status, type: error.type, code: error.code, retryable: error.retryable },
        { status: fixture.status, type: fixture.type, code: fixture.code, retryable: fixture.retryable },
      );
      if (fixture.code !== 'upstream_auth_error') {
        assert.equal(error.message, `ernie: ${fixture.errorMsg} (${fixture.errorCode})`);
      }
    });
  }

  it('maps a non-2xx answer by its ERNIE body, else by its status', () => {
    assert.equal(toGatewayErrorFromErnieHttp(PROVIDER, 500, { error_code: 18, error_msg: 'qps' }, {}).status, 429);
    assert.equal(toGatewayErrorFromErnieHttp(PROVIDER, 502, '<html>bad gateway</html>', {}).status, 502);
    assert.equal(toGatewayErrorFromErnieHttp(PROVIDER, 429, '', { 'retry-after': '3' }).retryAfterMs, 3000);
  });
});
