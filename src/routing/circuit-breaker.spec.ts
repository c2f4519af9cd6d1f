import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreakerConfig } from '../config/gateway-config.js';
import { CircuitBreaker } from './circuit-breaker.js';

function breakerWithClock(overrides: Partial<CircuitBreakerConfig> = {}) {
  const clock = { now: 1_000_000 };
  const config = Object.assign(new CircuitBreakerConfig(), {
    failureThreshold: 3,
    windowMs: 10_000,
    openMs: 5_000,
    maxOpenMs: 15_000,
    halfOpenProbes: 1,
    ...overrides,
  });
  return { breaker: new CircuitBreaker(config, () => clock.now), clock };
}

describe('CircuitBreaker', () => {
  it('opens after N failures inside the window, not when they are spread out', () => {
    const spread = breakerWithClock();
    for (let i = 0; i < 5; i++) {
      spread.breaker.onFailure();
      spread.clock.now += 6_000;
    }
    assert.equal(spread.breaker.state(), 'closed');

    const { breaker } = breakerWithClock();
    breaker.onFailure();
    breaker.onFailure();
    assert.equal(breaker.state(), 'closed');
    breaker.onFailure();
    assert.equal(breaker.state(), 'open');
    assert.equal(breaker.tryAcquire(), false);
  });

  it('half-opens after the open period, admits one probe, and closes on its success', () => {
    const { breaker, clock } = breakerWithClock();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.now += 4_999;
    assert.equal(breaker.state(), 'open');
    clock.now += 1;
    assert.equal(breaker.state(), 'half-open');
    assert.equal(breaker.tryAcquire(), true);
    assert.equal(breaker.tryAcquire(), false, 'only one probe at a time');
    breaker.onSuccess();
    assert.equal(breaker.state(), 'closed');
    assert.equal(breaker.tryAcquire(), true);
  });

  it('re-opens for twice as long when the probe fails, capped at maxOpenMs', () => {
    const { breaker, clock } = breakerWithClock();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.now += 5_000;
    assert.ok(breaker.tryAcquire());
    breaker.onFailure();
    assert.equal(breaker.state(), 'open');
    clock.now += 9_999;
    assert.equal(breaker.state(), 'open');
    clock.now += 1;
    assert.equal(breaker.state(), 'half-open');
    assert.ok(breaker.tryAcquire());
    breaker.onFailure();
    clock.now += 15_000;
    assert.equal(breaker.state(), 'half-open', '20 s would exceed maxOpenMs (15 s)');
  });

  it("opens for exactly a 429's Retry-After", () => {
    const { breaker, clock } = breakerWithClock();
    breaker.onFailure(2_000);
    assert.equal(breaker.state(), 'open');
    clock.now += 1_999;
    assert.equal(breaker.state(), 'open');
    clock.now += 1;
    assert.equal(breaker.state(), 'half-open');
  });

  it('extends the open period on a failure while open (a forced attempt)', () => {
    const { breaker, clock } = breakerWithClock();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.now += 1_000;
    breaker.forceAcquire();
    breaker.onFailure();
    const { openUntil } = breaker.snapshot();
    assert.equal(openUntil, clock.now + 10_000);
  });

  it('gives the probe slot back on release without a verdict', () => {
    const { breaker, clock } = breakerWithClock();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.now += 5_000;
    assert.ok(breaker.tryAcquire());
    breaker.release();
    assert.ok(breaker.tryAcquire());
  });
});
