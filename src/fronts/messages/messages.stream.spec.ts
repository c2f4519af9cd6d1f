import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletion, ChatCompletionChunk } from '../../common/openai.types.js';
import { MessagesStreamTranslator } from './messages.stream.js';
import { type MessageMeta, toChatRequest, toMessage } from './messages.translator.js';
import type { AnthropicMessage, MessagesContentBlockParam, MessagesStreamEvent } from './messages.types.js';
import { validateMessagesRequest } from './messages.validator.js';
import { fixturesDir } from '../../../test/support/fixtures.js';

/** Fixtures stay in the source tree; compiled specs run from dist/src. */
const FIXTURES = fixturesDir(import.meta.url);
const fixture = <T>(name: string): T => JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as T;
const chunks = (name: string): ChatCompletionChunk[] => fixture<ChatCompletionChunk[]>(`${name}.chunks.json`);

const META: MessageMeta = { id: 'msg_gw_0001', model: 'claude-sonnet-4-6' };
const ESTIMATE = 2000;

function translate(input: ChatCompletionChunk[], estimate = ESTIMATE) {
  const translator = new MessagesStreamTranslator(META, estimate);
  const events = [...translator.start(), ...input.flatMap((chunk) => translator.push(chunk)), ...translator.finish()];
  return { translator, events };
}

/** The event grammar of the streaming page: one block at a time, indexes 0, 1, … in order, deltas that fit. */
function assertWellFormed(events: MessagesStreamEvent[]): void {
  assert.equal(events[0].type, 'message_start');
  assert.deepEqual(
    events.slice(-2).map((event) => event.type),
    ['message_delta', 'message_stop'],
  );
  let open: { index: number; type: string } | undefined;
  let next = 0;
  for (const event of events.slice(1, -2)) {
    if (event.type === 'content_block_start') {
      assert.equal(open, undefined, `block ${event.index} starts while ${open?.index} is open`);
      assert.equal(event.index, next++);
      open = { index: event.index, type: event.content_block.type };
    } else if (event.type === 'content_block_delta') {
      assert.equal(event.index, open?.index);
      const fits: Record<string, string[]> = {
        text: ['text_delta'],
        thinking: ['thinking_delta', 'signature_delta'],
        tool_use: ['input_json_delta'],
        redacted_thinking: [],
      };
      assert.ok(fits[open?.type ?? ''].includes(event.delta.type), `${event.delta.type} in a ${open?.type} block`);
    } else if (event.type === 'content_block_stop') {
      assert.equal(event.index, open?.index);
      open = undefined;
    } else {
      assert.fail(`unexpected ${event.type} between message_start and message_delta`);
    }
  }
  assert.equal(open, undefined, 'a block was left open');
}

function sse(events: MessagesStreamEvent[]): string {
  return events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
}

function withoutParsedOutput(message: unknown): AnthropicMessage {
  // finalMessage() adds the SDK's own `parsed_output` (structured-output parsing), which is not on the wire.
  return JSON.parse(JSON.stringify(message), (key, value: unknown) =>
    key === 'parsed_output' ? undefined : value,
  ) as AnthropicMessage;
}

