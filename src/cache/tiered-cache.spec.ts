import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TieredCache } from './tiered-cache.js';

const silent = { log: () => undefined, warn: () => undefined };

function l1Only(maxEntries = 100, maxBytes = 1024 * 1024): TieredCache {
  return new TieredCache({ l1: { maxEntries, maxBytes }, defaultTtlMs: 60_000, logger: silent });
}

describe('TieredCache without Redis', () => {
  it('stores, reads, deletes, and reports itself disabled for readiness', async () => {
    const cache = l1Only();
    assert.equal(await cache.get('a'), undefined);
    await cache.set('a', '{"id":"chatcmpl-1"}', 60_000);
    assert.equal(await cache.get('a'), '{"id":"chatcmpl-1"}');
    await cache.delete('a');
    assert.equal(await cache.get('a'), undefined);
    const stats = cache.stats();
    assert.equal(stats.health, 'disabled');
    assert.deepEqual([stats.l1Hits, stats.l2Hits, stats.misses, stats.sets], [1, 0, 2, 1]);
  });

  it('expires entries after their TTL', async () => {
    const cache = l1Only();
    await cache.set('short', 'v', 100);
    await cache.set('long', 'v', 60_000);
    assert.equal(await cache.get('short'), 'v');
    await sleep(150);
    assert.equal(await cache.get('short'), undefined);
    assert.equal(await cache.get('long'), 'v');
  });

  it('stores nothing for a non-positive TTL', async () => {
    const cache = l1Only();
    await cache.set('a', 'v', 0);
    assert.equal(await cache.get('a'), undefined);
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = l1Only(3);
    for (const key of ['a', 'b', 'c']) await cache.set(key, key, 60_000);
    await cache.get('a');
    await cache.set('d', 'd', 60_000);
    assert.equal(await cache.get('b'), undefined);
    assert.deepEqual(await Promise.all(['a', 'c', 'd'].map((key) => cache.get(key))), ['a', 'c', 'd']);
    assert.equal(cache.stats().l1Entries, 3);
  });

  it('evicts beyond maxBytes, counting the bytes of the stored JSON', async () => {
    const cache = l1Only(100, 1_000);
    const value = 'é'.repeat(150); // 300 bytes of UTF-8, plus the {"value":…,"expires":…} envelope
    for (const key of ['a', 'b', 'c', 'd']) await cache.set(key, value, 60_000);
    const { l1Entries, l1Bytes } = cache.stats();
    assert.ok(l1Bytes <= 1_000, `l1Bytes ${l1Bytes}`);
    assert.ok(l1Bytes > 2 * 300, `l1Bytes ${l1Bytes}`);
    assert.equal(l1Entries, 2);
    assert.equal(await cache.get('a'), undefined);
    assert.equal(await cache.get('d'), value);
  });

  it('does not keep a value larger than the whole L1', async () => {
    const cache = l1Only(100, 1_000);
    await cache.set('big', 'x'.repeat(2_000), 60_000);
    assert.equal(await cache.get('big'), undefined);
    assert.equal(cache.stats().l1Bytes, 0);
  });
});
