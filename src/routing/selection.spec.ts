import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyFailure, movesToNextDeployment, UnexpectedAttemptError } from './failure.js';
import { ewma, selectDeployment } from './selection.js';
import { upstreamErrors } from '../providers/provider-errors.js';
import {
  ClientClosedError,
  InvalidRequestError,
  ModelNotFoundError,
  ServiceUnavailableError,
  UpstreamTimeoutError,
} from '../common/errors/gateway.error.js';

/** A seeded PRNG (mulberry32), so the distribution test is deterministic. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const deployment = (id: string, weight: number, inFlight = 0, latencyEwmaMs?: number) => ({
  id,
  weight,
  stats: { inFlight, latencyEwmaMs },
});

describe('selectDeployment', () => {
  it('weighted: 10,000 seeded draws follow the weights within 1.5 points', () => {
    const group = [deployment('a', 5), deployment('b', 3), deployment('c', 2)];
    const random = seeded(7);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 10_000; i++) counts[selectDeployment('weighted', group, { cursor: 0 }, random).id]++;
    assert.ok(Math.abs(counts.a / 10_000 - 0.5) < 0.015, JSON.stringify(counts));
    assert.ok(Math.abs(counts.b / 10_000 - 0.3) < 0.015, JSON.stringify(counts));
    assert.ok(Math.abs(counts.c / 10_000 - 0.2) < 0.015, JSON.stringify(counts));
  });

  it('round-robin cycles through the candidates', () => {
    const group = [deployment('a', 1), deployment('b', 1), deployment('c', 1)];
    const state = { cursor: 0 };
    const picks = Array.from({ length: 6 }, () => selectDeployment('round-robin', group, state, Math.random).id);
    assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('least-busy picks the fewest in flight', () => {
    const group = [deployment('a', 1, 3), deployment('b', 1, 1), deployment('c', 1, 2)];
    assert.equal(selectDeployment('least-busy', group, { cursor: 0 }, Math.random).id, 'b');
  });

  it('lowest-latency tries unmeasured deployments first, then the lowest EWMA', () => {
    const unmeasured = [deployment('a', 1, 0, 50), deployment('b', 1, 0, undefined)];
    assert.equal(selectDeployment('lowest-latency', unmeasured, { cursor: 0 }, Math.random).id, 'b');
    const measured = [deployment('a', 1, 0, 50), deployment('b', 1, 0, 20), deployment('c', 1, 0, 90)];
    assert.equal(selectDeployment('lowest-latency', measured, { cursor: 0 }, Math.random).id, 'b');
  });

  it('ewma seeds with the first sample and moves 30% towards each next one', () => {
    assert.equal(ewma(undefined, 100), 100);
    assert.equal(ewma(100, 200), 130);
  });
});

describe('failure taxonomy', () => {
  it('classifies gateway errors and decides who moves on', () => {
    const p = 'p';
    const cases: Array<[unknown, string, boolean]> = [
      [new InvalidRequestError('x'), 'caller_error', false],
      [new ModelNotFoundError('m'), 'caller_error', false],
      [upstreamErrors.contextLengthExceeded(p), 'caller_error', false],
      [upstreamErrors.authFailed(p), 'auth_error', true],
      [upstreamErrors.rateLimited(p), 'rate_limited', true],
      [upstreamErrors.insufficientQuota(p), 'rate_limited', true],
      [upstreamErrors.overloaded(p), 'overloaded', true],
      [upstreamErrors.serverError(p), 'server_error', true],
      [new UpstreamTimeoutError(), 'timeout', true],
      [upstreamErrors.streamInterrupted(p), 'server_error', true],
      [new ClientClosedError(), 'cancelled', false],
      [new ServiceUnavailableError('draining', 1_000, 'shutting_down'), 'cancelled', false],
      [new Error('unknown'), 'gateway_error', false],
      [new UnexpectedAttemptError(new RangeError('Maximum call stack size exceeded')), 'gateway_error', false],
    ];
    for (const [error, expected, moves] of cases) {
      const failure = classifyFailure(error);
      assert.equal(failure, expected, String((error as Error).message));
      assert.equal(movesToNextDeployment(failure), moves, expected);
    }
  });
});
