import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandHealth } from './command-health.js';

describe('CommandHealth', () => {
  it('is degraded while disconnected, while the last command failed, and for a while after a failure', () => {
    let now = 0;
    const health = new CommandHealth(5_000, () => now);
    assert.equal(health.state(true), 'up');
    assert.equal(health.state(false), 'degraded', 'a lost connection');
    health.failed();
    assert.equal(health.state(true), 'degraded', 'connected, but its commands time out');
    now = 100;
    health.succeeded();
    assert.equal(health.state(true), 'degraded', 'one success right after failures does not flap it back');
    now = 5_200;
    health.succeeded();
    assert.equal(health.state(true), 'up');
  });
});
