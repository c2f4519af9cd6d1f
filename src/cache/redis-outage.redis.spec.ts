/**
 * Redis outage, against a second redis-server this spec starts on a free port and kills: the cache keeps
 * working on L1 without throwing or waiting, logs once per interval, reports `degraded`, and recovers.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { plainToInstance } from 'class-transformer';
import { RedisInstance } from '../../test/support/redis-instance.js';
import { CacheConfig } from './cache.config.js';
import { TieredCache } from './tiered-cache.js';

const COMMAND_TIMEOUT_MS = 150;

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

async function timed<T>(operation: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await operation;
  return { value, ms: performance.now() - start };
}

describe('TieredCache when Redis goes away', () => {
  let redis: RedisInstance;
  const warnings: string[] = [];
  const infos: string[] = [];
  const logger = { log: (message: string) => infos.push(message), warn: (message: string) => warnings.push(message) };
  const caches: TieredCache[] = [];

  function cache(): TieredCache {
    const config = plainToInstance(
      CacheConfig,
      {
        enabled: true,
        errorLogIntervalMs: 30_000,
        redis: {
          url: redis.url,
          connectTimeoutMs: 200,
          commandTimeoutMs: COMMAND_TIMEOUT_MS,
          reconnectMaxDelayMs: 100,
        },
      },
      { exposeDefaultValues: true },
    );
    const created = TieredCache.fromConfig(config, logger);
    caches.push(created);
    return created;
  }

  before(async () => {
    redis = await RedisInstance.start();
  });

  after(async () => {
    await Promise.all(caches.map((created) => created.close()));
    await redis.kill();
  });

  let main: TieredCache;

  it('serves through Redis while it is up', async () => {
    main = cache();
    await waitFor(() => main.health() === 'up');
    await main.set('before', 'cached before the outage', 60_000);
    const peer = cache();
    await waitFor(() => peer.health() === 'up');
    assert.equal(await peer.get('before'), 'cached before the outage');
    assert.equal(peer.stats().l2Hits, 1);
    await peer.close(); // each cache throttles its own warnings; from here on only `main` logs
    assert.deepEqual(warnings, []);
  });

  it('keeps working on L1 when Redis is killed mid-traffic, without waiting, logging once', async () => {
    const traffic = (async () => {
      const durations: number[] = [];
      for (let i = 0; i < 40; i++) {
        const write = await timed(main.set(`k${i}`, `v${i}`, 60_000));
        const read = await timed(main.get(`k${i}`));
        const old = await timed(main.get('before'));
        assert.equal(read.value, `v${i}`);
        assert.equal(old.value, 'cached before the outage');
        durations.push(write.ms, read.ms, old.ms);
        await sleep(5);
      }
      return durations;
    })();
    await sleep(60);
    await redis.kill();
    const durations = await traffic;

    assert.equal(main.health(), 'degraded');
    assert.ok(Math.max(...durations) < COMMAND_TIMEOUT_MS, `slowest operation took ${Math.max(...durations)} ms`);
    const miss = await timed(main.get('never-set'));
    assert.equal(miss.value, undefined);
    assert.ok(miss.ms < 50, `a miss during the outage took ${miss.ms} ms`);

    await sleep(400); // several failed reconnection attempts
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /Redis/);
    assert.ok(main.stats().l1Hits >= 80);
  });

  it('is up again and uses L2 once redis-server is back on the same port', async () => {
    await redis.restart();
    await waitFor(() => main.health() === 'up');
    await main.set('after', 'cached after the outage', 60_000);
    const fresh = cache();
    await waitFor(() => fresh.health() === 'up');
    assert.equal(await fresh.get('after'), 'cached after the outage');
    assert.equal(fresh.stats().l2Hits, 1);
    await fresh.close();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.ok(infos.filter((line) => line.includes('ready')).length >= 3);
  });

  it('a hung Redis costs one command timeout, then L2 is left alone for a while', async () => {
    redis.freeze();
    try {
      const first = await timed(main.get('unknown-1'));
      assert.equal(first.value, undefined);
      assert.ok(first.ms >= COMMAND_TIMEOUT_MS - 10 && first.ms < COMMAND_TIMEOUT_MS + 150, `first ${first.ms} ms`);
      assert.equal(main.health(), 'degraded');
      const second = await timed(main.get('unknown-2'));
      assert.ok(second.ms < 50, `second ${second.ms} ms`);
      await main.set('during-hang', 'v', 60_000);
      assert.equal(await main.get('during-hang'), 'v');
    } finally {
      redis.thaw();
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
  });
});
