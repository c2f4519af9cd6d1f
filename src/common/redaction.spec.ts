import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SecretRedactor } from './redaction.js';

describe('SecretRedactor', () => {
  it('replaces every registered secret, wherever and however often it appears', () => {
    const redactor = new SecretRedactor();
    redactor.add('vault-token-s.abcdefgh');
    redactor.add('ernie-secret-key-value');
    const text = 'token vault-token-s.abcdefgh, again vault-token-s.abcdefgh; secret=ernie-secret-key-value&x=1';
    const out = redactor.redact(text);
    assert.ok(!out.includes('vault-token') && !out.includes('ernie-secret'), out);
    assert.equal(out.match(/\[redacted\]/g)?.length, 3);
  });

  it('prefers the longer of two overlapping secrets', () => {
    const redactor = new SecretRedactor();
    redactor.add('abcdefgh');
    redactor.add('abcdefgh-ijklmnop');
    assert.equal(redactor.redact('x abcdefgh-ijklmnop y'), 'x [redacted] y');
  });

  it('ignores values too short to be a secret', () => {
    const redactor = new SecretRedactor();
    redactor.add('short');
    assert.equal(redactor.redact('a short word'), 'a short word');
  });

  it('redacts credential shapes it was never told about', () => {
    const redactor = new SecretRedactor();
    const cases: Array<[string, string]> = [
      ['Forbidden for key Bearer sk-unregistered-0123456789', 'Forbidden for key Bearer [redacted]'],
      ['GET /v1beta/models?key=AIzaSyA-unregistered-value-012345678', 'GET /v1beta/models?key=[redacted]'],
      ['the key sk-ant-api03-0123456789abcdefghij is invalid', 'the key [redacted] is invalid'],
      ['AKIAIOSFODNN7EXAMPLE was refused', '[redacted] was refused'],
      ['vault said hvs.CAESIJ0123456789abcdefghijkl', 'vault said [redacted]'],
    ];
    for (const [text, expected] of cases) assert.equal(redactor.redact(text), expected);
  });

  it('leaves ordinary texts alone (max_tokens=, token counts, model names)', () => {
    const redactor = new SecretRedactor();
    for (const text of ['max_tokens=4096 is too large', 'used 1234 tokens', "model 'gpt-4o-mini' not found"]) {
      assert.equal(redactor.redact(text), text);
    }
  });

  it('never lets a registered secret through, whatever text surrounds it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 40 }), fc.string(), fc.string(), (secret, before, after) => {
        fc.pre(secret.trim() === secret);
        const redactor = new SecretRedactor();
        redactor.add(secret);
        assert.ok(!redactor.redact(`${before}${secret}${after}`).includes(secret));
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});

describe('SecretRedactor with short-lived tokens', () => {
  it('keeps the latest 64 and forgets the oldest, while long-lived secrets stay', () => {
    const redactor = new SecretRedactor();
    redactor.add('long-lived-secret-0001');
    for (let i = 0; i < 70; i++) redactor.addEphemeral(`oauth-token-${String(i).padStart(4, '0')}`);
    assert.ok(redactor.leaks('x long-lived-secret-0001'));
    assert.ok(redactor.leaks('x oauth-token-0069'));
    assert.ok(redactor.leaks('x oauth-token-0006'));
    assert.ok(!redactor.leaks('x oauth-token-0005'), 'the oldest went');
  });
});
