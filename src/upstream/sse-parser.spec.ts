import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readSseEvents, SseParser } from './sse-parser.js';

function parseInPieces(text: string, sizes: number[]): string[] {
  const parser = new SseParser();
  const bytes = Buffer.from(text, 'utf8');
  const data: string[] = [];
  let offset = 0;
  let i = 0;
  while (offset < bytes.length) {
    const size = sizes[i++ % sizes.length];
    for (const event of parser.push(bytes.subarray(offset, offset + size))) data.push(event.data);
    offset += size;
  }
  for (const event of parser.end()) data.push(event.data);
  return data;
}

describe('SseParser', () => {
  const stream = 'data: {"a":1}\n\ndata: {"b":"ü€"}\n\n: keep-alive comment\n\ndata: [DONE]\n\n';

  it('gives the same events however the bytes are split, even inside UTF-8 sequences', () => {
    const whole = parseInPieces(stream, [stream.length * 4]);
    assert.deepEqual(whole, ['{"a":1}', '{"b":"ü€"}', '[DONE]']);
    for (const sizes of [[1], [2], [3], [5, 1, 7], [13]]) {
      assert.deepEqual(parseInPieces(stream, sizes), whole, `split by ${sizes.join(',')}`);
    }
  });

  it('joins multi-line data with newlines and keeps the event name and id', () => {
    const parser = new SseParser();
    const events = parser.push('event: message_delta\nid: 7\ndata: line one\ndata: line two\n\n');
    assert.deepEqual(events, [{ event: 'message_delta', id: '7', data: 'line one\nline two' }]);
  });

  it('accepts CRLF and lone CR line endings, also when CR and LF arrive in different chunks', () => {
    assert.deepEqual(parseInPieces('data: x\r\n\r\ndata: y\r\rdata: z\n\n', [1]), ['x', 'y', 'z']);
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: a\r'), []);
    assert.deepEqual(parser.push('\n\r'), [{ data: 'a' }]);
    assert.deepEqual(parser.push('\ndata: b\n\n'), [{ data: 'b' }]);
  });

  it('ignores comments, unknown fields and events without data; a field without colon is empty', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push(': ping\nretry: 100\nevent: ping\n\ndata\n\n'), [{ data: '' }]);
  });

  it('keeps a value without the optional space and only strips one space', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data:x\n\ndata:  y\n\n'), [{ data: 'x' }, { data: ' y' }]);
  });

  it('delivers a last event whose blank line never came', () => {
    assert.deepEqual(parseInPieces('data: a\n\ndata: [DONE]', [4]), ['a', '[DONE]']);
  });

  it('reads events from a stream of buffers', async () => {
    const body = Readable.from([Buffer.from('data: 1\n'), Buffer.from('\ndata: 2\n\n')]);
    const seen: string[] = [];
    for await (const event of readSseEvents(body)) seen.push(event.data);
    assert.deepEqual(seen, ['1', '2']);
  });
});
