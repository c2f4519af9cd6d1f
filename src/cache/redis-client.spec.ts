import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactRedisUrl, ThrottledLogger } from './redis-client.js';

function capture() {
  const lines: Array<{ level: 'log' | 'warn'; message: string }> = [];
  return {
    lines,
    log: (message: string) => lines.push({ level: 'log', message }),
    warn: (message: string) => lines.push({ level: 'warn', message }),
  };
}

describe('ThrottledLogger', () => {
  it('lets one warning through per interval and says how many it held back', () => {
    let now = 1_000;
    const inner = capture();
    const logger = new ThrottledLogger(inner, 30_000, () => now);
    logger.warn('down 1');
    now += 10_000;
    logger.warn('down 2');
    logger.warn('down 3');
    logger.log('ready');
    now += 20_000;
    logger.warn('down 4');
    assert.deepEqual(inner.lines, [
      { level: 'warn', message: 'down 1' },
      { level: 'log', message: 'ready' },
      { level: 'warn', message: 'down 4 (2 similar warnings suppressed)' },
    ]);
  });
});

describe('redactRedisUrl', () => {
  it('hides the password', () => {
    assert.equal(redactRedisUrl('redis://user:s3cret@redis:6379/1'), 'redis://user:***@redis:6379/1');
    assert.equal(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.equal(redactRedisUrl('not a url'), '(unparseable redis url)');
  });
});
