import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError, UpstreamTimeoutError } from '../../src/common/errors/gateway.error.js';
import { upstreamErrors } from '../../src/providers/provider-errors.js';
import { errorOrigin, UnexpectedAttemptError } from '../../src/routing/failure.js';

describe('errorOrigin', () => {
  it('blames the upstream for the errors it answered with or its broken connection', () => {
    assert.equal(errorOrigin(upstreamErrors.serverError('p', 'boom', 503)), 'upstream');
    assert.equal(errorOrigin(upstreamErrors.rateLimited('p')), 'upstream');
    assert.equal(errorOrigin(upstreamErrors.timeout('p')), 'upstream', "the provider's own 504");
    assert.equal(errorOrigin(upstreamErrors.streamInterrupted('p')), 'upstream');
    const refused = new GatewayError(502, 'server_error', 'unreachable', {
      code: 'upstream_connection_error',
      cause: { code: 'ECONNREFUSED' },
    });
    assert.equal(errorOrigin(refused), 'upstream');
  });

  it('blames the gateway for its own deadlines and for failures that are not GatewayErrors', () => {
    assert.equal(errorOrigin(new UpstreamTimeoutError()), 'gateway');
    assert.equal(errorOrigin(new GatewayError(504, 'server_error', 'silent', { code: 'ttft_timeout' })), 'gateway');
    assert.equal(errorOrigin(new GatewayError(504, 'server_error', 'silent', { code: 'idle_timeout' })), 'gateway');
    const bug = new UnexpectedAttemptError(new TypeError('a mapper bug'));
    assert.equal(errorOrigin(bug), 'gateway');
    assert.deepEqual(bug.toBody().error.code, 'upstream_error', 'the client sees the usual 502');
  });
});
