import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { exceedsJsonDepth } from './json-body.js';

/** The nesting depth of a parsed value: the reference the scan must agree with. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, depthOf(child)), 0);
}

describe('exceedsJsonDepth', () => {
  it('agrees with the depth of the parsed value, for any JSON (brackets and escapes inside strings included)', () => {
    const tricky = fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"', '\\\\', 'x');
    const strings = fc.array(tricky, { maxLength: 8 }).map((parts) => parts.join(''));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        strings,
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(strings, tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 12 }), (parsed, limit) => {
        const text = JSON.stringify(parsed);
        assert.equal(exceedsJsonDepth(text, limit), depthOf(parsed) > limit, text);
      }),
      { numRuns: 2_000, seed: 11 },
    );
  });

  it('stops at the first level past the limit, without walking the rest', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.equal(exceedsJsonDepth(deep, 64), true);
    assert.equal(exceedsJsonDepth('{"a":[1,{"b":"[[[[[[[["}]}', 3), false, 'brackets in strings do not count');
    assert.equal(exceedsJsonDepth('{"a":[1,{"b":"[[[[[[[["}]}', 2), true);
  });
});
