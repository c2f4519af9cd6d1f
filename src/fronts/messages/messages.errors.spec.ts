import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import {
  AuthenticationError,
  GatewayError,
  InvalidRequestError,
  ModelNotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  ServiceUnavailableError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../../common/errors/gateway.error.js';
import { anthropicErrorOf } from './messages.errors.js';

/** What the gateway's providers report for an upstream at capacity (src/providers/provider-errors.ts). */
const overloaded = () =>
  new GatewayError(503, 'server_error', 'anthropic: Overloaded', {
    code: 'overloaded',
    retryable: true,
    fromUpstream: true,
  });

const cases: [string, GatewayError, number, string][] = [
  [
    'an invalid request',
    new InvalidRequestError('messages.0.role: bad', 'messages.0.role'),
    400,
    'invalid_request_error',
  ],
  ['a missing key', new AuthenticationError(), 401, 'authentication_error'],
  ['a forbidden model', new PermissionDeniedError('This key may not use the model.'), 403, 'permission_error'],
  ['an unknown model', new ModelNotFoundError('claude-x'), 404, 'not_found_error'],
  ['a body over the limit', new PayloadTooLargeError(1024), 413, 'request_too_large'],
  [
    'a 415 from the HTTP gate',
    new GatewayError(415, 'invalid_request_error', 'Content-Type'),
    415,
    'invalid_request_error',
  ],
  ['a rate limit', new RateLimitError('Slow down.', 2_000), 429, 'rate_limit_error'],
  ['a used-up budget', new GatewayError(429, 'insufficient_quota', 'Budget used up.'), 429, 'rate_limit_error'],
  ['an internal error', new GatewayError(500, 'server_error', 'Internal error.'), 500, 'api_error'],
  ['a broken upstream', new UpstreamError('openai: bad gateway'), 502, 'api_error'],
  ['an upstream timeout', new UpstreamTimeoutError(), 504, 'timeout_error'],
  ['an overloaded upstream', overloaded(), 529, 'overloaded_error'],
  ['a draining gateway', new ServiceUnavailableError('draining', 1_000, 'shutting_down'), 529, 'overloaded_error'],
];

describe('anthropicErrorOf', () => {
  for (const [name, error, status, type] of cases) {
    it(`answers ${name} with ${status} ${type} and the gateway's message`, () => {
      assert.deepEqual(anthropicErrorOf(error), {
        status,
        body: { type: 'error', error: { type, message: error.message } },
      });
    });
  }

  it('keeps the message as redacted when the error was made', () => {
    const error = new InvalidRequestError('anthropic: bad key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789');
    assert.equal(anthropicErrorOf(error).body.error.message, error.message);
    assert.doesNotMatch(error.message, /abcdefghijklmnopqrstuvwxyz0123456789/);
  });

  describe('as @anthropic-ai/sdk sees it', () => {
    let server: Server;
    let client: Anthropic;
    let next: { status: number; body: unknown } = { status: 500, body: {} };

    before(async () => {
      server = createServer((request, response) => {
        request.resume();
        request.on('end', () => {
          response.writeHead(next.status, { 'content-type': 'application/json', 'x-should-retry': 'false' });
          response.end(JSON.stringify(next.body));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      client = new Anthropic({ apiKey: 'sk-test', baseURL: `http://127.0.0.1:${port}`, maxRetries: 0, timeout: 5_000 });
    });

    after(() => {
      server.closeAllConnections();
      server.close();
    });

    const classes: [GatewayError, abstract new (...args: never[]) => InstanceType<typeof Anthropic.APIError>][] = [
      [new InvalidRequestError('bad'), Anthropic.BadRequestError],
      [new AuthenticationError(), Anthropic.AuthenticationError],
      [new PermissionDeniedError('no'), Anthropic.PermissionDeniedError],
      [new ModelNotFoundError('m'), Anthropic.NotFoundError],
      [new PayloadTooLargeError(1), Anthropic.ContentTooLargeError],
      [new RateLimitError('slow'), Anthropic.RateLimitError],
      [new GatewayError(500, 'server_error', 'oops'), Anthropic.InternalServerError],
      [new UpstreamTimeoutError(), Anthropic.GatewayTimeoutError],
      [overloaded(), Anthropic.OverloadedError],
    ];
    for (const [error, errorClass] of classes) {
      it(`raises ${errorClass.name} for a gateway ${error.status}`, async () => {
        next = anthropicErrorOf(error);
        await assert.rejects(
          client.messages.create({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
          (thrown: unknown) => {
            assert.ok(thrown instanceof errorClass, `got ${String(thrown)}`);
            assert.equal(thrown.status, next.status);
            assert.equal(thrown.type, (next.body as { error: { type: string } }).error.type);
            return true;
          },
        );
      });
    }
  });
});
