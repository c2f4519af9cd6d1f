import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { Cancellation } from '../common/cancellation.js';
import { UpstreamError } from '../common/errors/gateway.error.js';
import { requestWholeBody } from './whole-body-request.js';
import { type LocalUpstream, startLocalUpstream } from '../../test/support/local-upstream.js';

describe('requestWholeBody (undici dispatch, whole answer)', () => {
  let upstream: LocalUpstream;
  let origin: string;
  const agent = new Agent();

  before(async () => {
    upstream = await startLocalUpstream((request, response) => {
      if (request.url === '/slow') return void setTimeout(() => response.end('late'), 2_000).unref();
      if (request.url === '/big') return void response.end('x'.repeat(5_000));
      response.setHeader('set-cookie', ['a=1', 'b=2']);
      response.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      response.write('{"text":"héllo",');
      setTimeout(() => response.end('"n":1}'), 5);
    });
    origin = upstream.origin;
  });
  after(async () => {
    await agent.close();
    await upstream.close();
  });

  it('returns status, lower-cased headers (repeated ones as arrays) and the whole body as UTF-8', async () => {
    const answer = await requestWholeBody(agent, { origin, path: '/', method: 'GET' }, new Cancellation(), 1_000);
    assert.equal(answer.status, 201);
    assert.equal(answer.headers['x-upstream'], 'yes');
    assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
    assert.deepEqual(JSON.parse(answer.text), { text: 'héllo', n: 1 });
  });

  it('fails past the size limit with upstream_invalid_response', async () => {
    await assert.rejects(
      requestWholeBody(agent, { origin, path: '/big', method: 'GET' }, new Cancellation(), 1_000),
      (error: unknown) => error instanceof UpstreamError && error.code === 'upstream_invalid_response',
    );
  });

  it('rejects with the cancellation reason, whether cancelled before or while waiting', async () => {
    const early = new Cancellation();
    early.cancel(new Error('gone before'));
    await assert.rejects(requestWholeBody(agent, { origin, path: '/', method: 'GET' }, early, 1_000), /gone before/);
    const late = new Cancellation();
    const pending = requestWholeBody(agent, { origin, path: '/slow', method: 'GET' }, late, 1_000);
    setTimeout(() => late.cancel(new Error('client left')), 20);
    await assert.rejects(pending, /client left/);
  });
});
