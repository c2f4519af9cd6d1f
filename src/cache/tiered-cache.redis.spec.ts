/**
 * TieredCache against the real Redis at 127.0.0.1:6379. Fails (never skips) when that Redis is missing.
 * Keys live under a prefix unique to this run and are removed afterwards.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Test } from '@nestjs/testing';
import { plainToInstance } from 'class-transformer';
import { Redis } from 'ioredis';
import { gatewayModules } from '../../test/support/gateway-modules.js';
import { CacheConfig } from './cache.config.js';
import { CACHE_CONFIG, CacheModule, TIERED_CACHE } from './cache.module.js';
import { RedisKeyvStore } from './redis-keyv-store.js';
import { TieredCache } from './tiered-cache.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `llmgw:test:${process.pid}-${Date.now()}:`;
const silent = { log: () => undefined, warn: () => undefined };

function config(overrides: Record<string, unknown> = {}): CacheConfig {
  return plainToInstance(
    CacheConfig,
    { enabled: true, redis: { url: REDIS_URL, keyPrefix: PREFIX }, ...overrides },
    { exposeDefaultValues: true },
  );
}

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('TieredCache with Redis', () => {
  let admin: Redis;
  const caches: TieredCache[] = [];

  async function connectedCache(overrides?: Record<string, unknown>): Promise<TieredCache> {
    const cache = TieredCache.fromConfig(config(overrides), silent);
    caches.push(cache);
    await waitFor(() => cache.health() === 'up');
    return cache;
  }

  before(async () => {
    admin = new Redis(REDIS_URL, {
      lazyConnect: true,
      connectTimeout: 1_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    admin.on('error', () => undefined); // connect() below reports it
    try {
      await admin.connect();
      await admin.ping();
    } catch (error) {
      throw new Error(`these tests need Redis at 127.0.0.1:6379 (start redis-server): ${(error as Error).message}`, {
        cause: error,
      });
    }
  });

  after(async () => {
    await Promise.all(caches.map((cache) => cache.close()));
    if (admin.status === 'ready') {
      await new RedisKeyvStore(admin, PREFIX).clear();
      await admin.quit();
    }
  });

  it('writes through to Redis and reads back from L1', async () => {
    const cache = await connectedCache();
    await cache.set('k1', '{"id":"chatcmpl-1"}', 60_000);
    assert.equal(await cache.get('k1'), '{"id":"chatcmpl-1"}');
    assert.equal(cache.stats().l1Hits, 1);
    const stored = JSON.parse((await admin.get(`${PREFIX}k1`)) ?? 'null') as { value: string; expires: number };
    assert.equal(stored.value, '{"id":"chatcmpl-1"}');
    const pttl = await admin.pttl(`${PREFIX}k1`);
    assert.ok(pttl > 59_000 && pttl <= 60_000, `pttl ${pttl}`);
  });

  it('a fresh instance hits L2 and backfills L1, so the next get does not need Redis', async () => {
    const writer = await connectedCache();
    await writer.set('k2', 'cached completion', 60_000);
    const reader = await connectedCache();
    assert.equal(await reader.get('k2'), 'cached completion');
    assert.equal(reader.stats().l2Hits, 1);
    await admin.del(`${PREFIX}k2`);
    assert.equal(await reader.get('k2'), 'cached completion');
    assert.deepEqual([reader.stats().l1Hits, reader.stats().l2Hits, reader.stats().misses], [1, 1, 0]);
  });

  it('backfills with the remaining TTL, not a fresh one', async () => {
    const writer = await connectedCache();
    const reader = await connectedCache();
    await writer.set('k3', 'v', 400);
    await sleep(200);
    assert.equal(await reader.get('k3'), 'v');
    await admin.del(`${PREFIX}k3`);
    await sleep(250);
    assert.equal(await reader.get('k3'), undefined);
  });

  it('expires entries in both levels', async () => {
    const cache = await connectedCache();
    await cache.set('k4', 'v', 200);
    assert.equal(await admin.exists(`${PREFIX}k4`), 1);
    await sleep(250);
    assert.equal(await cache.get('k4'), undefined);
    assert.equal(await admin.exists(`${PREFIX}k4`), 0);
    const fresh = await connectedCache();
    assert.equal(await fresh.get('k4'), undefined);
  });

  it('deletes from both levels', async () => {
    const cache = await connectedCache();
    await cache.set('k5', 'v', 60_000);
    await cache.delete('k5');
    assert.equal(await cache.get('k5'), undefined);
    assert.equal(await admin.exists(`${PREFIX}k5`), 0);
  });

  it('RedisKeyvStore.clear removes only keys under its prefix', async () => {
    const inner = new RedisKeyvStore(admin, `${PREFIX}clear:`);
    await Promise.all(['a', 'b', 'c'].map((key) => inner.set(key, 'v', 60_000)));
    await admin.set(`${PREFIX}outside`, 'v', 'PX', 60_000);
    await inner.clear();
    assert.equal(await admin.exists(`${PREFIX}clear:a`, `${PREFIX}clear:b`, `${PREFIX}clear:c`), 0);
    assert.equal(await admin.exists(`${PREFIX}outside`), 1);
  });

  it('CacheModule provides the cache and closes its Redis connection on shutdown', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ...gatewayModules({ cache: { enabled: true, redis: { url: REDIS_URL, keyPrefix: PREFIX } } }),
        CacheModule,
      ],
    }).compile();
    await moduleRef.init();
    const cache = moduleRef.get<TieredCache>(TIERED_CACHE);
    assert.equal(moduleRef.get<CacheConfig>(CACHE_CONFIG).redis?.keyPrefix, PREFIX);
    await waitFor(() => cache.health() === 'up');
    await cache.set('k6', 'v', 60_000);
    assert.equal(await admin.exists(`${PREFIX}k6`), 1);
    await moduleRef.close();
    await waitFor(() => cache.health() === 'degraded');
    assert.equal(await cache.get('k6'), 'v');
  });

  it('does not connect to Redis while the cache is disabled', () => {
    const cache = TieredCache.fromConfig(config({ enabled: false }), silent);
    assert.equal(cache.health(), 'disabled');
  });
});
