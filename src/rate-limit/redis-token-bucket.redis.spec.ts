/**
 * RedisBucketStore against a real Redis (REDIS_URL, default redis://127.0.0.1:6379). Without Redis this suite fails
 * in `before`; it never skips. Keys use a per-run prefix and are deleted afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { FailureMode, RateLimitRedisConfig } from './rate-limit.config.js';
import {
  createRateLimitRedisClient,
  RateLimitUnavailableError,
  RedisBucketStore,
  waitForRedis,
  type RedisBucketStoreOptions,
} from './redis-token-bucket.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const keyPrefix = `llmgw:rl:test:${randomUUID()}:`;
const clients: Redis[] = [];

function client(url = REDIS_URL): Redis {
  const config: RateLimitRedisConfig = { url, keyPrefix, commandTimeoutMs: 100, connectTimeoutMs: 500 };
  const created = createRateLimitRedisClient(config);
  clients.push(created);
  return created;
}

function store(redis: Redis, options: Partial<RedisBucketStoreOptions> = {}): RedisBucketStore {
  return new RedisBucketStore(redis, { keyPrefix, failureMode: 'failClosed', ...options });
}

function failureRecorder() {
  const errors: Array<[string, FailureMode]> = [];
  const warnings: string[] = [];
  return {
    errors,
    warnings,
    options: {
      onRedisError: (scope: string, mode: FailureMode) => void errors.push([scope, mode]),
      logger: { warn: (message: string) => void warnings.push(message) },
    },
  };
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; outcome: PromiseSettledResult<T> }> {
  const started = performance.now();
  const [outcome] = await Promise.allSettled([work()]);
  return { ms: performance.now() - started, outcome };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A TCP proxy to Redis that can stop forwarding, to play a Redis that accepts commands and never answers. */
