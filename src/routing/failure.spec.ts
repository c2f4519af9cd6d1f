import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  GatewayError,
  InvalidRequestError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../common/errors/gateway.error.js';
import { upstreamErrors } from '../providers/provider-errors.js';
import { errorOrigin, UnexpectedAttemptError } from './failure.js';

describe('errorOrigin', () => {
  it('blames the upstream for the errors it answered with or its broken connection', () => {
    assert.equal(errorOrigin(upstreamErrors.serverError('p', 'boom', 503)), 'upstream');
    assert.equal(errorOrigin(upstreamErrors.rateLimited('p')), 'upstream');
    assert.equal(errorOrigin(upstreamErrors.timeout('p')), 'upstream', "the provider's own 504");
    assert.equal(errorOrigin(upstreamErrors.streamInterrupted('p')), 'upstream');
    const refused = new UpstreamError('unreachable', {
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
    assert.equal(bug.status, 500);
    assert.deepEqual(bug.toBody().error.code, 'internal_error');
  });

  it('blames the gateway for requests it refused before they reached the provider', () => {
    assert.equal(
      errorOrigin(new InvalidRequestError('json_schema is not supported here', 'response_format')),
      'gateway',
    );
  });
});
