import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import type { GatewayKey } from '../auth/gateway-key.js';
import { GatewayError } from '../common/errors/gateway.error.js';
import { validateGatewayConfig } from '../config/config-loader.js';
import { clearedCookie, cookieValue, SESSION_COOKIE, sessionCookie } from './ui-cookies.js';
import { UiSessions } from './ui-sessions.js';

const ADMIN: GatewayKey = { id: 'ops', models: undefined, limits: undefined, budget: undefined, admin: true };

function config(ui: Record<string, unknown> = {}) {
  return validateGatewayConfig(
    {
      providers: [{ name: 'sim', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
      ui,
    },
    'test',
  );
}

function requestWith(headers: Record<string, string>, method = 'GET'): FastifyRequest {
  return { headers, method } as unknown as FastifyRequest;
}

describe('UI sessions', () => {
  it('admits the cookie of a live session as its admin, and nothing else', () => {
    const sessions = new UiSessions(config());
    const issued = sessions.create(ADMIN);
    const cookie = `other=1; ${SESSION_COOKIE}=${issued.id}`;
    assert.equal(sessions.adminOf(requestWith({ cookie })), ADMIN);
    assert.equal(sessions.adminOf(requestWith({ cookie: `${SESSION_COOKIE}=${issued.id}x` })), undefined);
    assert.equal(sessions.adminOf(requestWith({})), undefined);
  });

  it('leaves a request that presents a key to the key check', () => {
    const sessions = new UiSessions(config());
    const issued = sessions.create(ADMIN);
    const cookie = `${SESSION_COOKIE}=${issued.id}`;
    assert.equal(sessions.adminOf(requestWith({ cookie, authorization: 'Bearer wrong' })), undefined);
    assert.equal(sessions.adminOf(requestWith({ cookie, 'x-api-key': 'wrong' })), undefined);
  });

  it('needs the CSRF token and a same-host Origin on changing requests', () => {
    const sessions = new UiSessions(config());
    const issued = sessions.create(ADMIN);
    const cookie = `${SESSION_COOKIE}=${issued.id}`;
    const refused = (headers: Record<string, string>) => {
      assert.throws(
        () => sessions.adminOf(requestWith({ cookie, host: 'gw.example', ...headers }, 'POST')),
        (error: unknown) => error instanceof GatewayError && error.status === 403,
      );
    };
    refused({});
    refused({ 'x-csrf-token': 'nope' });
    refused({ 'x-csrf-token': issued.csrfToken, origin: 'https://evil.example' });
    const ok = requestWith({ cookie, host: 'gw.example', 'x-csrf-token': issued.csrfToken }, 'PATCH');
    assert.equal(sessions.adminOf(ok), ADMIN);
    const sameOrigin = requestWith(
      { cookie, host: 'gw.example', origin: 'https://gw.example', 'x-csrf-token': issued.csrfToken },
      'DELETE',
    );
    assert.equal(sessions.adminOf(sameOrigin), ADMIN);
  });

  it('ends sessions at their TTL, on sign-out, and the oldest past maxSessions', () => {
    const sessions = new UiSessions(config({ sessionTtlMinutes: 5, maxSessions: 2 }));
    let now = 1_000_000;
    sessions.clock = () => now;
    const first = sessions.create(ADMIN);
    const second = sessions.create(ADMIN);
    const third = sessions.create(ADMIN);
    const cookieOf = (id: string) => requestWith({ cookie: `${SESSION_COOKIE}=${id}` });
    assert.equal(sessions.of(cookieOf(first.id)), undefined, 'the oldest made room');
    assert.ok(sessions.of(cookieOf(second.id)));
    assert.equal(sessions.end(cookieOf(second.id)), true);
    assert.equal(sessions.of(cookieOf(second.id)), undefined);
    now += 5 * 60_000;
    assert.equal(sessions.of(cookieOf(third.id)), undefined, 'expired');
    assert.equal(sessions.size, 0);
  });
});

describe('UI cookies and config', () => {
  it('reads one cookie out of a header', () => {
    assert.equal(cookieValue('a=1; b=2;c=3', 'b'), '2');
    assert.equal(cookieValue('a=1', 'b'), undefined);
    assert.equal(cookieValue('b=', 'b'), undefined);
    assert.equal(cookieValue(undefined, 'b'), undefined);
  });

  it('writes HttpOnly SameSite=Strict cookies for every path, Secure when asked', () => {
    assert.equal(
      sessionCookie('abc', { maxAgeSeconds: 60, secure: false }),
      `${SESSION_COOKIE}=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60`,
    );
    assert.match(sessionCookie('abc', { maxAgeSeconds: 60, secure: true }), /; Secure$/);
    assert.match(clearedCookie(false), /=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
  });

  it('validates the ui section strictly, with its defaults', () => {
    const defaults = config().ui;
    assert.equal(defaults.enabled, true);
    assert.equal(defaults.sessionTtlMinutes, 480);
    assert.equal(defaults.secureCookie, 'auto');
    assert.throws(() => config({ enabeld: false }), /enabeld/);
    assert.throws(() => config({ enabled: 'no' }), /enabled/);
    assert.throws(() => config({ sessionTtlMinutes: 1 }), /sessionTtlMinutes/);
    assert.throws(() => config({ secureCookie: 'never' }), /secureCookie/);
  });
});