async function freezableProxy(target: URL): Promise<{ url: string; freeze: () => void; close: () => Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((downstream) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    sockets.add(downstream).add(upstream);
    downstream.on('data', (chunk) => frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => frozen || downstream.write(chunk));
    for (const socket of [downstream, upstream]) {
      socket.on('error', () => undefined).on('close', () => sockets.delete(socket));
    }
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    freeze: () => void (frozen = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('RedisBucketStore (real Redis)', () => {
  let replicaA: Redis;
  let replicaB: Redis;

  before(async () => {
    replicaA = client();
    replicaB = client();
    try {
      await Promise.all([waitForRedis(replicaA, 3_000), waitForRedis(replicaB, 3_000)]);
    } catch (error) {
      throw new Error(`these tests need a Redis at ${REDIS_URL} (set REDIS_URL): ${(error as Error).message}`, {
        cause: error,
      });
    }
  });

  after(async () => {
    if (replicaA?.status === 'ready') {
      const keys: string[] = [];
      for await (const batch of replicaA.scanStream({ match: `${keyPrefix}*`, count: 500 }))
        keys.push(...(batch as string[]));
      if (keys.length > 0) await replicaA.del(...keys);
    }
    for (const redis of clients) {
      // ioredis arms a 2 s timer to destroy the socket on disconnect; when the socket is already closed (a client
      // that never reached Redis) nothing clears it and the test process lingers.
      if (redis.status !== 'ready') {
        (redis as unknown as { connector: { disconnectTimeout: number } }).connector.disconnectTimeout = 0;
      }
      redis.disconnect();
    }
  });

  it('is atomic across replicas: 50 concurrent takes on a bucket of 10 allow exactly 10', async () => {
    const stores = [store(replicaA), store(replicaB)];
    const limits = { capacity: 10, ratePerSecond: 0.001 };
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => stores[i % 2].take('atomic', 1, limits, 'key')),
    );
    const allowed = results.filter((r) => r.allowed);
    assert.equal(allowed.length, 10);
    assert.deepEqual(
      allowed.map((r) => r.remaining).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    assert.ok(results.filter((r) => !r.allowed).every((r) => r.retryAfterMs > 900_000));
  });

  it('refills over real time on the Redis clock', async () => {
    const buckets = store(replicaA);
    const limits = { capacity: 2, ratePerSecond: 20 };
    assert.equal((await buckets.take('refill', 2, limits)).allowed, true);
    const denied = await buckets.take('refill', 1, limits);
    assert.equal(denied.allowed, false);
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 50, `retryAfterMs ${denied.retryAfterMs}`);
    assert.ok(denied.resetMs > 50 && denied.resetMs <= 100, `resetMs ${denied.resetMs}`);
    await sleep(100);
    assert.deepEqual(await buckets.take('refill', 2, limits), {
      allowed: true,
      limit: 2,
      remaining: 0,
      retryAfterMs: 0,
      resetMs: 100,
    });
  });

  it('reserves tokens, then reconciles: gives back, takes the overrun, and drops the key once full', async () => {
    const buckets = store(replicaB);
    const tpm = { capacity: 1_000, ratePerSecond: 0.001 };
    const key = buckets.redisKey('tpm');
    assert.equal(key, `${keyPrefix}{tpm}`);
    assert.equal((await buckets.take('tpm', 800, tpm)).remaining, 200);
    const ttl = await replicaA.pttl(key);
    assert.ok(ttl > 799_000_000 && ttl <= 800_000_000, `pttl ${ttl}`);
    assert.equal((await buckets.adjust('tpm', -500, tpm)).remaining, 700);
    assert.equal((await store(replicaA).take('tpm', 0, tpm)).remaining, 700);
    assert.equal((await buckets.adjust('tpm', 900, tpm)).remaining, 0);
    assert.deepEqual(await buckets.adjust('tpm', -5_000, tpm), { limit: 1_000, remaining: 1_000, resetMs: 0 });
    assert.equal(await replicaA.exists(key), 0);
  });

  it('never allows a cost above capacity and stores nothing for it', async () => {
    const buckets = store(replicaA);
    const result = await buckets.take('too-big', 11, { capacity: 10, ratePerSecond: 1 });
    assert.equal(result.allowed, false);
    assert.equal(result.retryAfterMs, Infinity);
    assert.equal(await replicaA.exists(buckets.redisKey('too-big')), 0);
  });

  describe('when Redis is unreachable', () => {
    let deadUrl: string;
    before(async () => {
      deadUrl = `redis://127.0.0.1:${await freePort()}`;
    });

    it('failOpen allows from memory within 200 ms, counts every call and logs once', async () => {
      const recorder = failureRecorder();
      const buckets = store(client(deadUrl), { failureMode: 'failOpen', ...recorder.options });
      const limits = { capacity: 2, ratePerSecond: 0.001 };
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push(await timed(() => buckets.take('open', 1, limits, 'model')));
      for (const { ms } of outcomes) assert.ok(ms < 200, `took ${ms} ms`);
      assert.deepEqual(
        outcomes.map(({ outcome }) => outcome.status === 'fulfilled' && outcome.value.allowed),
        [true, true, false],
      );
      assert.deepEqual(recorder.errors, [
        ['model', 'failOpen'],
        ['model', 'failOpen'],
        ['model', 'failOpen'],
      ]);
      assert.equal(recorder.warnings.length, 1);
      assert.match(recorder.warnings[0], /failing open/);
    });

    it('failClosed rejects with a 503 RateLimitUnavailableError within 200 ms and counts it', async () => {
      const recorder = failureRecorder();
      const buckets = store(client(deadUrl), { failureMode: 'failClosed', ...recorder.options });
      const limits = { capacity: 2, ratePerSecond: 1 };
      const { ms, outcome } = await timed(() => buckets.take('closed', 1, limits, 'global'));
      assert.ok(ms < 200, `took ${ms} ms`);
      assert.equal(outcome.status, 'rejected');
      const error: unknown = outcome.reason;
      assert.ok(error instanceof RateLimitUnavailableError);
      assert.equal(error.status, 503);
      assert.equal(error.code, 'rate_limit_unavailable');
      await assert.rejects(buckets.adjust('closed', -1, limits, 'global'), RateLimitUnavailableError);
      assert.deepEqual(recorder.errors, [
        ['global', 'failClosed'],
        ['global', 'failClosed'],
      ]);
      assert.match(recorder.warnings[0], /failing closed/);
    });

    it('gives up on a Redis that stops answering after the command timeout', async () => {
      const proxy = await freezableProxy(new URL(REDIS_URL));
      const redis = client(proxy.url);
      try {
        await waitForRedis(redis, 3_000);
        const recorder = failureRecorder();
        const buckets = store(redis, { failureMode: 'failOpen', ...recorder.options });
        const limits = { capacity: 5, ratePerSecond: 1 };
        assert.equal((await buckets.take('hung', 1, limits, 'key')).remaining, 4);
        proxy.freeze();
        const { ms, outcome } = await timed(() => buckets.take('hung', 1, limits, 'key'));
        assert.ok(ms >= 90 && ms < 200, `took ${ms} ms`);
        assert.equal(outcome.status === 'fulfilled' && outcome.value.remaining, 4);
        assert.deepEqual(recorder.errors, [['key', 'failOpen']]);
        assert.match(recorder.warnings[0], /timed out/i);
      } finally {
        await proxy.close();
      }
    });
  });
});
