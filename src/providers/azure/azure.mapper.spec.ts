import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import { RAW_JSON, type WithRawJson } from '../llm-provider.js';
import { readOpenAiChunks } from '../openai/openai.mapper.js';
import {
  azureOperationPath,
  azureRetryAfterMs,
  filteredCategories,
  toAzureChatRequest,
  toGatewayErrorFromAzure,
} from './azure.mapper.js';
import type { AzureContentFilterResult } from './azure.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');
const fixture = <T>(name: string): T => JSON.parse(fixtureText(name)) as T;

interface ErrorFixture {
  name: string;
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
  expected: { status: number; code: string; param?: string; message?: string; retryAfterMs?: number };
}

async function collect(pieces: Buffer[]): Promise<WithRawJson<ChatCompletionChunk>[]> {
  const chunks: WithRawJson<ChatCompletionChunk>[] = [];
  async function* body() {
    for (const piece of pieces) yield piece;
  }
  for await (const chunk of readOpenAiChunks(body(), 'azure')) chunks.push(chunk);
  return chunks;
}

describe('azureOperationPath', () => {
  it('puts the deployment and api-version in the path of the deployments API', () => {
    assert.equal(
      azureOperationPath('deployments', 'chat/completions', 'gpt-4o', '2024-10-21'),
      '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21',
    );
    assert.equal(
      azureOperationPath('deployments', 'embeddings', 'my embed/1', '2024-10-21'),
      '/openai/deployments/my%20embed%2F1/embeddings?api-version=2024-10-21',
    );
  });

  it('uses one path per operation for the v1 API, api-version only when set', () => {
    assert.equal(azureOperationPath('v1', 'chat/completions', 'gpt-4o', undefined), '/openai/v1/chat/completions');
    assert.equal(
      azureOperationPath('v1', 'embeddings', 'embed', 'preview'),
      '/openai/v1/embeddings?api-version=preview',
    );
  });
});

describe('toAzureChatRequest', () => {
  const plain: ChatCompletionRequest = {
    model: 'chat',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
    ],
    tools: [{ type: 'function', function: { name: 'f' } }],
    reasoning_effort: 'low',
    prompt_cache_key: 'session-1',
    data_sources: [{ type: 'azure_search' }],
  };

  it('returns the request itself when it carries no gateway extension', () => {
    assert.equal(toAzureChatRequest(plain), plain);
  });

  it('leaves out the gateway extensions and keeps everything else, without touching the input', () => {
    const request: ChatCompletionRequest = {
      ...plain,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        { role: 'system', content: 'be brief', cache_control: { type: 'ephemeral' } },
        { role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] },
        {
          role: 'assistant',
          content: 'thought',
          reasoning_content: 'because',
          thinking_blocks: [{ type: 'thinking', thinking: 'because', signature: 'sig' }],
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'f', arguments: '{}' },
              extra_content: { google: { thought_signature: 'ts' } },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
      ],
      tools: [{ type: 'function', function: { name: 'f' }, cache_control: { type: 'ephemeral' } }],
    };
    const before = structuredClone(request);
    const azure = toAzureChatRequest(request);
    assert.deepEqual(request, before);
    assert.deepEqual(azure, {
      ...plain,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        {
          role: 'assistant',
          content: 'thought',
          tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'ok' },
      ],
    });
    assert.equal(azure.messages[3], request.messages[3], 'untouched messages are not copied');
  });
});

