import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type {
  AssistantMessage,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  EmbeddingRequest,
  ReasoningEffort,
  ThinkingConfig,
  ToolChoice,
  Usage,
} from '../../common/openai.types.js';
import {
  createGeminiStreamState,
  embeddingTexts,
  fromGeminiResponse,
  geminiGeneration,
  readGeminiChunks,
  retryDelayMs,
  toEmbeddingResponse,
  toFinishReason,
  toGatewayErrorFromGoogle,
  toGeminiRequest,
  toUsage,
} from './gemini.mapper.js';
import type { GeminiFinishReason, GeminiGenerateContentResponse } from './gemini.types.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixtureText = (name: string): string => readFileSync(`${FIXTURES}${name}`, 'utf8');
const fixture = <T>(name: string): T => JSON.parse(fixtureText(name)) as T;
const response = (name: string) => fixture<GeminiGenerateContentResponse>(name);

const NOW = 1_764_300_000_000;
const PROVIDER = 'gemini';

const chatRequest = (overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'gemini-2.5-flash',
  messages: [{ role: 'user', content: 'Hi' }],
  ...overrides,
});

function expectInvalid(request: ChatCompletionRequest, param: string): void {
  assert.throws(
    () => toGeminiRequest(request),
    (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.status, 400);
      assert.equal(error.param, param);
      assert.equal(error.fromUpstream, false);
      return true;
    },
  );
}

/** Splits a transcript into pieces of `size` bytes, so that events and lines straddle chunk boundaries. */
function pieces(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const result: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) result.push(bytes.subarray(offset, offset + size));
  return result;
}

async function readAll(body: Iterable<Buffer | string>, includeUsage = true): Promise<ChatCompletionChunk[]> {
  const state = createGeminiStreamState({ provider: PROVIDER, model: 'm', includeUsage, now: NOW });
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of readGeminiChunks(
    (async function* () {
      yield* body;
    })(),
    state,
  )) {
    chunks.push(chunk);
  }
  return chunks;
}

/** Folds chunks into the message a client keeping the gateway's extensions would have. */
function fold(chunks: ChatCompletionChunk[]): { message: AssistantMessage; finish: string | null; usage?: Usage } {
  const message: AssistantMessage = { role: 'assistant', content: null, refusal: null };
  let finish: string | null = null;
  let usage: Usage | undefined;
  for (const chunk of chunks) {
    if (chunk.usage) usage = chunk.usage;
    for (const { delta, finish_reason } of chunk.choices) {
      if (delta.content) message.content = (message.content ?? '') + delta.content;
      if (delta.reasoning_content)
        message.reasoning_content = (message.reasoning_content ?? '') + delta.reasoning_content;
      if (delta.extra_content) message.extra_content = delta.extra_content;
      for (const block of delta.thinking_blocks ?? []) {
        const blocks = (message.thinking_blocks ??= []);
        const last = blocks.at(-1);
        if (block.type === 'thinking' && last?.type === 'thinking' && last.signature === undefined) {
          last.thinking += block.thinking;
          if (block.signature) last.signature = block.signature;
        } else blocks.push({ ...block });
      }
      for (const call of delta.tool_calls ?? []) {
        const calls = (message.tool_calls ??= []);
        calls[call.index] = {
          id: call.id!,
          type: 'function',
          function: { name: call.function!.name!, arguments: call.function!.arguments! },
          ...(call.extra_content ? { extra_content: call.extra_content } : {}),
        };
      }
      if (finish_reason) finish = finish_reason;
    }
  }
  return { message, finish, usage };
}

