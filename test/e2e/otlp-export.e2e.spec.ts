/**
 * The built gateway (dist/src/main.js) in a child process with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a capture
 * server: its spans arrive over OTLP/HTTP, and SIGTERM exports what is still buffered before exiting 0.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson } from './harness.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

interface OtlpExport {
  path: string;
  headers: IncomingHttpHeaders;
  body: {
    resourceSpans: Array<{
      resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
      scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string }> }>;
    }>;
  };
}

describe('OTLP/HTTP export from the built gateway', () => {
  const sim = new OpenAiSimulator();
  const exports: OtlpExport[] = [];
  let collector: Server;
  let child: ChildProcess;
  let dir: string;
  let gatewayUrl: string;

  before(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        exports.push({
          path: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport['body'],
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

    dir = mkdtempSync(join(tmpdir(), 'gateway-otlp-'));
    const configPath = join(dir, 'gateway.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { host: '127.0.0.1', port: 0, logRequests: false },
        auth: { enabled: false },
        providers: [{ name: 'sim', type: 'openai', baseUrl: await sim.start() }],
        models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] }],
      }),
    );
    child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        GATEWAY_CONFIG: configPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
        OTEL_SERVICE_NAME: 'gateway-under-test',
        // A long batch delay: the spans must leave at shutdown, not on a timer.
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gatewayUrl = await listeningUrl(child);
  });
  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    collector.closeAllConnections();
    collector.close();
    await sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exports the request spans with the client trace id, and flushes them on SIGTERM', async () => {
    const response = await postJson(
      `${gatewayUrl}/v1/chat/completions`,
      { model: 'gpt-test', messages: [{ role: 'user', content: 'hello' }] },
      { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
    );
    assert.equal(response.status, 200);
    await response.text();
    await sleep(50);
    assert.equal(exports.length, 0, 'batched, not sent per span');

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);

    assert.ok(exports.length >= 1);
    assert.equal(exports[0].path, '/v1/traces');
    assert.match(String(exports[0].headers['content-type']), /application\/json/);
    const resourceSpans = exports.flatMap((e) => e.body.resourceSpans);
    const serviceName = resourceSpans[0].resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
    assert.equal(serviceName, 'gateway-under-test');
    const spans = resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
    const server = spans.find((span) => span.name === 'POST /v1/chat/completions');
    assert.ok(server, `server span among ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(server.traceId, TRACE_ID);
    assert.equal(server.parentSpanId, '00f067aa0ba902b7');
    assert.ok(spans.some((span) => span.name === 'chat sim-model' && span.traceId === TRACE_ID));
    assert.equal(sim.requests.at(-1)?.headers.traceparent?.toString().split('-')[1], TRACE_ID);
  });
});

/** Reads the child's start-up log until it says where it listens. */
async function listeningUrl(child: ChildProcess): Promise<string> {
  let output = '';
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  for (let i = 0; i < 200; i++) {
    const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
    if (match) return match[1];
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  throw new Error(`the gateway did not start:\n${output}`);
}
