import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBucketStore } from './memory-token-bucket.js';

const tenPerSecond = { capacity: 10, ratePerSecond: 10 };

describe('MemoryBucketStore', () => {
  it('keeps one bucket per key on the injected clock', async () => {
    let now = 0;
    const store = new MemoryBucketStore({ now: () => now });
    for (let i = 0; i < 10; i++) assert.equal((await store.take('a', 1, tenPerSecond)).allowed, true);
    assert.deepEqual(await store.take('a', 1, tenPerSecond), {
      allowed: false,
      limit: 10,
      remaining: 0,
      retryAfterMs: 100,
      resetMs: 1000,
    });
    assert.equal((await store.take('b', 1, tenPerSecond)).allowed, true);
    now = 100;
    assert.equal((await store.take('a', 1, tenPerSecond)).allowed, true);
  });

  it('adjusts within [0, capacity] and forgets a bucket that is full again', async () => {
    const store = new MemoryBucketStore({ now: () => 0 });
    await store.take('tpm', 8, tenPerSecond);
    assert.equal((await store.adjust('tpm', -3, tenPerSecond)).remaining, 5);
    assert.equal((await store.adjust('tpm', 50, tenPerSecond)).remaining, 0);
    assert.equal(store.size, 1);
    assert.equal((await store.adjust('tpm', -50, tenPerSecond)).remaining, 10);
    assert.equal(store.size, 0);
  });

  it('sweeps buckets whose refill time has passed', async () => {
    let now = 0;
    const store = new MemoryBucketStore({ now: () => now, sweepIntervalMs: 1_000 });
    await store.take('idle', 1, tenPerSecond);
    await store.take('busy', 10, { capacity: 10, ratePerSecond: 0.001 });
    now = 1_000;
    await store.take('other', 1, tenPerSecond);
    assert.equal(store.size, 2);
  });

  it('evicts the least recently used bucket beyond maxEntries', async () => {
    const store = new MemoryBucketStore({ now: () => 0, maxEntries: 2 });
    await store.take('first', 1, tenPerSecond);
    await store.take('second', 1, tenPerSecond);
    await store.take('first', 1, tenPerSecond);
    await store.take('third', 1, tenPerSecond);
    assert.equal(store.size, 2);
    assert.equal((await store.take('second', 0, tenPerSecond)).remaining, 10);
    assert.equal((await store.take('first', 0, tenPerSecond)).remaining, 8);
  });
});
