import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickWeighted } from './weighted-choice.js';

describe('pickWeighted', () => {
  const items = [
    { id: 'a', weight: 1 },
    { id: 'b', weight: 3 },
    { id: 'c', weight: 0 },
  ];

  it('maps the random draw onto cumulative weights and never picks a zero weight', () => {
    assert.equal(pickWeighted(items, () => 0).id, 'a');
    assert.equal(pickWeighted(items, () => 0.2499).id, 'a');
    assert.equal(pickWeighted(items, () => 0.25).id, 'b');
    assert.equal(pickWeighted(items, () => 0.999999).id, 'b');
  });

  it('follows the weights over many draws', () => {
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 10_000; i++) counts[pickWeighted(items, random).id]++;
    assert.equal(counts.c, 0);
    assert.ok(Math.abs(counts.b / 10_000 - 0.75) < 0.02, `b share ${counts.b / 10_000}`);
  });
});
