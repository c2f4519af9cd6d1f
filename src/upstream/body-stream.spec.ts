import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { Cancellation } from '../common/cancellation.js';
import { requestStream } from './body-stream.js';
import { type LocalUpstream, startLocalUpstream } from '../../test/support/local-upstream.js';

describe('requestStream (undici dispatch, body as a chunk queue)', () => {
  let upstream: LocalUpstream;
  let origin: string;
  const connections = new Set<unknown>();
  const agent = new Agent();

  before(async () => {
    upstream = await startLocalUpstream((request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'x-upstream': 'yes' });
      const chunks = request.url === '/many' ? 200 : 3;
      let sent = 0;
      const step = () => {
        if (response.destroyed) return;
        if (sent === chunks) return void response.end('data: [DONE]\n\n');
        response.write(`data: ${sent++}\n\n`);
        setTimeout(step, request.url === '/slow' ? 50 : 1);
      };
      step();
    });
    upstream.server.on('connection', (socket) => connections.add(socket));
    origin = upstream.origin;
  });
  after(async () => {
    await agent.close();
    await upstream.close();
  });

  async function text(body: AsyncIterable<Buffer>): Promise<string> {
    let all = '';
    for await (const chunk of body) all += chunk.toString('utf8');
    return all;
  }

  it('resolves at the headers and yields the whole body in order, a slow reader included', async () => {
    const response = await requestStream(agent, { origin, path: '/many', method: 'GET' }, new Cancellation());
    assert.equal(response.status, 200);
    assert.equal(response.headers['x-upstream'], 'yes');
    let all = '';
    for await (const chunk of response.body) {
      all += chunk.toString('utf8');
      if (all.length < 200) await sleep(5); // lets chunks queue up past the high-water mark
    }
    const expected = Array.from({ length: 200 }, (_, i) => `data: ${i}\n\n`).join('') + 'data: [DONE]\n\n';
    assert.equal(all, expected);
  });

  it('drains the rest after an early stop, so the next request reuses the connection', async () => {
    connections.clear();
    const first = await requestStream(agent, { origin, path: '/', method: 'GET' }, new Cancellation());
    let ended = false;
    first.body.onEnd(() => (ended = true));
    for await (const chunk of first.body) {
      assert.match(chunk.toString(), /data: 0/);
      break;
    }
    for (let i = 0; i < 50 && !ended; i++) await sleep(5);
    assert.ok(ended, 'the rest of the body arrived and was dropped');
    assert.match(
      await text((await requestStream(agent, { origin, path: '/', method: 'GET' }, new Cancellation())).body),
      /\[DONE\]/,
    );
    assert.equal(connections.size, 1);
  });

  it('fails the body with the cancellation reason mid-stream', async () => {
    const cancellation = new Cancellation();
    const response = await requestStream(agent, { origin, path: '/slow', method: 'GET' }, cancellation);
    const iterator = response.body[Symbol.asyncIterator]();
    await iterator.next();
    cancellation.cancel(new Error('client left'));
    await assert.rejects(async () => {
      for (;;) if ((await iterator.next()).done) break;
    }, /client left/);
  });
});
