import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Cancellation, DeadlineExceeded } from './cancellation.js';

describe('Cancellation', () => {
  it('cancels once, with the first reason, and tells each listener once', () => {
    const cancellation = new Cancellation();
    const heard: string[] = [];
    cancellation.onCancel(() => heard.push('a'));
    const removeB = cancellation.onCancel(() => heard.push('b'));
    removeB();
    assert.equal(cancellation.aborted, false);
    cancellation.cancel('first');
    cancellation.cancel('second');
    assert.equal(cancellation.aborted, true);
    assert.equal(cancellation.reason, 'first');
    assert.deepEqual(heard, ['a']);
    let late = false;
    cancellation.onCancel(() => (late = true));
    assert.equal(late, false);
  });

  it('makes an AbortSignal only on demand, aborted with the same reason before or after', () => {
    const before = new Cancellation();
    const signal = before.signal;
    assert.equal(signal.aborted, false);
    before.cancel('gone');
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, 'gone');
    const after = new Cancellation();
    after.cancel('late');
    assert.equal(after.signal.aborted, true);
    assert.equal(after.signal.reason, 'late');
  });

  it('has children that follow the parent, time out on their own, and detach on dispose', async () => {
    const parent = new Cancellation();
    const followed = parent.child();
    const timed = parent.child(5, () => new DeadlineExceeded(5));
    const detached = parent.child();
    detached.dispose();
    await sleep(20);
    assert.ok(timed.cancellation.reason instanceof DeadlineExceeded);
    assert.equal(parent.aborted, false);
    parent.cancel('client left');
    assert.equal(followed.cancellation.reason, 'client left');
    assert.equal(detached.cancellation.aborted, false);
    assert.ok(parent.child().cancellation.aborted, 'a child of a cancelled parent starts cancelled');
  });

  it('follows an AbortSignal', () => {
    const controller = new AbortController();
    const cancellation = Cancellation.following(controller.signal);
    controller.abort('stop');
    assert.equal(cancellation.reason, 'stop');
    assert.equal(Cancellation.following(AbortSignal.abort('already')).reason, 'already');
    assert.equal(Cancellation.following(undefined).aborted, false);
  });
});
