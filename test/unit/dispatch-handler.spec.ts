import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRawHeaders, rawHeader, UpstreamAnswer } from '../../src/upstream/dispatch-handler.js';

const raw = ['Content-Type', 'application/json', 'Content-Length', '42', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2'].map((text) =>
  Buffer.from(text),
);

describe('raw upstream headers', () => {
  it('rawHeader finds one header by its lower-case name, whatever its case on the wire', () => {
    assert.equal(rawHeader(raw, 'content-length'), '42');
    assert.equal(rawHeader(raw, 'content-type'), 'application/json');
    assert.equal(rawHeader(raw, 'retry-after'), undefined);
  });

  it('UpstreamAnswer gives the parsed headers on read, the same as parseRawHeaders', () => {
    const answer = new UpstreamAnswer(200, raw, 'body');
    assert.deepEqual(answer.headers, parseRawHeaders(raw));
    assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(answer.headers, answer.headers, 'parsed once');
    assert.equal(answer.body, 'body');
  });
});
