import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialHeaders } from './upstream-client.js';

describe('credentialHeaders', () => {
  it('returns the same object while the credential is unchanged and a new one after a rotation', () => {
    let key: string | undefined = 'k1';
    const headers = credentialHeaders(
      () => key,
      (value) => ({ authorization: `Bearer ${value}` }),
    );
    const first = headers();
    assert.deepEqual(first, { authorization: 'Bearer k1' });
    assert.equal(headers(), first);
    key = 'k2';
    assert.deepEqual(headers(), { authorization: 'Bearer k2' });
    key = undefined;
    assert.deepEqual(headers(), {});
  });
});
