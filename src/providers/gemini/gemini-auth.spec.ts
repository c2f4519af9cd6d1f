import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import type { GoogleAuth } from 'google-auth-library';
import { Cancellation } from '../../common/cancellation.js';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type { UpstreamClient, UpstreamRequest } from '../../upstream/upstream-client.js';
import type { Credential } from '../provider-runtime.js';
import {
  CLOUD_PLATFORM_SCOPE,
  GOOGLE_TOKEN_URL,
  GoogleAuthTokenSource,
  parseServiceAccountKey,
  ServiceAccountTokenSource,
  toGatewayErrorFromTokenEndpoint,
} from './gemini-auth.js';

const TOKEN_URL = 'http://127.0.0.1:9/token';

function serviceAccountKey(email = 'gw@project.iam.gserviceaccount.com') {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key = {
    type: 'service_account',
    project_id: 'project',
    private_key_id: 'key-1',
    private_key: privateKey,
    client_email: email,
    token_uri: 'https://elsewhere.example/token',
  };
  return { publicKey, text: JSON.stringify(key) };
}

/** A credential whose value the test changes, as a rotated secret would. */
function credential(value: string): Credential & { set(next: string): void } {
  let current = value;
  return { value: () => current, set: (next) => (current = next) };
}

/** A token endpoint in memory: records each request and answers with the next queued answer. */
function tokenEndpoint(answers: Array<() => Promise<unknown>>) {
  const requests: UpstreamRequest[] = [];
  let issued = 0;
  const client = {
    json: async (request: UpstreamRequest) => {
      requests.push(request);
      const answer =
        answers.shift() ?? (() => Promise.resolve({ access_token: `ya29.token-${++issued}`, expires_in: 3600 }));
      return { status: 200, headers: {}, data: await answer(), text: '' };
    },
  };
  return { client: client as unknown as UpstreamClient, requests };
}

