import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryResponseStore, type StoredResponse } from './response-store.js';
import type { ResponseObject } from './responses.types.js';

function stored(id: string): StoredResponse {
  return { response: { id } as ResponseObject, input: [{ role: 'user', content: 'hi' }] };
}

describe('MemoryResponseStore', () => {
  it('keeps a response for its key only', async () => {
    const store = new MemoryResponseStore(10, 60_000);
    await store.put('team-a', stored('resp_1'));
    assert.equal((await store.get('team-a', 'resp_1'))?.response.id, 'resp_1');
    assert.equal(await store.get('team-b', 'resp_1'), undefined);
    assert.equal(await store.delete('team-b', 'resp_1'), false);
    assert.equal(await store.delete('team-a', 'resp_1'), true);
    assert.equal(await store.get('team-a', 'resp_1'), undefined);
  });

  it('drops the oldest beyond maxEntries and any after its TTL', async () => {
    const store = new MemoryResponseStore(2, 60_000);
    for (const id of ['resp_1', 'resp_2', 'resp_3']) await store.put('k', stored(id));
    assert.equal(await store.get('k', 'resp_1'), undefined);
    assert.ok(await store.get('k', 'resp_3'));

    const brief = new MemoryResponseStore(10, 30);
    await brief.put('k', stored('resp_1'));
    await sleep(60);
    assert.equal(await brief.get('k', 'resp_1'), undefined);
  });
});