describe('toGeminiRequest', () => {
  it('hoists system and developer messages and maps the generation knobs', () => {
    const body = toGeminiRequest(
      chatRequest({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'Hi' },
          { role: 'developer', content: [{ type: 'text', text: 'no markdown' }] },
        ],
        temperature: 0.2,
        top_p: 0.5,
        top_k: 40,
        max_tokens: 10,
        max_completion_tokens: 20,
        stop: 'END',
        n: 3,
        seed: 1,
        presence_penalty: 0,
        frequency_penalty: 0.5,
        logprobs: true,
        top_logprobs: 2,
        user: 'u-1',
        parallel_tool_calls: false,
      }),
      { safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' }] },
    );
    assert.deepEqual(body, {
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      systemInstruction: { parts: [{ text: 'be brief' }, { text: 'no markdown' }] },
      safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' }],
      generationConfig: {
        temperature: 0.2,
        topP: 0.5,
        topK: 40,
        maxOutputTokens: 20,
        stopSequences: ['END'],
        candidateCount: 3,
        seed: 1,
        frequencyPenalty: 0.5,
        responseLogprobs: true,
        logprobs: 2,
      },
    });
    assert.deepEqual(toGeminiRequest(chatRequest()), { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] });
  });

  it('sends media inline from data URLs and by URI from http(s) and gs:// URLs', () => {
    const body = toGeminiRequest(
      chatRequest({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: 'data:image/webp;base64,AAAA' } },
              { type: 'image_url', image_url: { url: 'https://example.com/picture?id=1' } },
              { type: 'file', file: { file_id: 'gs://bucket/report.pdf' } },
              { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
              { type: 'file', file: { file_data: 'SGVsbG8=', filename: 'notes.txt' } },
              { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(body.contents[0].parts, [
      { inlineData: { mimeType: 'image/webp', data: 'AAAA' } },
      { fileData: { fileUri: 'https://example.com/picture?id=1' } },
      { fileData: { mimeType: 'application/pdf', fileUri: 'gs://bucket/report.pdf' } },
      { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
      { inlineData: { mimeType: 'text/plain', data: 'SGVsbG8=' } },
      { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
    ]);
    const user = (content: ChatMessage['content']): ChatCompletionRequest =>
      chatRequest({ messages: [{ role: 'user', content }] });
    expectInvalid(
      user([{ type: 'image_url', image_url: { url: 'data:image/png,raw' } }]),
      'messages[0].content[0].image_url.url',
    );
    expectInvalid(
      user([{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }]),
      'messages[0].content[0].image_url.url',
    );
    expectInvalid(user([{ type: 'file', file: { file_id: 'file-abc123' } }]), 'messages[0].content[0].file');
    expectInvalid(user([{ type: 'file', file: { file_data: 'SGVsbG8=' } }]), 'messages[0].content[0].file.file_data');
  });

  it('rebuilds assistant turns with every signature in the part it came on, and names function responses', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: 'Let me check.',
        reasoning_content: 'thinking…',
        thinking_blocks: [
          { type: 'thinking', thinking: 'unsigned' },
          { type: 'thinking', thinking: 'signed', signature: 'SIG-THOUGHT' },
          { type: 'redacted_thinking', data: 'anthropic' },
        ],
        extra_content: { google: { thought_signature: 'SIG-TEXT' } },
        tool_calls: [
          {
            id: 'g1bmv6il',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            extra_content: { google: { thought_signature: 'SIG-CALL' } },
          },
          { id: 'call_made-up-by-gateway', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'g1bmv6il', content: '{"sky":"clear"}' },
      { role: 'tool', tool_call_id: 'call_made-up-by-gateway', content: [{ type: 'text', text: 'noon' }] },
      { role: 'user', content: 'thanks' },
      { role: 'assistant', content: null, extra_content: { google: { thought_signature: 'SIG-EMPTY' } } },
      { role: 'assistant', content: '' },
      { role: 'function', name: 'legacy', content: 'done' },
    ];
    assert.deepEqual(toGeminiRequest(chatRequest({ messages })).contents, [
      { role: 'user', parts: [{ text: 'weather?' }] },
      {
        role: 'model',
        parts: [
          { text: 'signed', thought: true, thoughtSignature: 'SIG-THOUGHT' },
          { text: 'Let me check.', thoughtSignature: 'SIG-TEXT' },
          {
            functionCall: { name: 'get_weather', args: { city: 'Paris' }, id: 'g1bmv6il' },
            thoughtSignature: 'SIG-CALL',
          },
          { functionCall: { name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'g1bmv6il', name: 'get_weather', response: { sky: 'clear' } } },
          { functionResponse: { name: 'get_time', response: { output: 'noon' } } },
          { text: 'thanks' },
        ],
      },
      { role: 'model', parts: [{ text: '', thoughtSignature: 'SIG-EMPTY' }] },
      { role: 'user', parts: [{ functionResponse: { name: 'legacy', response: { output: 'done' } } }] },
    ]);
  });

  it('refuses what Gemini cannot take, naming the parameter', () => {
    expectInvalid(chatRequest({ messages: [{ role: 'system', content: 'only a system prompt' }] }), 'messages');
    expectInvalid(
      chatRequest({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'tool', tool_call_id: 'nope', content: 'r' },
        ],
      }),
      'messages[1].tool_call_id',
    );
    expectInvalid(
      chatRequest({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '[1]' } }] },
        ],
      }),
      'messages[1].tool_calls[0].function.arguments',
    );
    expectInvalid(
      chatRequest({
        messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }],
      }),
      'messages[0].content[0]',
    );
    expectInvalid(chatRequest({ tools: [{ type: 'custom', custom: { name: 'grammar' } } as never] }), 'tools[0].type');
  });

  it('declares tools with their JSON Schema, without $schema, and maps tool_choice to calling modes', () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_weather',
          description: 'weather',
          parameters: { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: {} },
          strict: true,
        },
      },
      { type: 'function' as const, function: { name: 'ping', parameters: {} } },
    ];
    const body = toGeminiRequest(chatRequest({ tools }));
    assert.deepEqual(body.tools, [
      {
        functionDeclarations: [
          { name: 'get_weather', description: 'weather', parametersJsonSchema: { type: 'object', properties: {} } },
          { name: 'ping' },
        ],
      },
    ]);
    assert.equal(body.toolConfig, undefined);
    const modes: Array<[ToolChoice, unknown]> = [
      ['auto', { mode: 'AUTO' }],
      ['none', { mode: 'NONE' }],
      ['required', { mode: 'ANY' }],
      [
        { type: 'function', function: { name: 'ping' } },
        { mode: 'ANY', allowedFunctionNames: ['ping'] },
      ],
      [
        {
          type: 'allowed_tools',
          allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'ping' } }] },
        },
        { mode: 'AUTO' },
      ],
      [
        { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [{ type: 'function', name: 'ping' }] } },
        { mode: 'ANY', allowedFunctionNames: ['ping'] },
      ],
    ];
    for (const [choice, config] of modes) {
      assert.deepEqual(toGeminiRequest(chatRequest({ tools, tool_choice: choice })).toolConfig, {
        functionCallingConfig: config,
      });
    }
    assert.equal(
      toGeminiRequest(chatRequest({ tool_choice: 'required' })).toolConfig,
      undefined,
      'no tools, no config',
    );
  });

  it('asks for JSON with the schema as responseJsonSchema', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
    assert.deepEqual(
      toGeminiRequest(
        chatRequest({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } } }),
      ).generationConfig,
      { responseMimeType: 'application/json', responseJsonSchema: schema },
    );
    assert.deepEqual(toGeminiRequest(chatRequest({ response_format: { type: 'json_object' } })).generationConfig, {
      responseMimeType: 'application/json',
    });
    assert.equal(toGeminiRequest(chatRequest({ response_format: { type: 'text' } })).generationConfig, undefined);
  });

  it('maps reasoning_effort and thinking to a budget (Gemini 2.5, unknown ids) or a level (Gemini 3)', () => {
    const thinking = (model: string, knobs: { reasoning_effort?: ReasoningEffort; thinking?: ThinkingConfig }) =>
      toGeminiRequest(chatRequest({ model, ...knobs })).generationConfig?.thinkingConfig;
    const cases: Array<[string, { reasoning_effort?: ReasoningEffort; thinking?: ThinkingConfig }, unknown]> = [
      ['gemini-2.5-flash', {}, undefined],
      ['gemini-2.5-flash', { reasoning_effort: 'none' }, { thinkingBudget: 0 }],
      ['gemini-2.5-pro', { reasoning_effort: 'none' }, { thinkingBudget: 128 }],
      ['gemini-2.5-flash', { reasoning_effort: 'minimal' }, { includeThoughts: true, thinkingBudget: 1024 }],
      ['gemini-2.5-flash', { reasoning_effort: 'medium' }, { includeThoughts: true, thinkingBudget: 8192 }],
      ['gemini-2.5-flash', { reasoning_effort: 'xhigh' }, { includeThoughts: true, thinkingBudget: 24576 }],
      ['gemini-flash-latest', { reasoning_effort: 'high' }, { includeThoughts: true, thinkingBudget: 24576 }],
      [
        'gemini-2.5-flash',
        { thinking: { type: 'enabled', budget_tokens: 3000 } },
        { includeThoughts: true, thinkingBudget: 3000 },
      ],
      ['gemini-2.5-flash', { thinking: { type: 'adaptive' } }, { includeThoughts: true, thinkingBudget: -1 }],
      ['gemini-2.5-flash', { thinking: { type: 'disabled' }, reasoning_effort: 'high' }, { thinkingBudget: 0 }],
      ['gemini-3-flash-preview', { reasoning_effort: 'none' }, { thinkingLevel: 'minimal' }],
      ['gemini-3.1-pro-preview', { reasoning_effort: 'none' }, { thinkingLevel: 'low' }],
      ['gemini-3.1-pro-preview', { reasoning_effort: 'minimal' }, { includeThoughts: true, thinkingLevel: 'low' }],
      ['gemini-3-flash-preview', { reasoning_effort: 'medium' }, { includeThoughts: true, thinkingLevel: 'medium' }],
      ['gemini-3-flash-preview', { reasoning_effort: 'xhigh' }, { includeThoughts: true, thinkingLevel: 'high' }],
      [
        'gemini-3-flash-preview',
        { thinking: { type: 'enabled', budget_tokens: 512 } },
        { includeThoughts: true, thinkingLevel: 'low' },
      ],
      [
        'gemini-3-flash-preview',
        { thinking: { type: 'enabled', budget_tokens: 5000 } },
        { includeThoughts: true, thinkingLevel: 'medium' },
      ],
      [
        'gemini-3-flash-preview',
        { thinking: { type: 'enabled', budget_tokens: 9000 } },
        { includeThoughts: true, thinkingLevel: 'high' },
      ],
      ['gemini-3-flash-preview', { thinking: { type: 'adaptive' } }, { includeThoughts: true }],
    ];
    for (const [model, knobs, expected] of cases) {
      assert.deepEqual(thinking(model, knobs), expected, `${model} ${JSON.stringify(knobs)}`);
    }
    assert.equal(geminiGeneration('projects/p/locations/l/publishers/google/models/gemini-3.1-pro-preview'), 3.1);
    assert.equal(geminiGeneration('gemini-embedding-001'), undefined);
  });
});

