import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../common/errors/gateway.error.js';
import { validateGatewayConfig } from '../config/config-loader.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { ApiKeyService, presentedKey } from './api-key.service.js';

const ADMIN = 'sk-gw-admin-unit-0123456789';
const TEAM = 'sk-gw-team-unit-0123456789';

async function service(auth: Record<string, unknown>): Promise<ApiKeyService> {
  const config = validateGatewayConfig({
    providers: [{ name: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
    models: [{ name: 'm', deployments: [{ provider: 'p', model: 'm' }] }],
    auth,
  });
  const keys = new ApiKeyService(
    config,
    new SecretsService(config.secrets, { log: () => {}, warn: () => {}, error: () => {} }),
  );
  await keys.onModuleInit();
  return keys;
}

function request(headers: Record<string, string>, remoteAddress = '203.0.113.7'): FastifyRequest {
  return { headers, socket: { remoteAddress } } as unknown as FastifyRequest;
}

function codeOf(run: () => unknown): string | null | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof GatewayError);
    return error.code;
  }
}

describe('ApiKeyService', () => {
  it('reads the key from Bearer (any case) or x-api-key, and nothing else', () => {
    assert.equal(presentedKey({ authorization: 'Bearer abc' }), 'abc');
    assert.equal(presentedKey({ authorization: 'bEaReR\tabc ' }), 'abc');
    assert.equal(presentedKey({ 'x-api-key': 'abc' }), 'abc');
    assert.equal(presentedKey({ authorization: 'Basic abc' }), undefined);
    assert.equal(presentedKey({}), undefined);
  });

  it('keeps admin routes behind an admin key whenever keys exist, with auth off too', async () => {
    for (const enabled of [true, false]) {
      const keys = await service({
        enabled,
        keys: [
          { id: 'ops', key: ADMIN, admin: true },
          { id: 'team', key: TEAM },
        ],
      });
      assert.equal(keys.authenticateAdmin(request({ authorization: `Bearer ${ADMIN}` })).id, 'ops');
      assert.equal(
        codeOf(() => keys.authenticateAdmin(request({ authorization: `Bearer ${TEAM}` }))),
        'admin_required',
      );
      assert.equal(
        codeOf(() => keys.authenticateAdmin(request({}, '127.0.0.1'))),
        'missing_api_key',
        'loopback too',
      );
    }
  });

  it('without any key, lets only loopback callers in to admin routes', async () => {
    const keys = await service({ enabled: false });
    for (const address of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      assert.equal(keys.authenticateAdmin(request({}, address)).admin, false, 'the anonymous key is no admin key');
    }
    assert.equal(
      codeOf(() => keys.authenticateAdmin(request({}))),
      'admin_required',
    );
    assert.equal(
      codeOf(() => keys.authenticateAdmin(request({}, '10.0.0.8'))),
      'admin_required',
    );
  });

  it('with auth off serves API routes as anonymous; with auth on never falls back to it', async () => {
    const open = await service({ enabled: false, keys: [{ id: 'team', key: TEAM }] });
    assert.equal(open.authenticate(request({})).id, 'anonymous');
    const closed = await service({ enabled: true, keys: [{ id: 'team', key: TEAM }] });
    assert.equal(
      codeOf(() => closed.authenticate(request({}))),
      'missing_api_key',
    );
    assert.equal(
      codeOf(() => closed.authenticate(request({ authorization: 'Bearer sk-wrong-0123456789' }))),
      'invalid_api_key',
    );
    assert.equal(closed.authenticate(request({ 'x-api-key': TEAM })).id, 'team');
  });
});