describe('toGatewayErrorFromAzure', () => {
  for (const example of fixture<ErrorFixture[]>('errors.json')) {
    it(`maps ${example.name}`, () => {
      const error = toGatewayErrorFromAzure('azure', example.status, example.body, example.headers);
      const { expected } = example;
      assert.equal(error.status, expected.status);
      assert.equal(error.code, expected.code);
      assert.equal(error.fromUpstream, true);
      if (expected.param !== undefined) assert.equal(error.param, expected.param);
      if (expected.message !== undefined) assert.ok(error.message.includes(expected.message), error.message);
      if (expected.retryAfterMs !== undefined) assert.equal(error.retryAfterMs, expected.retryAfterMs);
      assert.ok(error.message.startsWith('azure: '));
      assert.ok(error.message.length <= 'azure: '.length + 501, 'clipped');
    });
  }

  it('keeps the names of the content filter categories ahead of Azure’s long message', () => {
    const [promptFilter] = fixture<ErrorFixture[]>('errors.json');
    const error = toGatewayErrorFromAzure('azure', 400, promptFilter.body, {});
    assert.match(error.message, /^azure: the content filter refused the request \(hate \(high\)\)\. The response was/);
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.retryable, false);
  });

  it('maps the other statuses as OpenAI’s', () => {
    assert.equal(toGatewayErrorFromAzure('azure', 403, { error: { code: '403', message: 'no' } }, {}).status, 403);
    assert.equal(toGatewayErrorFromAzure('azure', 500, { error: { code: 'InternalServerError' } }, {}).status, 500);
    const tooLong = toGatewayErrorFromAzure(
      'azure',
      400,
      { error: { code: 'context_length_exceeded', message: 'too long', param: 'messages' } },
      {},
    );
    assert.equal(tooLong.code, 'context_length_exceeded');
  });
});

describe('azureRetryAfterMs', () => {
  it('prefers the headers, then the reset header, then the message', () => {
    assert.equal(azureRetryAfterMs({ 'retry-after': '3' }, 'Please retry after 9 seconds.'), 3000);
    assert.equal(azureRetryAfterMs({ 'x-ratelimit-reset-tokens': '4' }, undefined), 4000);
    assert.equal(azureRetryAfterMs({}, 'Please retry after 1 second.'), 1000);
    assert.equal(azureRetryAfterMs({}, 'slow down'), undefined);
  });
});

describe('filteredCategories', () => {
  it('names what the output filter stopped in a completion', () => {
    const completion = fixture<ChatCompletion>('completion-filtered.json');
    assert.equal(completion.choices[0].finish_reason, 'content_filter');
    const results = (completion.choices[0] as unknown as { content_filter_results: AzureContentFilterResult })
      .content_filter_results;
    assert.deepEqual(filteredCategories(results), ['violence (medium)']);
  });

  it('reads the blocklist list of older API versions and ignores what is only annotated', () => {
    assert.deepEqual(
      filteredCategories({
        custom_blocklists: [
          { filtered: true, id: 'a' },
          { filtered: false, id: 'b' },
        ],
        profanity: { filtered: false, detected: true },
        indirect_attack: { filtered: true, detected: true },
      }),
      ['custom_blocklists (a)', 'indirect_attack'],
    );
    assert.deepEqual(filteredCategories(undefined), []);
  });
});

describe('Azure streams through the OpenAI reader', () => {
  const transcript = fixtureText('stream-annotated.sse');

  it('passes the prompt annotation chunk and the per-chunk annotations through byte for byte', async () => {
    const chunks = await collect([Buffer.from(transcript)]);
    const payloads = transcript
      .split('\n\n')
      .filter((frame) => frame.startsWith('data: ') && frame !== 'data: [DONE]')
      .map((frame) => frame.slice('data: '.length));
    assert.deepEqual(
      chunks.map((chunk) => chunk[RAW_JSON]),
      payloads,
    );
    const [annotation] = chunks;
    assert.deepEqual(annotation.choices, []);
    assert.equal(annotation.id, '');
    assert.ok(Array.isArray(annotation.prompt_filter_results));
    assert.equal(chunks.at(-1)?.usage?.total_tokens, 10);
  });

  it('reads the same chunks whatever byte the transport splits the stream at', async () => {
    const bytes = Buffer.from(transcript);
    const whole = (await collect([bytes])).map((chunk) => chunk[RAW_JSON]);
    for (let at = 1; at < bytes.length; at++) {
      const split = await collect([bytes.subarray(0, at), bytes.subarray(at)]);
      assert.deepEqual(
        split.map((chunk) => chunk[RAW_JSON]),
        whole,
        `split at ${at}`,
      );
    }
  });
});
