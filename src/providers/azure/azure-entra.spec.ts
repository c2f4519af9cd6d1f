import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import {
  type AccessToken,
  AuthenticationError,
  ClientSecretCredential,
  CredentialUnavailableError,
  DefaultAzureCredential,
  type TokenCredential,
} from '@azure/identity';
import { Cancellation } from '../../common/cancellation.js';
import { ClientClosedError, GatewayError } from '../../common/errors/gateway.error.js';
import {
  AzureEntraOptions,
  COGNITIVE_SERVICES_SCOPE,
  ENTRA_TOKEN_TIMEOUT_MS,
  entraCredential,
  EntraTokenCache,
} from './azure-entra.js';

const HOUR = 3_600_000;
const quiet = { warn: () => undefined };

/** A credential handing out `token-1`, `token-2`, … valid for `lifetimeMs` from the clock; can fail or hang. */
function stubCredential(clock: { now: number }, lifetimeMs = HOUR) {
  let issued = 0;
  let failWith: Error | undefined;
  let hold: Promise<void> | undefined;
  let release: (() => void) | undefined;
  const scopes: string[] = [];
  const credential: TokenCredential = {
    async getToken(scope): Promise<AccessToken> {
      scopes.push(String(scope));
      if (hold) await hold;
      if (failWith !== undefined) throw failWith;
      issued++;
      return { token: `token-${issued}`, expiresOnTimestamp: clock.now + lifetimeMs, tokenType: 'Bearer' };
    },
  };
  return {
    credential,
    scopes,
    get issued() {
      return issued;
    },
    fail(error: Error | undefined) {
      failWith = error;
    },
    hold() {
      hold = new Promise((resolve) => (release = resolve));
    },
    release() {
      hold = undefined;
      release?.();
    },
  };
}

function cache(clock: { now: number }, credential: TokenCredential): EntraTokenCache {
  return new EntraTokenCache({
    provider: 'azure',
    scope: COGNITIVE_SERVICES_SCOPE,
    credential: () => credential,
    now: () => clock.now,
    logger: quiet,
  });
}

function isGatewayError(status: number, code: string) {
  return (error: unknown) => error instanceof GatewayError && error.status === status && error.code === code;
}