describe('fromGeminiResponse', () => {
  it('splits a Gemini 3 answer into content, reasoning and the text part’s signature', () => {
    const completion = fromGeminiResponse(response('response-text-thoughts-g3.json'), 'm', PROVIDER, NOW);
    const source = response('response-text-thoughts-g3.json').candidates![0].content!.parts!;
    assert.equal(completion.id, 'chatcmpl-' + response('response-text-thoughts-g3.json').responseId);
    assert.equal(completion.created, Math.floor(NOW / 1000));
    const { message, finish_reason } = completion.choices[0];
    assert.equal(finish_reason, 'stop');
    assert.deepEqual(message, {
      role: 'assistant',
      content: source[1].text,
      refusal: null,
      reasoning_content: source[0].text,
      thinking_blocks: [{ type: 'thinking', thinking: source[0].text }],
      extra_content: { google: { thought_signature: source[1].thoughtSignature } },
    });
    assert.deepEqual(completion.usage, {
      prompt_tokens: 5,
      completion_tokens: 5 + 36,
      total_tokens: 46,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 36 },
    });
  });

  it('keeps Gemini’s call ids, signs only the call Gemini signed, and finishes with tool_calls', () => {
    const completion = fromGeminiResponse(response('response-parallel-calls-g3.json'), 'm', PROVIDER, NOW);
    const parts = response('response-parallel-calls-g3.json').candidates![0].content!.parts!;
    assert.equal(completion.choices[0].finish_reason, 'tool_calls');
    assert.equal(completion.choices[0].message.content, null);
    assert.deepEqual(completion.choices[0].message.tool_calls, [
      {
        id: parts[0].functionCall!.id,
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
        extra_content: { google: { thought_signature: parts[0].thoughtSignature } },
      },
      { id: parts[1].functionCall!.id, type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ]);
  });

  it('keeps a signature on a thought summary in its thinking block, and names unnamed calls itself', () => {
    const source = response('response-signed-thought-2.5.json');
    const { message } = fromGeminiResponse(source, 'm', PROVIDER, NOW).choices[0];
    const thought = source.candidates![0].content!.parts![0];
    assert.deepEqual(message.thinking_blocks, [
      { type: 'thinking', thinking: thought.text, signature: thought.thoughtSignature },
    ]);
    assert.match(message.tool_calls![0].id, /^call_[A-Za-z0-9_-]{16}$/);
    assert.equal(message.tool_calls![0].extra_content, undefined);
  });

  it('finishes blocked prompts and blocked answers with content_filter, and maps every candidate', () => {
    const blocked = fromGeminiResponse(response('response-blocked-prompt.json'), 'm', PROVIDER, NOW);
    assert.deepEqual(blocked.choices, [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: null },
        logprobs: null,
        finish_reason: 'content_filter',
      },
    ]);
    assert.ok(blocked.usage!.prompt_tokens > 0);
    const safety = fromGeminiResponse(response('response-safety.json'), 'm', PROVIDER, NOW);
    assert.equal(safety.choices[0].finish_reason, 'content_filter');
    assert.equal(safety.choices[0].message.content, null);
    const two = fromGeminiResponse(response('response-two-candidates.json'), 'm', PROVIDER, NOW);
    assert.deepEqual(
      two.choices.map((choice) => [choice.index, choice.finish_reason]),
      [
        [0, 'length'],
        [1, 'length'],
      ],
    );
    assert.throws(
      () => fromGeminiResponse({ usageMetadata: {} }, 'm', PROVIDER),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_invalid_response',
    );
  });

  it('maps every finish reason', () => {
    const expected: Record<GeminiFinishReason, string> = {
      FINISH_REASON_UNSPECIFIED: 'stop',
      STOP: 'stop',
      MAX_TOKENS: 'length',
      SAFETY: 'content_filter',
      RECITATION: 'content_filter',
      LANGUAGE: 'content_filter',
      OTHER: 'stop',
      BLOCKLIST: 'content_filter',
      PROHIBITED_CONTENT: 'content_filter',
      SPII: 'content_filter',
      MALFORMED_FUNCTION_CALL: 'stop',
      IMAGE_SAFETY: 'content_filter',
      IMAGE_PROHIBITED_CONTENT: 'content_filter',
      IMAGE_OTHER: 'stop',
      NO_IMAGE: 'stop',
      IMAGE_RECITATION: 'content_filter',
      UNEXPECTED_TOOL_CALL: 'stop',
      TOO_MANY_TOOL_CALLS: 'stop',
      MISSING_THOUGHT_SIGNATURE: 'stop',
      MALFORMED_RESPONSE: 'stop',
    };
    for (const [reason, mapped] of Object.entries(expected)) {
      assert.equal(toFinishReason(reason as GeminiFinishReason, false), mapped, reason);
    }
    assert.equal(toFinishReason('STOP', true), 'tool_calls');
    assert.equal(toFinishReason('MAX_TOKENS', true), 'length');
  });

  it('counts cached, tool-use prompt and thought tokens as OpenAI does', () => {
    assert.deepEqual(
      toUsage({
        promptTokenCount: 1000,
        cachedContentTokenCount: 800,
        toolUsePromptTokenCount: 50,
        candidatesTokenCount: 20,
        thoughtsTokenCount: 30,
        totalTokenCount: 1100,
      }),
      {
        prompt_tokens: 1050,
        completion_tokens: 50,
        total_tokens: 1100,
        prompt_tokens_details: { cached_tokens: 800 },
        completion_tokens_details: { reasoning_tokens: 30 },
      },
    );
  });

  it('maps logprobsResult to OpenAI logprobs (https://ai.google.dev/api/generate-content#LogprobsResult)', () => {
    const completion = fromGeminiResponse(
      {
        candidates: [
          {
            content: { role: 'model', parts: [{ text: 'Hi' }] },
            finishReason: 'STOP',
            logprobsResult: {
              chosenCandidates: [{ token: 'Hi', logProbability: -0.1 }],
              topCandidates: [
                {
                  candidates: [
                    { token: 'Hi', logProbability: -0.1 },
                    { token: 'Hey', logProbability: -2.5 },
                  ],
                },
              ],
            },
          },
        ],
      },
      'm',
      PROVIDER,
      NOW,
    );
    assert.deepEqual(completion.choices[0].logprobs, {
      content: [
        {
          token: 'Hi',
          logprob: -0.1,
          bytes: [72, 105],
          top_logprobs: [
            { token: 'Hi', logprob: -0.1, bytes: [72, 105] },
            { token: 'Hey', logprob: -2.5, bytes: [72, 101, 121] },
          ],
        },
      ],
      refusal: null,
    });
  });
});

