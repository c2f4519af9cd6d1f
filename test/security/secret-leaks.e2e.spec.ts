/**
 * Upstreams that echo the gateway's credentials in their error texts, in every form: an error body of any status, an
 * error event in a stream, a plain-text body. None of it may reach the client or the logs with the secret in it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createGatewayApp } from '../../src/app.factory.js';
import { secretRedactor } from '../../src/common/redaction.js';
import { validateGatewayConfig } from '../../src/config/config-loader.js';
import { postJson } from '../e2e/harness.js';

const OPENAI_KEY = 'sk-proj-leaktest-OPENAI-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-leaktest-ANTHROPIC-0123456789abcdef';
const HEADER_SECRET = 'org-header-secret-0123456789';
const GATEWAY_KEY = 'gw-key-leaktest-0123456789abcdef';
const SECRETS = [OPENAI_KEY, ANTHROPIC_KEY, HEADER_SECRET];

/** An upstream whose every answer quotes the credentials it was sent; the scenario is the request's last word. */
function echoingUpstream(): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const header = (name: string) => String(req.headers[name] ?? '');
      const credential = `${header('authorization')} ${header('x-api-key')} key=${header('api-key')}`;
      const scenario = /"content":"([^"]*)"/.exec(text)?.[1] ?? '';
      const [kind, status] = scenario.split(' ');
      const message = `Forbidden for key ${credential}`;
      if (kind === 'stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const anthropic = req.url?.includes('/messages');
        if (anthropic) {
          res.write(
            `event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"c","content":[],"usage":{"input_tokens":1,"output_tokens":0}}}\n\n`,
          );
          res.write(
            `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`,
          );
          res.write(
            `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n`,
          );
          res.end(
            `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'api_error', message } })}\n\n`,
          );
        } else {
          res.write(
            `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n`,
          );
          res.end(`data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n`);
        }
        return;
      }
      const code = Number(status);
      if (kind === 'text') {
        res.writeHead(code, { 'content-type': 'text/plain' });
        res.end(message);
        return;
      }
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { message, type: 'permission_error', code: 'forbidden' } }));
    });
  });
}

describe('no upstream text leaves with a secret in it', () => {
  const upstream = echoingUpstream();
  let app: NestFastifyApplication;
  let url = '';
  const logged: string[] = [];
  const writes = {
    stdout: process.stdout.write.bind(process.stdout),
    stderr: process.stderr.write.bind(process.stderr),
  };

  before(async () => {
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
    const config = validateGatewayConfig({
      server: { logRequests: true, logFormat: 'json' },
      providers: [
        {
          name: 'oa',
          type: 'openai',
          baseUrl: base,
          apiKey: OPENAI_KEY,
          headers: { 'api-key': HEADER_SECRET },
          retry: { retries: 0 },
        },
        { name: 'an', type: 'anthropic', baseUrl: base, apiKey: ANTHROPIC_KEY, retry: { retries: 0 } },
      ],
      models: [
        { name: 'oa', deployments: [{ provider: 'oa', model: 'm' }] },
        { name: 'an', deployments: [{ provider: 'an', model: 'c' }] },
      ],
      auth: { keys: [{ id: 'client', key: GATEWAY_KEY }] },
    });
    // Everything the process prints while these requests run is kept and searched.
    const capture =
      (write: typeof process.stdout.write) =>
      (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        logged.push(String(chunk));
        return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = capture(writes.stdout);
    process.stderr.write = capture(writes.stderr);
    app = await createGatewayApp(config, { logLevels: ['log', 'warn', 'error'] });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    upstream.close();
  });

  const ask = (model: string, scenario: string, stream = false) =>
    postJson(
      `${url}/v1/chat/completions`,
      { model, stream, messages: [{ role: 'user', content: scenario }] },
      { authorization: `Bearer ${GATEWAY_KEY}` },
    );

  function assertClean(text: string, context: string): void {
    for (const secret of SECRETS)
      assert.ok(!text.includes(secret), `${context} leaks ${secret.slice(0, 12)}…: ${text}`);
    assert.ok(!/Bearer sk-/.test(text), `${context} leaks a Bearer form: ${text}`);
  }

  it('registers the credentials it holds with the redactor', () => {
    for (const secret of [...SECRETS, GATEWAY_KEY])
      assert.ok(secretRedactor.leaks(`x ${secret} y`), secret.slice(0, 10));
  });

  for (const model of ['oa', 'an']) {
    for (const status of [400, 403, 404, 409, 413, 422, 429, 500, 503]) {
      it(`${model}: an upstream ${status} echoing the key reaches the client redacted`, async () => {
        for (const kind of ['json', 'text']) {
          const response = await ask(model, `${kind} ${status}`);
          assert.ok(response.status >= 400, `${kind} ${status}`);
          const text = await response.text();
          assertClean(text, `${model} ${kind} ${status}`);
          if (kind === 'json')
            assert.match(text, /\[redacted\]/, `${model} ${status}: the message is kept, the key replaced`);
        }
      });
    }

    it(`${model}: a stream error event echoing the key reaches the client redacted`, async () => {
      const response = await ask(model, 'stream 200', true);
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.match(text, /"error"/);
      assertClean(text, `${model} stream`);
    });
  }

  it('printed nothing with a secret in it', () => {
    assert.ok(logged.length > 0, 'the request log was captured');
    assertClean(logged.join(''), 'the logs');
  });
});
