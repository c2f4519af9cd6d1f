import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { GatewayError } from '../../common/errors/gateway.error.js';
import { ProviderConfig } from '../../config/gateway-config.js';
import { UpstreamClient } from '../../upstream/upstream-client.js';
import { ErnieSimulator } from '../../../test/simulators/ernie-simulator.js';
import {
  createErnieTokenFetcher,
  ErnieTokenManager,
  toErnieTokenResponse,
  toGatewayErrorFromTokenEndpoint,
} from './ernie-token.js';
import type { ErnieTokenResponse } from './ernie.types.js';

const DAY = 86_400;

/** A stub token endpoint: counts fetches, answers in order, can be held open until released. */
function stubFetcher(expiresIn = 30 * DAY) {
  let fetches = 0;
  let release: (() => void) | undefined;
  let held = false;
  const fetchToken = async (): Promise<ErnieTokenResponse> => {
    fetches++;
    if (held) await new Promise<void>((resolve) => (release = resolve));
    return { access_token: `token-${fetches}`, expires_in: expiresIn };
  };
  return {
    fetchToken,
    get fetches() {
      return fetches;
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
      release?.();
    },
  };
}

describe('ErnieTokenManager', () => {
  it('caches the token until the margin before expiry, then fetches a new one', async () => {
    let now = 1_000_000;
    const stub = stubFetcher(30 * DAY);
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken, now: () => now });
    assert.equal(await tokens.getToken(), 'token-1');
    now += (29 * DAY - 1) * 1000;
    assert.equal(await tokens.getToken(), 'token-1');
    now += 1000;
    assert.equal(await tokens.getToken(), 'token-2', 'refreshed one day (the default margin) before expiry');
    assert.equal(stub.fetches, 2);
  });

  it('caps the margin at half the lifetime of a short-lived token', async () => {
    let now = 0;
    const stub = stubFetcher(60);
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken, refreshMarginSeconds: DAY, now: () => now });
    await tokens.getToken();
    now = 29_000;
    assert.equal(await tokens.getToken(), 'token-1');
    now = 30_000;
    assert.equal(await tokens.getToken(), 'token-2');
  });

  it('honours a configured margin', async () => {
    let now = 0;
    const stub = stubFetcher(30 * DAY);
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken, refreshMarginSeconds: 3600, now: () => now });
    await tokens.getToken();
    now = (30 * DAY - 3601) * 1000;
    assert.equal(await tokens.getToken(), 'token-1');
    now += 1000;
    assert.equal(await tokens.getToken(), 'token-2');
  });

  it('makes exactly one fetch for 100 concurrent callers, cold or expired', async () => {
    let now = 0;
    const stub = stubFetcher(30 * DAY);
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken, now: () => now });
    stub.hold();
    const cold = Array.from({ length: 100 }, () => tokens.getToken());
    await tick();
    stub.release();
    assert.deepEqual(new Set(await Promise.all(cold)), new Set(['token-1']));
    assert.equal(stub.fetches, 1);

    now = 30 * DAY * 1000;
    const expired = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()));
    assert.deepEqual(new Set(expired), new Set(['token-2']));
    assert.equal(stub.fetches, 2);
  });

  it('invalidates only the token it was told about', async () => {
    const stub = stubFetcher();
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken });
    const first = await tokens.getToken();
    tokens.invalidate(first);
    const second = await tokens.getToken();
    assert.equal(second, 'token-2');
    // Late reports about the old token must not throw the new one away.
    tokens.invalidate(first);
    assert.equal(await tokens.getToken(), 'token-2');
    assert.equal(stub.fetches, 2);
  });

  it('shares a failure with every waiter, caches nothing, and tries again on the next call', async () => {
    let fail = true;
    let fetches = 0;
    const tokens = new ErnieTokenManager({
      fetchToken: async () => {
        fetches++;
        if (fail) throw new GatewayError(502, 'server_error', 'ernie: token endpoint down');
        return { access_token: 'fresh', expires_in: 30 * DAY };
      },
    });
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => tokens.getToken()));
    assert.ok(results.every((result) => result.status === 'rejected'));
    assert.equal(fetches, 1);
    fail = false;
    assert.equal(await tokens.getToken(), 'fresh');
    assert.equal(fetches, 2);
  });

  it('lets an aborted caller stop waiting while the shared fetch goes on', async () => {
    const stub = stubFetcher();
    const tokens = new ErnieTokenManager({ fetchToken: stub.fetchToken });
    stub.hold();
    const controller = new AbortController();
    const leaving = tokens.getToken(controller.signal);
    const staying = tokens.getToken();
    await tick();
    controller.abort();
    await assert.rejects(leaving, (error: unknown) => error instanceof GatewayError && error.status === 499);
    stub.release();
    assert.equal(await staying, 'token-1');
    assert.equal(stub.fetches, 1);
  });
});

