import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SingleFlight } from './single-flight.js';

describe('SingleFlight', () => {
  it('runs fn once for 10 identical concurrent calls and gives everyone its value', async () => {
    const flight = new SingleFlight<string>();
    let calls = 0;
    const fn = async () => {
      calls += 1;
      await sleep(20);
      return 'answer';
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => flight.run('k', fn)));
    assert.equal(calls, 1);
    assert.deepEqual(results, Array(10).fill('answer'));
    assert.equal(flight.size, 0);
  });

  it('runs different keys separately', async () => {
    const flight = new SingleFlight<string>();
    const results = await Promise.all([flight.run('a', async () => 'A'), flight.run('b', async () => 'B')]);
    assert.deepEqual(results, ['A', 'B']);
  });

  it('rejects every caller with the error and releases the key', async () => {
    const flight = new SingleFlight<string>();
    let calls = 0;
    const failing = async () => {
      calls += 1;
      await sleep(10);
      throw new Error('upstream down');
    };
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => flight.run('k', failing)));
    assert.equal(calls, 1);
    for (const outcome of outcomes) {
      if (outcome.status !== 'rejected') assert.fail('every caller gets the failure');
      assert.equal((outcome.reason as Error).message, 'upstream down');
    }
    assert.equal(flight.size, 0);
    assert.equal(await flight.run('k', async () => 'recovered'), 'recovered');
  });

  it('shares a synchronous throw as a rejection', async () => {
    const flight = new SingleFlight<string>();
    const boom = () => {
      throw new Error('sync');
    };
    await assert.rejects(flight.run('k', boom), /sync/);
    assert.equal(flight.size, 0);
  });

  it('starts a new call once the previous one settled', async () => {
    const flight = new SingleFlight<number>();
    let calls = 0;
    const fn = async () => ++calls;
    assert.equal(await flight.run('k', fn), 1);
    assert.equal(await flight.run('k', fn), 2);
  });
});
