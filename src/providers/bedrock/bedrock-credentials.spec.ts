import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AwsCredentialIdentity } from '@smithy/types';
import { GatewayError } from '../../common/errors/gateway.error.js';
import { secretRedactor } from '../../common/redaction.js';
import type { Credential } from '../provider-runtime.js';
import {
  type AwsCredentialSource,
  createSigV4Signer,
  defaultChainCredentialSource,
  staticCredentialSource,
} from './bedrock-credentials.js';

function rotating(initial: string): Credential & { set(value: string): void } {
  let current = initial;
  return { value: () => current, set: (value) => (current = value) };
}

const request = {
  method: 'POST',
  url: new URL('https://bedrock-runtime.eu-west-1.amazonaws.com/model/amazon.nova-lite-v1%3A0/converse'),
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  body: '{"messages":[]}',
};

describe('AWS credential sources', () => {
  it('static keys follow their secrets, and keep one identity while nothing changed', async () => {
    const accessKeyId = rotating('AKIAOLDKEY0000000000');
    const secretAccessKey = rotating('old-secret-0000000000');
    const source = staticCredentialSource({ accessKeyId, secretAccessKey });
    const first = await source.current();
    assert.deepEqual(first, { accessKeyId: 'AKIAOLDKEY0000000000', secretAccessKey: 'old-secret-0000000000' });
    assert.equal(await source.current(), first);
    accessKeyId.set('AKIANEWKEY0000000000');
    secretAccessKey.set('new-secret-0000000000');
    assert.deepEqual(await source.current(), {
      accessKeyId: 'AKIANEWKEY0000000000',
      secretAccessKey: 'new-secret-0000000000',
    });
    assert.equal(source.refreshable, false);
  });

  it('the default chain is asked to refresh after a refusal, and what it hands out is redacted', async () => {
    const calls: Array<{ forceRefresh?: boolean } | undefined> = [];
    const issued: AwsCredentialIdentity[] = [
      {
        accessKeyId: 'ASIAFIRST0000000000',
        secretAccessKey: 'chain-secret-first-1234',
        sessionToken: 'token-first-123',
      },
      {
        accessKeyId: 'ASIASECOND000000000',
        secretAccessKey: 'chain-secret-second-123',
        sessionToken: 'token-second-12',
      },
    ];
    const source = defaultChainCredentialSource({ region: 'eu-west-1' }, async (options) => {
      calls.push(options);
      return options?.forceRefresh ? issued[1] : issued[0];
    });
    assert.equal((await source.current()).accessKeyId, 'ASIAFIRST0000000000');
    assert.equal((await source.current()).accessKeyId, 'ASIAFIRST0000000000');
    source.rejected();
    assert.equal((await source.current()).accessKeyId, 'ASIASECOND000000000');
    assert.deepEqual(calls, [undefined, undefined, { forceRefresh: true }]);
    assert.ok(secretRedactor.leaks('…chain-secret-first-1234…') && secretRedactor.leaks('token-second-12'));
  });
});

describe('createSigV4Signer', () => {
  it('adds the SigV4 headers for service bedrock in the region, with the session token when there is one', async () => {
    const source = staticCredentialSource({
      accessKeyId: rotating('AKIASIGNER0000000000'),
      secretAccessKey: rotating('signer-secret-000000'),
      sessionToken: rotating('session-token-0000'),
    });
    const headers = await createSigV4Signer(source, 'eu-west-1', 'bedrock')(request);
    assert.deepEqual(Object.keys(headers).sort(), ['authorization', 'x-amz-date', 'x-amz-security-token']);
    assert.equal(headers['x-amz-security-token'], 'session-token-0000');
    assert.match(headers['x-amz-date'], /^\d{8}T\d{6}Z$/);
    const date = headers['x-amz-date'].slice(0, 8);
    assert.match(
      headers.authorization,
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=AKIASIGNER0000000000/${date}/eu-west-1/bedrock/aws4_request, ` +
          'SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$',
      ),
    );
  });

  it('turns a source that cannot give credentials into the provider auth error', async () => {
    const failing: AwsCredentialSource = {
      refreshable: true,
      rejected() {},
      current: () => Promise.reject(new Error('Could not load credentials from any providers')),
    };
    await assert.rejects(
      createSigV4Signer(failing, 'eu-west-1', 'aws')(request),
      (error: unknown) =>
        error instanceof GatewayError &&
        error.status === 502 &&
        error.code === 'upstream_auth_error' &&
        /aws: no AWS credentials could be obtained \(Could not load credentials/.test(error.message),
    );
  });
});