function decode(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

describe('ServiceAccountTokenSource', () => {
  it('posts a signed JWT bearer assertion to the configured token URL', async () => {
    const { publicKey, text } = serviceAccountKey();
    const endpoint = tokenEndpoint([]);
    const now = 1_764_300_000_000;
    const source = new ServiceAccountTokenSource({
      provider: 'g',
      key: credential(text),
      client: endpoint.client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
      now: () => now,
    });
    assert.deepEqual(await source.headers(), { authorization: 'Bearer ya29.token-1' });
    const [request] = endpoint.requests;
    assert.equal(request.path, TOKEN_URL);
    assert.equal(request.method, 'POST');
    assert.equal(request.headers?.['content-type'], 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(request.rawBody);
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    const [header, claims, signature] = form.get('assertion')!.split('.');
    assert.deepEqual(decode(header), { alg: 'RS256', typ: 'JWT', kid: 'key-1' });
    assert.deepEqual(decode(claims), {
      iss: 'gw@project.iam.gserviceaccount.com',
      scope: CLOUD_PLATFORM_SCOPE,
      aud: GOOGLE_TOKEN_URL,
      iat: now / 1000,
      exp: now / 1000 + 3600,
    });
    assert.ok(verify('sha256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature, 'base64url')));
  });

  it('fetches once for concurrent callers, reuses the token, and refreshes it five minutes before expiry', async () => {
    const { text } = serviceAccountKey();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const endpoint = tokenEndpoint([async () => (await gate, { access_token: 'ya29.first', expires_in: 3600 })]);
    let now = 0;
    const source = new ServiceAccountTokenSource({
      provider: 'g',
      key: credential(text),
      client: endpoint.client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
      now: () => now,
    });
    const waiting = Array.from({ length: 10 }, () => source.headers());
    release();
    const headers = await Promise.all(waiting);
    assert.equal(endpoint.requests.length, 1);
    assert.ok(
      headers.every((value) => value === headers[0]),
      'one shared headers object',
    );
    now = (3600 - 301) * 1000;
    assert.equal(await source.headers(), headers[0]);
    now = (3600 - 300) * 1000;
    assert.deepEqual(await source.headers(), { authorization: 'Bearer ya29.token-1' });
    assert.equal(endpoint.requests.length, 2);
  });

  it('drops only the token it was told about, and fetches again for a rotated key', async () => {
    const first = serviceAccountKey();
    const key = credential(first.text);
    const endpoint = tokenEndpoint([]);
    const source = new ServiceAccountTokenSource({
      provider: 'g',
      key,
      client: endpoint.client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
    });
    const old = await source.headers();
    assert.equal(source.invalidate({ authorization: 'Bearer someone-else' }), false);
    assert.equal(source.invalidate(old), true);
    const fresh = await source.headers();
    assert.notDeepEqual(fresh, old);
    assert.equal(source.invalidate(old), false, 'an already replaced token is left alone');

    const second = serviceAccountKey('other@project.iam.gserviceaccount.com');
    key.set(second.text);
    await source.headers();
    assert.equal(endpoint.requests.length, 3);
    const claims = decode(new URLSearchParams(endpoint.requests[2].rawBody).get('assertion')!.split('.')[1]);
    assert.equal(claims.iss, 'other@project.iam.gserviceaccount.com');
  });

  it('fails as the gateway credential for a broken key or an OAuth error, never quoting either', async () => {
    const broken = new ServiceAccountTokenSource({
      provider: 'g',
      key: credential('{"type":"service_account","client_email":"a@b","private_key":"not a key"}'),
      client: tokenEndpoint([]).client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
    });
    await assert.rejects(
      broken.headers(),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_auth_error',
    );
    const refused = new ServiceAccountTokenSource({
      provider: 'g',
      key: credential(serviceAccountKey().text),
      client: tokenEndpoint([async () => ({ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' })])
        .client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
    });
    await assert.rejects(refused.headers(), (error: unknown) => {
      assert.ok(error instanceof GatewayError);
      assert.equal(error.code, 'upstream_auth_error');
      assert.doesNotMatch(error.message, /JWT/);
      return true;
    });
  });

  it('lets a caller that leaves stop waiting while the fetch goes on for the others', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const source = new ServiceAccountTokenSource({
      provider: 'g',
      key: credential(serviceAccountKey().text),
      client: tokenEndpoint([async () => (await gate, { access_token: 'ya29.late', expires_in: 3600 })]).client,
      tokenUrl: TOKEN_URL,
      scopes: [CLOUD_PLATFORM_SCOPE],
    });
    const leaving = new Cancellation();
    const left = source.headers(leaving);
    const staying = source.headers(new Cancellation());
    leaving.cancel(new Error('client gone'));
    await assert.rejects(left, (error: unknown) => error instanceof GatewayError && error.code === 'client_closed');
    release();
    assert.deepEqual(await staying, { authorization: 'Bearer ya29.late' });
  });
});

describe('parseServiceAccountKey and the token endpoint errors', () => {
  it('checks what the grant needs and passes other credential types on', () => {
    assert.throws(() => parseServiceAccountKey('nope'), /not valid JSON/);
    assert.throws(() => parseServiceAccountKey('{"type":"service_account","private_key":"k"}'), /client_email/);
    assert.deepEqual(parseServiceAccountKey('{"type":"external_account","audience":"x"}'), {
      type: 'external_account',
    });
  });

  it('maps token endpoint answers', () => {
    assert.equal(toGatewayErrorFromTokenEndpoint('g', 400, { error: 'invalid_grant' }).code, 'upstream_auth_error');
    assert.equal(toGatewayErrorFromTokenEndpoint('g', 401, 'text').code, 'upstream_auth_error');
    assert.equal(toGatewayErrorFromTokenEndpoint('g', 429, {}).status, 429);
    const failed = toGatewayErrorFromTokenEndpoint('g', 503, {});
    assert.equal(failed.status, 503);
    assert.equal(failed.retryable, true);
  });
});

describe('GoogleAuthTokenSource', () => {
  function library(tokens: Array<string | Error>) {
    let calls = 0;
    const client = {
      getAccessToken: () => {
        calls++;
        const next = tokens[Math.min(calls - 1, tokens.length - 1)];
        return next instanceof Error ? Promise.reject(next) : Promise.resolve({ token: next });
      },
    };
    const auth = { getClient: () => Promise.resolve(client) } as unknown as GoogleAuth;
    return { auth, calls: () => calls };
  }

  it('asks the library for its current token and keeps one headers object per token', async () => {
    const lib = library(['ya29.one', 'ya29.one', 'ya29.two']);
    const source = new GoogleAuthTokenSource('g', lib.auth);
    const first = await source.headers();
    assert.deepEqual(first, { authorization: 'Bearer ya29.one' });
    assert.equal(await source.headers(), first);
    assert.deepEqual(await source.headers(), { authorization: 'Bearer ya29.two' });
    assert.equal(source.invalidate(), false, 'the library owns its tokens');
  });

  it('maps library failures: network trouble is retryable, the rest a bad credential', async () => {
    const network = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const denied = Object.assign(new Error('invalid_grant'), { response: { status: 400 } });
    const source = new GoogleAuthTokenSource('g', library([network, denied]).auth);
    await assert.rejects(source.headers(), (error: unknown) => error instanceof GatewayError && error.retryable);
    await assert.rejects(
      source.headers(),
      (error: unknown) => error instanceof GatewayError && error.code === 'upstream_auth_error',
    );
  });
});