describe('readGeminiChunks', () => {
  it('streams a Gemini 3 answer that folds into what the non-streaming answer says, however the bytes are split', async () => {
    const transcript = fixtureText('stream-text-thoughts-g3.sse');
    const whole = await readAll([transcript]);
    for (const size of [1, 7, 64])
      assert.deepEqual(await readAll(pieces(transcript, size)), whole, `${size}-byte pieces`);

    assert.deepEqual(whole[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.ok(whole.slice(0, -1).every((chunk) => chunk.usage === null && chunk.choices.length === 1));
    assert.equal(whole.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(whole.at(-1)?.choices, []);

    const folded = fold(whole);
    const expected = fromGeminiResponse(response('response-text-thoughts-g3.json'), 'm', PROVIDER, NOW);
    assert.deepEqual(folded.message, expected.choices[0].message);
    assert.deepEqual(folded.usage, expected.usage);
    const signatureChunks = whole.filter((chunk) => chunk.choices[0]?.delta.extra_content);
    assert.equal(signatureChunks.length, 1, 'the signature arrives once, on the trailing empty part');
  });

  it('streams a signed thought summary and a whole function call', async () => {
    const folded = fold(await readAll([fixtureText('stream-signed-thought-2.5.sse')]));
    const expected = fromGeminiResponse(response('response-signed-thought-2.5.json'), 'm', PROVIDER, NOW).choices[0];
    assert.equal(folded.finish, 'tool_calls');
    assert.deepEqual(folded.message.thinking_blocks, expected.message.thinking_blocks);
    assert.equal(folded.message.reasoning_content, expected.message.reasoning_content);
    assert.equal(folded.message.tool_calls?.[0].function.arguments, '{"city":"Paris"}');
  });

  it('reads a Vertex AI stream: the tool call with its id and signature first, the counts only at the end', async () => {
    const chunks = await readAll([fixtureText('stream-tool-call-vertex-g3.sse')]);
    const [event] = fixtureText('stream-tool-call-vertex-g3.sse').split('\r\n\r\n');
    const first = JSON.parse(event.slice('data: '.length)) as GeminiGenerateContentResponse;
    const part = first.candidates![0].content!.parts![0];
    assert.deepEqual(chunks[1].choices[0].delta.tool_calls, [
      {
        index: 0,
        id: part.functionCall!.id,
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        extra_content: { google: { thought_signature: part.thoughtSignature } },
      },
    ]);
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 6,
      completion_tokens: 76,
      total_tokens: 82,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 72 },
    });
    const created = Math.floor(Date.parse(first.createTime!) / 1000);
    assert.ok(
      chunks.every((chunk) => chunk.created === created),
      'created from createTime',
    );
  });

  it('sends no usage chunk and no usage fields unless asked', async () => {
    const chunks = await readAll([fixtureText('stream-text-thoughts-g3.sse')], false);
    assert.ok(chunks.every((chunk) => chunk.choices.length === 1 && !('usage' in chunk)));
  });

  it('throws a cut stream, an error event and a broken event as GatewayErrors', async () => {
    const transcript = fixtureText('stream-text-thoughts-g3.sse');
    const events = transcript.split('\r\n\r\n').filter(Boolean);
    const rejects = (body: string, code: string, message?: RegExp) =>
      assert.rejects(readAll([body]), (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.code, code);
        if (message) assert.match(error.message, message);
        return true;
      });
    await rejects(
      events
        .slice(0, -1)
        .map((event) => `${event}\r\n\r\n`)
        .join(''),
      'upstream_stream_interrupted',
    );
    await rejects('', 'upstream_stream_interrupted');
    await rejects(
      `${events[0]}\r\n\r\ndata: {"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}\r\n\r\n`,
      'upstream_stream_interrupted',
      /Internal error encountered/,
    );
    await rejects(
      `${events[0]}\r\n\r\ndata: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n`,
      'overloaded',
    );
    await rejects(`${events[0]}\r\n\r\ndata: {not json\r\n\r\n`, 'upstream_invalid_response');
    const broken = (async function* () {
      yield Buffer.from(`${events[0]}\r\n\r\n`);
      throw new Error('socket hang up');
    })();
    const state = createGeminiStreamState({ provider: PROVIDER, model: 'm', includeUsage: true });
    await assert.rejects(
      (async () => {
        for await (const _chunk of readGeminiChunks(broken, state));
      })(),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_stream_interrupted',
    );
  });

  it('streams a blocked prompt as one content_filter choice', async () => {
    const blocked = JSON.stringify(response('response-blocked-prompt.json'));
    const chunks = await readAll([`data: ${blocked}\r\n\r\n`]);
    assert.deepEqual(
      chunks.map((chunk) => chunk.choices[0]?.finish_reason ?? null),
      [null, 'content_filter', null],
    );
  });
});

