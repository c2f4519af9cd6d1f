import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpException } from '@nestjs/common';
import { GatewayError, RateLimitError } from '../../common/errors/gateway.error.js';
import { retryHeaders } from '../../common/errors/error-reply.js';
import { toGatewayError } from '../../common/errors/to-gateway-error.js';
import { toGatewayErrorFromOpenAi } from './openai.mapper.js';

const map = (status: number, body: unknown, headers = {}) => toGatewayErrorFromOpenAi('openai', status, body, headers);

describe('OpenAI upstream error mapping', () => {
  const cases: Array<[number, unknown, number, string, boolean]> = [
    [
      400,
      { error: { message: 'bad temperature', type: 'invalid_request_error', param: 'temperature', code: null } },
      400,
      'invalid_request',
      false,
    ],
    [400, { error: { message: 'too long', code: 'context_length_exceeded' } }, 400, 'context_length_exceeded', false],
    [401, { error: { message: 'Incorrect API key provided: sk-abc' } }, 502, 'upstream_auth_error', false],
    [403, { error: { message: 'region' } }, 403, 'upstream_permission_denied', false],
    [404, { error: { message: 'no such model' } }, 404, 'model_not_found', false],
    [429, { error: { message: 'slow down', code: 'rate_limit_exceeded' } }, 429, 'rate_limit_exceeded', true],
    [
      429,
      { error: { message: 'quota', type: 'insufficient_quota', code: 'insufficient_quota' } },
      429,
      'insufficient_quota',
      false,
    ],
    [500, { error: { message: 'boom' } }, 500, 'upstream_error', true],
    [503, 'Service Unavailable', 503, 'overloaded', true],
    [504, null, 504, 'upstream_timeout', true],
  ];
  for (const [status, body, expectedStatus, code, retryable] of cases) {
    it(`${status} ${code}`, () => {
      const error = map(status, body);
      assert.equal(error.status, expectedStatus);
      assert.equal(error.code, code);
      assert.equal(error.retryable, retryable);
      assert.ok(error.message.startsWith('openai: '));
    });
  }

  it('never passes the upstream 401 message on (it may echo the key)', () => {
    assert.doesNotMatch(map(401, { error: { message: 'Incorrect API key provided: sk-abc' } }).message, /sk-abc/);
  });

  it("keeps the upstream's Retry-After on 429", () => {
    assert.equal(map(429, {}, { 'retry-after': '3' }).retryAfterMs, 3_000);
  });

  it('keeps the param the upstream named', () => {
    assert.equal(map(400, { error: { message: 'x', param: 'messages[0]' } }).param, 'messages[0]');
  });
});

describe('retry headers', () => {
  it('advertise Retry-After in seconds and ms, capped at 60 s', () => {
    assert.deepEqual(retryHeaders(new RateLimitError('x', 2_500)), { 'retry-after': '3', 'retry-after-ms': '2500' });
    assert.deepEqual(retryHeaders(new RateLimitError('x', 600_000)), {
      'retry-after': '60',
      'retry-after-ms': '60000',
    });
  });

  it('tell the SDK not to retry a permanent 429/5xx', () => {
    assert.deepEqual(retryHeaders(new GatewayError(502, 'server_error', 'x', { retryable: false })), {
      'x-should-retry': 'false',
    });
    assert.deepEqual(retryHeaders(new GatewayError(400, 'invalid_request_error', 'x')), {});
  });
});

describe('toGatewayError', () => {
  it('maps Fastify body errors and hides unknown errors behind a generic 500', () => {
    assert.equal(toGatewayError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 100).status, 413);
    assert.equal(toGatewayError(new SyntaxError('Unexpected token'), 100).code, 'invalid_json');
    const hidden = toGatewayError(new Error('secret stack detail sk-123'), 100);
    assert.equal(hidden.status, 500);
    assert.doesNotMatch(hidden.message, /sk-123/);
    assert.equal(toGatewayError(new HttpException('nope', 404), 100).status, 404);
  });
});
