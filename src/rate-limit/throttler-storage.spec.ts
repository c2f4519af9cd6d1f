import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ThrottlerException, ThrottlerGuard, type ThrottlerModuleOptions } from '@nestjs/throttler';
import { MemoryBucketStore } from './memory-token-bucket.js';
import { TokenBucketThrottlerStorage } from './throttler-storage.js';

class ChatController {
  create(): void {}
}

async function guardWith(options: ThrottlerModuleOptions) {
  const clock = { now: 0 };
  const storage = new TokenBucketThrottlerStorage(new MemoryBucketStore({ now: () => clock.now }));
  const guard = new ThrottlerGuard(options, storage, new Reflector());
  await guard.onModuleInit();
  const call = async (apiKey = 'sk-1') => {
    const headers: Record<string, unknown> = {};
    const req = { ip: '10.0.0.1', headers: { authorization: `Bearer ${apiKey}` } };
    const res = { header: (name: string, value: unknown) => void (headers[name] = value) };
    const context = {
      getHandler: () => ChatController.prototype.create.bind(ChatController.prototype),
      getClass: () => ChatController,
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
    } as unknown as ExecutionContext;
    try {
      return { allowed: await guard.canActivate(context), headers };
    } catch (error) {
      assert.ok(error instanceof ThrottlerException);
      return { allowed: false, headers };
    }
  };
  return { clock, storage, call };
}

const trackApiKey = (req: Record<string, unknown>) => String((req.headers as Record<string, string>).authorization);

describe('TokenBucketThrottlerStorage under ThrottlerGuard', () => {
  it('passes `limit` calls, then blocks with Retry-After until one token is back', async () => {
    const { clock, call } = await guardWith({ throttlers: [{ limit: 3, ttl: 60_000 }], getTracker: trackApiKey });
    for (const remaining of [2, 1, 0]) {
      const { allowed, headers } = await call();
      assert.equal(allowed, true);
      assert.equal(headers['X-RateLimit-Limit'], 3);
      assert.equal(headers['X-RateLimit-Remaining'], remaining);
    }
    const first = await call('sk-1');
    assert.equal(first.allowed, false);
    assert.equal(first.headers['Retry-After'], 20);
    assert.equal((await call('sk-2')).allowed, true);

    clock.now = 19_999;
    assert.equal((await call()).allowed, false);
    clock.now = 20_000;
    const again = await call();
    assert.equal(again.allowed, true);
    assert.equal(again.headers['X-RateLimit-Remaining'], 0);
    assert.equal(again.headers['X-RateLimit-Reset'], 60);
  });

  it('keeps named throttlers apart and suffixes their headers', async () => {
    const { call } = await guardWith({
      throttlers: [
        { name: 'short', limit: 2, ttl: 1_000 },
        { name: 'long', limit: 100, ttl: 60_000 },
      ],
    });
    const { headers } = await call();
    assert.equal(headers['X-RateLimit-Remaining-short'], 1);
    assert.equal(headers['X-RateLimit-Reset-short'], 1);
    assert.equal(headers['X-RateLimit-Remaining-long'], 99);
    await call();
    const blocked = await call();
    assert.equal(blocked.allowed, false);
    assert.equal(blocked.headers['Retry-After-short'], 1);
  });

  it('returns the record shape the guard expects', async () => {
    const { storage } = await guardWith({ throttlers: [] });
    assert.deepEqual(await storage.increment('k', 10_000, 2, 10_000, 'default'), {
      totalHits: 1,
      timeToExpire: 5,
      isBlocked: false,
      timeToBlockExpire: 0,
    });
    await storage.increment('k', 10_000, 2, 10_000, 'default');
    assert.deepEqual(await storage.increment('k', 10_000, 2, 10_000, 'default'), {
      totalHits: 3,
      timeToExpire: 10,
      isBlocked: true,
      timeToBlockExpire: 5,
    });
    assert.equal((await storage.increment('zero', 10_000, 0, 10_000, 'default')).isBlocked, true);
  });
});
