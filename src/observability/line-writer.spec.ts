import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BatchedLineWriter } from './line-writer.js';

function sink() {
  const writes: string[] = [];
  return { writes, write: (chunk: string) => writes.push(chunk) };
}

describe('BatchedLineWriter', () => {
  it('writes the lines of one interval in one write, newline-terminated, after the interval', async () => {
    const target = sink();
    const writer = new BatchedLineWriter(target, 64 * 1024, 5);
    writer.writeLine('{"a":1}');
    writer.writeLine('{"b":2}');
    assert.deepEqual(target.writes, []);
    await sleep(30);
    assert.deepEqual(target.writes, ['{"a":1}\n{"b":2}\n']);
    writer.writeLine('{"c":3}');
    await sleep(30);
    assert.deepEqual(target.writes, ['{"a":1}\n{"b":2}\n', '{"c":3}\n']);
  });

  it('writes at once when the buffer passes its size, and flush() empties it', () => {
    const target = sink();
    const writer = new BatchedLineWriter(target, 10);
    writer.writeLine('12345');
    assert.equal(target.writes.length, 0);
    writer.writeLine('67890');
    assert.deepEqual(target.writes, ['12345\n67890\n']);
    writer.writeLine('x');
    writer.flush();
    writer.flush();
    assert.deepEqual(target.writes, ['12345\n67890\n', 'x\n']);
  });
});
