/**
 * RedisResponseStore against the real Redis at 127.0.0.1:6379 (fails, never skips, without it), and against a
 * server of its own that is killed: lookups then fail with 503, writes are logged and never throw.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisInstance } from '../../../test/support/redis-instance.js';
import { createRedisClient } from '../../cache/redis-client.js';
import { RedisResponseStore, type StoredResponse } from './response-store.js';
import type { ResponseObject } from './responses.types.js';

const PREFIX = `llmgw:test:responses:${process.pid}-${Date.now()}:`;
const silent = { log: () => undefined, warn: () => undefined };
const options = { connectTimeoutMs: 500, commandTimeoutMs: 200, reconnectMaxDelayMs: 100 };

async function connected(url: string): Promise<Redis> {
  const client = createRedisClient(url, options, silent);
  await once(client, 'ready');
  return client;
}

function stored(id: string): StoredResponse {
  return {
    response: { id, object: 'response', status: 'completed' } as ResponseObject,
    input: [{ type: 'message', role: 'user', content: 'hi' }],
    nativeProvider: 'openai',
  };
}

describe('RedisResponseStore', () => {
  const clients: Redis[] = [];
  after(async () => {
    const admin = new Redis('redis://127.0.0.1:6379');
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    for (const client of clients) client.disconnect();
  });

  it('stores under the key with the TTL, scoped to the gateway key, and deletes', async () => {
    const client = await connected('redis://127.0.0.1:6379');
    clients.push(client);
    const store = new RedisResponseStore(client, PREFIX, 120, silent);
    await store.put('team-a', stored('resp_1'));
    assert.deepEqual(await store.get('team-a', 'resp_1'), stored('resp_1'));
    assert.equal(await store.get('team-b', 'resp_1'), undefined);
    const ttl = await client.ttl(`${PREFIX}team-a:resp_1`);
    assert.ok(ttl > 100 && ttl <= 120, String(ttl));
    // A second replica (another client) sees it.
    const other = await connected('redis://127.0.0.1:6379');
    clients.push(other);
    assert.equal(
      (await new RedisResponseStore(other, PREFIX, 120, silent).get('team-a', 'resp_1'))?.response.id,
      'resp_1',
    );
    assert.equal(await store.delete('team-b', 'resp_1'), false);
    assert.equal(await store.delete('team-a', 'resp_1'), true);
    assert.equal(await store.get('team-a', 'resp_1'), undefined);
  });

  it('answers 503 on lookups and logs failed writes while Redis is down', async () => {
    const server = await RedisInstance.start();
    const client = await connected(server.url);
    clients.push(client);
    const warnings: string[] = [];
    const store = new RedisResponseStore(client, PREFIX, 60, { warn: (message: string) => warnings.push(message) });
    await store.put('k', stored('resp_2'));
    await server.kill();
    await assert.rejects(store.get('k', 'resp_2'), { status: 503, code: 'response_store_unavailable' });
    await assert.rejects(store.delete('k', 'resp_2'), { status: 503 });
    await store.put('k', stored('resp_3'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /resp_3 not stored/);
  });
});