describe('token endpoint answers', () => {
  it('maps OAuth errors to a non-retryable 502 that names neither key nor secret', () => {
    for (const body of [
      { error: 'invalid_client', error_description: 'unknown client id' },
      { error: 'invalid_client', error_description: 'Client authentication failed' },
    ]) {
      assert.throws(
        () => toErnieTokenResponse('ernie', body),
        (error: unknown) => {
          assert.ok(error instanceof GatewayError);
          assert.deepEqual([error.status, error.code, error.retryable], [502, 'upstream_auth_error', false]);
          return true;
        },
      );
      const fromStatus = toGatewayErrorFromTokenEndpoint('ernie', 401, body);
      assert.deepEqual([fromStatus.status, fromStatus.code], [502, 'upstream_auth_error']);
    }
    assert.equal(toGatewayErrorFromTokenEndpoint('ernie', 503, '').code, 'upstream_error');
    assert.equal(toGatewayErrorFromTokenEndpoint('ernie', 429, '').status, 429);
  });

  it('rejects an answer without a usable token', () => {
    assert.throws(() => toErnieTokenResponse('ernie', { expires_in: 10 }), /without an access token/);
    assert.throws(() => toErnieTokenResponse('ernie', { access_token: 'x', expires_in: 0 }), /without an access token/);
  });
});

describe('createErnieTokenFetcher over HTTP', () => {
  const sim = new ErnieSimulator({ apiKey: 'ak-test', secretKey: 'sk-very-secret' });
  let root = '';
  const clients: UpstreamClient[] = [];

  const fetcherFor = (secretKey: string) => {
    const config = Object.assign(new ProviderConfig(), { name: 'ernie', type: 'ernie', baseUrl: root });
    config.retry.retries = 0;
    const client = new UpstreamClient(config, (status: number, body: unknown) =>
      toGatewayErrorFromTokenEndpoint('ernie', status, body),
    );
    clients.push(client);
    return createErnieTokenFetcher(client, {
      provider: 'ernie',
      tokenUrl: `${root}/oauth/2.0/token`,
      apiKey: 'ak-test',
      secretKey,
    });
  };

  before(async () => {
    root = await sim.start();
  });
  after(async () => {
    for (const client of clients) client.close();
    await sim.stop();
  });

  it('fetches once for 100 concurrent cold callers', async () => {
    sim.reset();
    const tokens = new ErnieTokenManager({ fetchToken: fetcherFor('sk-very-secret') });
    const all = await Promise.all(Array.from({ length: 100 }, () => tokens.getToken()));
    assert.equal(new Set(all).size, 1);
    assert.match(all[0], /^24\./);
    assert.equal(sim.tokenFetches, 1);
    assert.equal(sim.requests[0].method, 'POST');
    assert.match(sim.requests[0].path, /grant_type=client_credentials&client_id=ak-test&client_secret=%3Credacted%3E/);
  });

  it('reports a wrong secret as upstream_auth_error without leaking it', async () => {
    const tokens = new ErnieTokenManager({ fetchToken: fetcherFor('sk-wrong-secret') });
    await assert.rejects(tokens.getToken(), (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.code, 'upstream_auth_error');
      assert.doesNotMatch(`${error.message} ${JSON.stringify(error.toBody())}`, /sk-wrong-secret|ak-test/);
      return true;
    });
  });
});
