#!/usr/bin/env node
// The floor of the gateway's own stack: Fastify (as configured by the gateway, default JSON body parser) and an
// undici Agent with a `dispatch` handler, forwarding POST /v1/chat/completions to UPSTREAM_BASE_URL and the answer
// back byte for byte (JSON whole, SSE chunk by chunk). No auth, limits, routing, metrics or logging: what is left
// is the cost of the framework and the HTTP client, which the gateway cannot go below. `npm run bench:stack`
// measures it next to the harness's direct and bare-node floor targets.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Fastify = require('fastify');
const { Agent } = require('undici');

const port = Number(process.env.PORT ?? 3000);
const upstream = new URL(process.env.UPSTREAM_BASE_URL ?? 'http://127.0.0.1:18080/v1');
const path = `${upstream.pathname.replace(/\/$/, '')}/chat/completions`;
const agent = new Agent({ connections: 1024, pipelining: 1, keepAliveTimeout: 60_000 });
const headers = { 'content-type': 'application/json', authorization: 'Bearer stack-floor' };

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.post('/v1/chat/completions', (request, reply) => {
  reply.hijack();
  const response = reply.raw;
  let abort;
  response.on('close', () => {
    if (!response.writableFinished) abort?.(new Error('client closed'));
  });
  agent.dispatch(
    { origin: upstream.origin, path, method: 'POST', headers, body: JSON.stringify(request.body) },
    {
      onConnect(abortRequest) {
        abort = abortRequest;
      },
      onHeaders(status, rawHeaders, resume) {
        const contentType = rawHeaders.findIndex(
          (value, i) => i % 2 === 0 && value.toString().toLowerCase() === 'content-type',
        );
        response.writeHead(status, {
          'content-type': contentType >= 0 ? rawHeaders[contentType + 1].toString() : 'application/json',
        });
        response.on('drain', resume);
        return true;
      },
      onData(chunk) {
        return response.write(chunk);
      },
      onComplete() {
        response.end();
      },
      onError() {
        if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
        response.end('{"error":{"message":"upstream failed","type":"server_error","param":null,"code":null}}');
      },
    },
  );
});
await app.listen({ port, host: '127.0.0.1' });
console.log(`stack floor on http://127.0.0.1:${port}/v1 -> ${upstream.href}`);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void app.close().then(() => process.exit(0)));