describe('toGatewayErrorFromGoogle', () => {
  const rows = fixture<
    Array<{
      label: string;
      status: number;
      body: unknown;
      expect: { status: number; code: string; retryAfterMs?: number };
    }>
  >('errors.json');
  for (const row of rows) {
    it(`maps ${row.label} (${row.status})`, () => {
      const error = toGatewayErrorFromGoogle(PROVIDER, row.status, row.body, {});
      assert.equal(error.status, row.expect.status);
      assert.equal(error.code, row.expect.code);
      assert.equal(error.fromUpstream, true);
      if (row.expect.retryAfterMs !== undefined) assert.equal(error.retryAfterMs, row.expect.retryAfterMs);
      assert.ok(error.message.startsWith(`${PROVIDER}: `));
    });
  }

  it('reads RetryInfo durations, else Retry-After', () => {
    assert.equal(retryDelayMs([{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '0.5s' }]), 500);
    assert.equal(retryDelayMs([{ '@type': 'type.googleapis.com/google.rpc.Help' }]), undefined);
    assert.equal(
      toGatewayErrorFromGoogle(PROVIDER, 429, { error: { code: 429 } }, { 'retry-after': '3' }).retryAfterMs,
      3000,
    );
  });
});

describe('embeddings', () => {
  const request = (overrides: Partial<EmbeddingRequest> = {}): EmbeddingRequest => ({
    model: 'gemini-embedding-001',
    input: 'x',
    ...overrides,
  });

  it('takes text only', () => {
    assert.deepEqual(embeddingTexts(request({ input: ['a', 'b'] })), ['a', 'b']);
    assert.throws(
      () => embeddingTexts(request({ input: [1, 2, 3] })),
      (error: unknown) => error instanceof GatewayError && error.param === 'input' && error.status === 400,
    );
  });

  it('answers floats, or base64 of little-endian float32', () => {
    const vectors = [[0.5, -0.25, 1]];
    const floats = toEmbeddingResponse(vectors, request({ encoding_format: 'float' }), 3);
    assert.deepEqual(floats, {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.5, -0.25, 1] }],
      model: 'gemini-embedding-001',
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
    const encoded = toEmbeddingResponse([[0.5, -0.25, 1]], request({ encoding_format: 'base64' }), 0);
    const bytes = Buffer.from(encoded.data[0].embedding as string, 'base64');
    assert.deepEqual([...new Float32Array(bytes.buffer, bytes.byteOffset, 3)], [0.5, -0.25, 1]);
  });
});
