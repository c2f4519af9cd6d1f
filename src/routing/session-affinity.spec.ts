import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateGatewayConfig } from '../config/config-loader.js';
import { SessionAffinity } from './session-affinity.js';

function affinity(settings: Record<string, unknown> = {}): SessionAffinity {
  const config = validateGatewayConfig(
    {
      auth: { enabled: false },
      providers: [{ name: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:9' }],
      models: [{ name: 'm', deployments: [{ provider: 'p', model: 'x' }] }],
      routing: { affinity: settings },
    },
    'spec',
  );
  return new SessionAffinity(config);
}

describe('SessionAffinity', () => {
  it('reads the first source present: headers, then body fields by path', () => {
    const sessions = affinity();
    assert.equal(sessions.sessionOf({ 'x-claude-code-session-id': 'cc-1' }, { user: 'u' }), 'cc-1');
    assert.equal(sessions.sessionOf({}, { prompt_cache_key: 'pk', user: 'u' }), 'pk');
    assert.equal(sessions.sessionOf({}, { metadata: { user_id: 'meta' }, user: 'u' }), 'meta');
    assert.equal(sessions.sessionOf({}, { user: 'u' }), 'u');
    assert.equal(sessions.sessionOf({}, { metadata: 'not an object', user: '' }), undefined);
  });

  it('hashes long session ids, and reads nothing when off', () => {
    const long = 'x'.repeat(500);
    const key = affinity().sessionOf({ 'x-session-id': long }, undefined)!;
    assert.ok(key.length < 64 && key !== long);
    assert.equal(affinity({ enabled: false }).sessionOf({ 'x-session-id': 's' }, undefined), undefined);
  });

  it('pins per group in memory', () => {
    const sessions = affinity({ sources: ['header:x-trace-session'] });
    assert.equal(sessions.pinned('m', 's'), undefined);
    sessions.pin('m', 's', 'p/x');
    assert.equal(sessions.pinned('m', 's'), 'p/x');
    assert.equal(sessions.pinned('other', 's'), undefined);
  });

  it('refuses a source that names neither a header nor a body field', () => {
    assert.throws(() => affinity({ sources: ['x-session-id'] }), /routing\.affinity\.sources/);
  });
});