describe('MessagesStreamTranslator', () => {
  let server: Server;
  let client: Anthropic;
  /** What the local server streams next, and in pieces of how many bytes. */
  let body = '';
  let pieceBytes = 64;

  before(async () => {
    server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const bytes = Buffer.from(body, 'utf8');
        for (let offset = 0; offset < bytes.length; offset += pieceBytes) {
          response.write(bytes.subarray(offset, offset + pieceBytes));
        }
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new Anthropic({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${port}`, maxRetries: 0, timeout: 10_000 });
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  /** Serves the events as the route writes them to `client.messages.stream()` and returns its finalMessage(). */
  async function throughSdk(events: MessagesStreamEvent[], pieces = 64): Promise<AnthropicMessage> {
    body = sse(events);
    pieceBytes = pieces;
    const stream = client.messages.stream({
      model: META.model,
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'go' }],
    });
    return withoutParsedOutput(await stream.finalMessage());
  }

  it('streams thinking, text and two tool calls as the exact Anthropic event sequence', async () => {
    const { translator, events } = translate(chunks('stream-reasoning-tools'));
    const sdkEvents: Anthropic.Messages.RawMessageStreamEvent[] = events.filter(
      (event): event is Exclude<MessagesStreamEvent, { type: 'error' }> => event.type !== 'error',
    );
    assert.deepEqual(sdkEvents, fixture('stream-reasoning-tools.events.json'));
    const expected = fixture<AnthropicMessage>('completion-reasoning-tools.message.json');
    // The completion fixture has one redacted block more than the stream.
    expected.content = expected.content.filter((block) => block.type !== 'redacted_thinking');
    const message: Anthropic.Messages.Message = translator.message;
    assert.deepEqual(message, expected);
    assert.deepEqual(await throughSdk(events), expected);
  });

  it('reads every byte boundary of the written stream the same way', async () => {
    const { translator, events } = translate(chunks('stream-deepseek-reasoning'));
    assert.deepEqual(await throughSdk(events, 1), translator.message);
  });

  it('keeps each block contiguous when the upstream interleaves calls and sends text after the first', async () => {
    const { translator, events } = translate(chunks('stream-interleaved-tools'));
    assertWellFormed(events);
    const message = translator.message;
    assert.deepEqual(message.content, [
      { type: 'tool_use', id: 'call_Ab12', name: 'Read', input: { file_path: 'a.txt' }, caller: { type: 'direct' } },
      { type: 'tool_use', id: 'call_Cd34', name: 'Bash', input: { command: 'ls' }, caller: { type: 'direct' } },
      { type: 'text', text: 'Reading and listing.', citations: null },
      {
        type: 'tool_use',
        id: 'call_Ef56',
        name: 'Bash',
        input: { INVALID_JSON: '{"command": ls' },
        caller: { type: 'direct' },
      },
    ]);
    // The first call streamed live, fragment by fragment; the held ones went out whole at the end.
    const fragments = (index: number) =>
      events.flatMap((event) =>
        event.type === 'content_block_delta' && event.index === index && event.delta.type === 'input_json_delta'
          ? [event.delta.partial_json]
          : [],
      );
    assert.deepEqual(fragments(0), ['{"file_pa', 'th":"a.txt"}']);
    assert.deepEqual(fragments(1), ['{"command":"ls"}']);
    assert.deepEqual(fragments(3), ['{"INVALID_JSON":"{\\"command\\": ls"}']);
    assert.equal(message.stop_reason, 'tool_use');
    assert.deepEqual(
      [message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens],
      [388, 512, 40],
    );
    assert.deepEqual(await throughSdk(events), message);
  });

  it("carries Gemini's signatures so that the next turn gives them back", async () => {
    const { translator, events } = translate(chunks('stream-gemini-signatures'));
    assertWellFormed(events);
    const message = await throughSdk(events);
    assert.deepEqual(message, translator.message);
    assert.deepEqual(
      message.content.map((block) => block.type),
      ['thinking', 'tool_use', 'text', 'redacted_thinking'],
    );
    const next = validateMessagesRequest({
      model: META.model,
      max_tokens: 1024,
      messages: [
        { role: 'user', content: 'What time is it?' },
        { role: 'assistant', content: message.content as MessagesContentBlockParam[] },
      ],
    });
    const [, assistant] = toChatRequest(next, { model: 'gemini-3-pro', serverTools: 'drop' }).chat.messages;
    assert.deepEqual(assistant, {
      role: 'assistant',
      content: 'Checking the clock.',
      tool_calls: [
        {
          id: 'call_9f8e7d',
          type: 'function',
          function: { name: 'get_time', arguments: '{"zone":"UTC"}' },
          extra_content: { google: { thought_signature: 'CiUBVKhc7sig/+tool==' } },
        },
      ],
      thinking_blocks: [{ type: 'thinking', thinking: 'Need the time first.', signature: 'CiQB0e2Kb3Qx' }],
      reasoning_content: 'Need the time first.',
      extra_content: { google: { thought_signature: 'CiIBtext+sig==' } },
    });
  });

  it('streams reasoning_content alone as an unsigned thinking block and names the matched stop sequence', () => {
    const { translator, events } = translate(chunks('stream-deepseek-reasoning'));
    assertWellFormed(events);
    const completion: ChatCompletion = {
      id: 'chatcmpl-ds_41',
      object: 'chat.completion',
      created: 1765000000,
      model: 'deepseek-reasoner',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: '4', reasoning_content: '2 + 2 is 4.' },
          logprobs: null,
          finish_reason: 'stop',
          stop_reason: '\n\n',
        } as ChatCompletion['choices'][0],
      ],
      usage: {
        prompt_tokens: 12,
        completion_tokens: 9,
        total_tokens: 21,
        completion_tokens_details: { reasoning_tokens: 6 },
      },
    };
    assert.deepEqual(translator.message, toMessage(completion, META));
    assert.equal(translator.message.stop_reason, 'stop_sequence');
    assert.equal(translator.message.stop_sequence, '\n\n');
  });

  it('translates the chunks the Anthropic provider produces (recorded) back into a well-formed stream', async () => {
    const { translator, events } = translate(chunks('anthropic-provider-stream'));
    assertWellFormed(events);
    assert.deepEqual(await throughSdk(events), translator.message);
    assert.equal(translator.message.stop_reason, 'tool_use');
  });

  it('puts the estimate in message_start and the exact figures in message_delta', () => {
    const { events } = translate(chunks('stream-reasoning-tools'), 1234);
    const start = events[0];
    assert.ok(start.type === 'message_start');
    assert.equal(start.message.usage.input_tokens, 1234);
    const delta = events.at(-2);
    assert.ok(delta?.type === 'message_delta');
    assert.deepEqual(delta.usage, {
      input_tokens: 95,
      output_tokens: 121,
      cache_creation_input_tokens: 200,
      cache_read_input_tokens: 1800,
      output_tokens_details: { thinking_tokens: 24 },
      server_tool_use: null,
    });
  });

  it('keeps the estimate when no usage arrives, and ends a stream without a finish reason as end_turn', () => {
    const translator = new MessagesStreamTranslator(META, 77);
    const events = [
      ...translator.push({
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, delta: { role: 'assistant', content: 'Hi' }, logprobs: null, finish_reason: null }],
      }),
      ...translator.finish(),
    ];
    assertWellFormed(events);
    const delta = events.at(-2);
    assert.ok(delta?.type === 'message_delta');
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.equal(delta.usage.input_tokens, 77);
  });

  it('uses choice 0 only and ignores chunks after finish', () => {
    const chunk = (index: number, content: string): ChatCompletionChunk => ({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index, delta: { content }, logprobs: null, finish_reason: null }],
    });
    const translator = new MessagesStreamTranslator(META, 1);
    translator.start();
    assert.deepEqual(translator.push(chunk(1, 'other')), []);
    translator.push(chunk(0, 'mine'));
    const end = translator.finish();
    assert.deepEqual(translator.push(chunk(0, 'late')), []);
    assert.deepEqual(translator.finish(), []);
    assert.deepEqual(translator.start(), []);
    assert.equal(end.at(-1)?.type, 'message_stop');
    assert.deepEqual(translator.message.content, [{ type: 'text', text: 'mine', citations: null }]);
  });

  it('reports a refusal delta as text with stop_reason refusal', () => {
    const translator = new MessagesStreamTranslator(META, 1);
    translator.push({
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index: 0, delta: { refusal: 'I cannot help.' }, logprobs: null, finish_reason: 'stop' }],
    });
    translator.finish();
    assert.equal(translator.message.stop_reason, 'refusal');
    assert.deepEqual(translator.message.content, [{ type: 'text', text: 'I cannot help.', citations: null }]);
  });

  it('shows held blocks in the message before the end, without a stop reason', () => {
    const translator = new MessagesStreamTranslator(META, 1);
    const all = chunks('stream-interleaved-tools');
    for (const chunk of all.slice(0, 7)) translator.push(chunk);
    const message = translator.message;
    assert.equal(message.stop_reason, null);
    assert.deepEqual(
      message.content.map((block) => (block.type === 'tool_use' ? block.name : block.type)),
      ['Read', 'Bash', 'text'],
    );
  });

  it('fails with one error event in Anthropic shape, which the SDK raises, and nothing after it', async () => {
    const translator = new MessagesStreamTranslator(META, 1);
    const events = [
      ...translator.start(),
      ...chunks('stream-reasoning-tools')
        .slice(0, 5)
        .flatMap((c) => translator.push(c)),
    ];
    const overloaded = new GatewayError(503, 'server_error', 'anthropic: Overloaded', { code: 'overloaded' });
    const failure = translator.fail(overloaded);
    assert.deepEqual(failure, [
      { type: 'error', error: { type: 'overloaded_error', message: 'anthropic: Overloaded' } },
    ]);
    assert.deepEqual(translator.finish(), []);
    assert.deepEqual(translator.fail(overloaded), []);
    body = sse([...events, ...failure]);
    pieceBytes = 64;
    const stream = client.messages.stream({
      model: META.model,
      max_tokens: 10,
      messages: [{ role: 'user', content: 'go' }],
    });
    await assert.rejects(stream.finalMessage(), (error: unknown) => {
      assert.ok(error instanceof Anthropic.APIError);
      assert.equal(error.type, 'overloaded_error');
      return true;
    });
  });
});
