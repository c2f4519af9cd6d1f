import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk } from '../../common/openai.types.js';
import { writeSseStream } from './sse-writer.js';
import { type LocalUpstream, startLocalUpstream } from '../../../test/support/local-upstream.js';

function chunk(content: string): ChatCompletionChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }],
  };
}

/** Chunks ready at once in a first run, then one more after a pause; throws at the end when `fail` is set. */
async function* source(first: string[], later: string, fail = false): AsyncGenerator<ChatCompletionChunk> {
  for (const content of first) yield chunk(content);
  await sleep(20);
  yield chunk(later);
  if (fail) throw new GatewayError(502, 'server_error', 'upstream went away', { code: 'upstream_stream_interrupted' });
}

/** The socket writes a response made: how many, and what each carried. */
function recordSocketWrites(response: ServerResponse): string[] {
  const writes: string[] = [];
  const socket = response.socket!;
  const write = socket._write.bind(socket);
  const writev = socket._writev!.bind(socket);
  socket._write = (data, encoding, callback) => {
    writes.push(String(data));
    write(data, encoding, callback);
  };
  socket._writev = (chunks, callback) => {
    writes.push(chunks.map((entry) => String(entry.chunk)).join(''));
    writev(chunks, callback);
  };
  return writes;
}

describe('writeSseStream', () => {
  let server: LocalUpstream;
  let writes: string[] = [];

  before(async () => {
    server = await startLocalUpstream((request, response) => {
      writes = recordSocketWrites(response);
      const reply = { raw: response, hijack: () => undefined } as unknown as FastifyReply;
      const fail = request.url === '/fail';
      void writeSseStream(reply, source(['a', 'b', 'c'], 'd', fail), {
        headers: { 'content-type': 'text/event-stream' },
        toError: (error) => error as GatewayError,
      });
    });
  });

  after(() => server.close());

  it('writes one data frame per chunk and ends with [DONE]', async () => {
    const body = await (await fetch(`${server.origin}/ok`)).text();
    const contents = body
      .split('\n\n')
      .filter((frame) => frame !== '')
      .map((frame) => frame.slice('data: '.length));
    assert.deepEqual(
      contents.slice(0, 4).map((json) => (JSON.parse(json) as ChatCompletionChunk).choices[0].delta.content),
      ['a', 'b', 'c', 'd'],
    );
    assert.equal(contents[4], '[DONE]');
    assert.equal(contents.length, 5);
  });

  it('sends the headers and the chunks that were ready together in one socket write', async () => {
    await (await fetch(`${server.origin}/ok`)).text();
    const first = writes[0];
    assert.match(first, /^HTTP\/1\.1 200/);
    assert.equal(first.match(/^data: /gm)?.length, 3, `first write: ${JSON.stringify(first)}`);
    assert.ok(!first.includes('"d"'), 'the chunk that came later is not in the first write');
  });

  it('ends a stream that fails after its first chunk with one error event and no [DONE]', async () => {
    const body = await (await fetch(`${server.origin}/fail`)).text();
    const frames = body.split('\n\n').filter((frame) => frame !== '');
    const last = JSON.parse(frames.at(-1)!.slice('data: '.length)) as { error: { code: string } };
    assert.equal(last.error.code, 'upstream_stream_interrupted');
    assert.ok(!body.includes('[DONE]'));
    assert.equal(frames.length, 5);
  });
});
