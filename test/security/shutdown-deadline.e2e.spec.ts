/**
 * The real process, attacked at shutdown: a stream far longer than the drain time, a request whose body never ends,
 * a connection that never sends a byte and an idle keep-alive connection are all open when SIGTERM arrives. The
 * drain deadline bounds the exit: the stream ends with a retryable error event, the rest are closed, and the process
 * exits 0 shortly after `drainTimeoutMs`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SHUTDOWN_TAIL_MS } from '../../src/lifecycle/traffic.service.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { type GatewayProcess, spawnGateway } from '../e2e/gateway-process.js';
import { postJson, sseData } from '../e2e/harness.js';

const DRAIN_MS = 1_500;

function openSocket(url: string, bytes?: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      if (bytes) socket.write(bytes);
      resolve(socket);
    });
    socket.on('error', () => undefined);
    // Read what the gateway sends, so that its closing the connection is seen.
    socket.resume();
  });
}

describe('the drain deadline bounds shutdown', () => {
  // 60 words at 400 ms each: a 24 s stream, far past the drain time.
  const sim = new OpenAiSimulator({ chunkDelayMs: 400 });
  let gateway: GatewayProcess;

  before(async () => {
    const simUrl = await sim.start();
    gateway = await spawnGateway([
      `server: { host: 127.0.0.1, port: 0, drainTimeoutMs: ${DRAIN_MS}, logFormat: json, timeouts: { headersMs: 60000, requestMs: 120000 } }`,
      `providers: [{ name: sim, type: openai, baseUrl: '${simUrl}' }]`,
      'models: [{ name: m, deployments: [{ provider: sim, model: m }] }]',
      'auth: { enabled: false }',
    ]);
  });
  after(async () => {
    if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
    await sim.stop();
  });

  it('ends the stream with a retryable error event, closes the rest, and exits within the deadline', async () => {
    const url = gateway.url;
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const stream = await postJson(`${url}/v1/chat/completions`, {
      model: 'm',
      stream: true,
      messages: [{ role: 'user', content: words }],
    });
    assert.equal(stream.status, 200);
    const streamText = stream.text();
    const unendingBody = await openSocket(
      url,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mod\r\n',
    );
    const silent = await openSocket(url);
    const idle = await openSocket(url, 'GET /health/live HTTP/1.1\r\nHost: gw\r\n\r\n');
    const closed = [unendingBody, silent, idle].map((socket) => once(socket, 'close'));

    const exited = once(gateway.child, 'exit');
    const signalledAt = Date.now();
    gateway.child.kill('SIGTERM');
    const [code] = (await exited) as [number];
    const tookMs = Date.now() - signalledAt;

    assert.equal(code, 0, gateway.output());
    assert.ok(tookMs >= DRAIN_MS, `exited after ${tookMs} ms, before the drain time`);
    assert.ok(tookMs < DRAIN_MS + SHUTDOWN_TAIL_MS, `exited after ${tookMs} ms, the drain time is ${DRAIN_MS} ms`);
    await Promise.all(closed);
    const events = sseData(await streamText);
    assert.notEqual(events.at(-1), '[DONE]', 'the stream did not finish');
    const last = JSON.parse(events.at(-1)!) as { error: { code: string; type: string } };
    assert.equal(last.error.code, 'shutting_down');
    assert.equal(last.error.type, 'server_error', 'a server error: clients retry it');
    assert.ok(events.length > 1, 'tokens flowed before the deadline');
  });
});