describe('EntraTokenCache', () => {
  it('serves one header object for the token until five minutes before it expires', async () => {
    const clock = { now: 1_000_000 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    const first = await tokens.headers();
    assert.deepEqual(first, { authorization: 'Bearer token-1' });
    assert.deepEqual(stub.scopes, [COGNITIVE_SERVICES_SCOPE]);
    clock.now += HOUR - 5 * 60_000 - 1;
    assert.equal(await tokens.headers(), first, 'the same object, so the transport need not rebuild it');
    assert.equal(stub.issued, 1);
  });

  it('refreshes in the background once due, still sending the current token meanwhile', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    await tokens.headers();
    clock.now = HOUR - 5 * 60_000;
    stub.hold();
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-1' }, 'no caller waits for the refresh');
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-1' });
    stub.release();
    await tick();
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-2' });
    assert.equal(stub.issued, 2, 'one refresh however many callers saw it due');
  });

  it('makes callers wait for a new token once the current one is about to expire', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    await tokens.headers();
    clock.now = HOUR - 30_000;
    const cancellation = new Cancellation();
    const waiting = tokens.untilUsable(cancellation);
    assert.ok(waiting, 'a token 30 s from expiry is not sent');
    await waiting;
    assert.equal(tokens.untilUsable(cancellation), undefined, 'nothing to wait for while a token is usable');
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-2' });
  });

  it('keeps the margins in proportion for short-lived tokens', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock, 60_000);
    const tokens = cache(clock, stub.credential);
    await tokens.headers();
    clock.now = 29_999;
    await tokens.headers();
    assert.equal(stub.issued, 1, 'half the lifetime, not five minutes, before expiry');
    clock.now = 30_000;
    await tokens.headers();
    await tick();
    assert.equal(stub.issued, 2);
  });

  it('honours the credential’s refreshAfterTimestamp', async () => {
    const clock = { now: 0 };
    let issued = 0;
    const tokens = cache(clock, {
      getToken: async () => ({
        token: `t-${++issued}`,
        expiresOnTimestamp: 24 * HOUR,
        refreshAfterTimestamp: 12 * HOUR,
        tokenType: 'Bearer',
      }),
    });
    await tokens.headers();
    clock.now = 12 * HOUR - 1;
    await tokens.headers();
    assert.equal(issued, 1);
    clock.now = 12 * HOUR;
    await tokens.headers();
    await tick();
    assert.equal(issued, 2);
  });

  it('shares one token request between concurrent callers', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    stub.hold();
    const all = Promise.all(Array.from({ length: 20 }, () => tokens.headers()));
    stub.release();
    const headers = await all;
    assert.equal(stub.issued, 1);
    assert.ok(headers.every((header) => header === headers[0]));
  });

  it('keeps the current token when a background refresh fails, and tries again a little later', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    await tokens.headers();
    clock.now = HOUR - 4 * 60_000;
    stub.fail(new AuthenticationError(503, { error: 'temporarily_unavailable', error_description: 'busy' }));
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-1' });
    await tick();
    stub.fail(undefined);
    clock.now += 4_999;
    await tokens.headers();
    await tick();
    assert.equal(stub.issued, 1, 'no new attempt within five seconds of a failure');
    clock.now += 1;
    await tokens.headers();
    await tick();
    assert.equal(stub.issued, 2);
  });

  it('fetches anew after Azure refused the token', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    await tokens.headers();
    tokens.invalidate();
    assert.deepEqual(await tokens.headers(), { authorization: 'Bearer token-2' });
  });

  it('stops a cancelled request from waiting; the fetch goes on for the others', async () => {
    const clock = { now: 0 };
    const stub = stubCredential(clock);
    const tokens = cache(clock, stub.credential);
    stub.hold();
    const cancellation = new Cancellation();
    const waiting = tokens.untilUsable(cancellation);
    cancellation.cancel(new Error('client left'));
    await assert.rejects(waiting!, (error: unknown) => error instanceof ClientClosedError);
    const other = tokens.headers();
    stub.release();
    assert.deepEqual(await other, { authorization: 'Bearer token-1' });
    assert.equal(stub.issued, 1);
  });

  it('reports a refused credential as the gateway’s credentials rejected, never retried', async () => {
    const clock = { now: 0 };
    for (const failure of [
      new AuthenticationError(401, {
        error: 'invalid_client',
        error_description: 'AADSTS7000215: Invalid client secret',
      }),
      new CredentialUnavailableError('no managed identity endpoint'),
    ]) {
      const stub = stubCredential(clock);
      stub.fail(failure);
      await assert.rejects(cache(clock, stub.credential).headers(), (error: unknown) => {
        assert.ok(isGatewayError(502, 'upstream_auth_error')(error));
        assert.equal((error as GatewayError).retryable, false);
        assert.ok(!(error as GatewayError).message.includes('AADSTS'), 'Entra’s words go to the log, not the client');
        return true;
      });
    }
  });

  it('reports Entra failing or throttling as transient, and a hung token request as a timeout', async () => {
    const clock = { now: 0 };
    const busy = stubCredential(clock);
    busy.fail(new AuthenticationError(429, { error: 'throttled', error_description: 'slow down' }));
    await assert.rejects(cache(clock, busy.credential).headers(), isGatewayError(503, 'upstream_error'));

    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const hung = stubCredential(clock);
      hung.hold();
      const pending = cache(clock, hung.credential).headers();
      await tick();
      mock.timers.tick(ENTRA_TOKEN_TIMEOUT_MS);
      await assert.rejects(pending, isGatewayError(504, 'upstream_timeout'));
      hung.release();
    } finally {
      mock.timers.reset();
    }
  });
});

describe('entraCredential', () => {
  const options = (fields: Partial<AzureEntraOptions>) => Object.assign(new AzureEntraOptions(), fields);

  it('builds a client secret credential, and a new one when the secret rotates', () => {
    let secret = 'secret-1';
    const credential = entraCredential(options({ tenantId: 't', clientId: 'c', clientSecret: 'ref' }), {
      value: () => secret,
    });
    const first = credential();
    assert.ok(first instanceof ClientSecretCredential);
    assert.equal(credential(), first);
    secret = 'secret-2';
    assert.notEqual(credential(), first);
  });

  it('uses the default credential chain without a secret', () => {
    const credential = entraCredential(options({ clientId: 'user-assigned-identity' }), undefined);
    assert.ok(credential() instanceof DefaultAzureCredential);
  });
});
