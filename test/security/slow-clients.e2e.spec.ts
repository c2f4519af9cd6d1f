/**
 * Slow and silent clients: a body that stops arriving (chunked without end, a short Content-Length), headers that
 * dribble in, a connection that never sends a byte, and more connections than allowed. Each is cut off by its bound
 * (a 408 in the OpenAI error shape where an answer is possible), and other clients keep being served meanwhile.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from '../e2e/harness.js';
import { parseRawAnswer } from './raw-http.js';

const HEADERS_MS = 600;
const REQUEST_MS = 1_200;

/** Opens a socket, writes `bytes`, and resolves with all it received and how long until the gateway closed it. */
function hold(url: string, bytes: string, dribble?: string): Promise<{ text: string; closedAfterMs: number }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const socket: Socket = connect(Number(port), hostname, () => {
      if (bytes) socket.write(bytes);
      if (dribble) timer = setInterval(() => socket.writable && socket.write(dribble), 100);
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ text, closedAfterMs: Date.now() - started });
    });
  });
}

describe('slow and silent clients', () => {
  const sim = new OpenAiSimulator();
  let gateway: RunningGateway;

  before(async () => {
    const simUrl = await sim.start();
    gateway = await startGateway({
      server: { timeouts: { headersMs: HEADERS_MS, requestMs: REQUEST_MS }, maxConnections: 40 },
      providers: [{ name: 'sim', type: 'openai', baseUrl: simUrl }],
      models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'm' }] }],
    });
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  const serveOthers = async () => {
    let served = 0;
    const deadline = Date.now() + REQUEST_MS;
    while (Date.now() < deadline) {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, {
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'still here?' }],
      });
      assert.equal(response.status, 200);
      await response.text();
      served++;
    }
    return served;
  };

  it('answers 408 to stalled bodies, closes silent and dribbling connections, and serves others meanwhile', async () => {
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n';
    const [shortBody, unendingChunks, silent, dribbling, served] = await Promise.all([
      hold(gateway.url, `${head}Content-Length: 500\r\n\r\n{"model":"gpt-test"`),
      hold(gateway.url, `${head}Transfer-Encoding: chunked\r\n\r\n4\r\n{"mo\r\n`),
      hold(gateway.url, ''),
      hold(gateway.url, 'GET /v1/models HTTP/1.1\r\nHost: gw\r\n', 'X-Slow: 1\r\n'),
      serveOthers(),
    ]);
    for (const [name, held] of [
      ['short body', shortBody],
      ['unending chunks', unendingChunks],
    ] as const) {
      const answer = parseRawAnswer(held.text);
      assert.equal(answer.status, 408, `${name}: ${held.text}`);
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'request_timeout');
      assert.ok(
        held.closedAfterMs >= REQUEST_MS - 100 && held.closedAfterMs < REQUEST_MS + 1_500,
        `${name}: ${held.closedAfterMs} ms`,
      );
    }
    for (const [name, held] of [
      ['silent', silent],
      ['dribbling headers', dribbling],
    ] as const) {
      assert.ok(
        held.closedAfterMs >= HEADERS_MS - 100 && held.closedAfterMs < HEADERS_MS + 1_500,
        `${name}: ${held.closedAfterMs} ms`,
      );
      if (held.text !== '') assert.equal(parseRawAnswer(held.text).status, 408, name);
    }
    assert.ok(served >= 5, `only ${served} other requests were served meanwhile`);
  });

  it('refuses connections past server.maxConnections and serves again once they close', async () => {
    const { hostname, port } = new URL(gateway.url);
    const sockets: Socket[] = [];
    for (let i = 0; i < 40; i++) {
      const socket = connect(Number(port), hostname);
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      sockets.push(socket);
    }
    const refused = await hold(gateway.url, 'GET /health/live HTTP/1.1\r\nHost: gw\r\n\r\n');
    assert.equal(refused.text, '', 'the 41st connection is closed without an answer');
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const live = await fetch(`${gateway.url}/health/live`);
    assert.equal(live.status, 200);
  });
});
