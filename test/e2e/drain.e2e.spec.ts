/** The real process: SIGTERM drains an open stream to [DONE], refuses new work with 503, and exits 0. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { spawnGateway } from './gateway-process.js';
import { postJson, sseData } from './harness.js';

describe('graceful drain on SIGTERM', () => {
  const sim = new OpenAiSimulator({ chunkDelayMs: 60 });
  let child: ChildProcess | undefined;
  let url = '';

  before(async () => {
    const simUrl = await sim.start();
    const gateway = await spawnGateway([
      'server: { host: 127.0.0.1, port: 0, drainTimeoutMs: 10000, logFormat: json }',
      `providers: [{ name: sim, type: openai, baseUrl: '${simUrl}' }]`,
      'models: [{ name: m, deployments: [{ provider: sim, model: m }] }]',
      'auth: { enabled: false }',
    ]);
    child = gateway.child;
    url = gateway.url;
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await sim.stop();
  });

  it('finishes the open stream, answers 503 to new requests and exits 0', async () => {
    const stream = await postJson(`${url}/v1/chat/completions`, {
      model: 'm',
      stream: true,
      messages: [{ role: 'user', content: 'a stream long enough to outlive the signal' }],
    });
    assert.equal(stream.status, 200);
    const reader = stream.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    const exited = once(child!, 'exit') as Promise<[number | null, string | null]>;
    child!.kill('SIGTERM');

    await new Promise((resolve) => setTimeout(resolve, 150));
    const refused = await postJson(`${url}/v1/chat/completions`, {
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(refused.status, 503);
    assert.ok(refused.headers.get('retry-after'));
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'shutting_down');
    const ready = await fetch(`${url}/health/ready`);
    assert.equal(ready.status, 503);
    const readiness = (await ready.json()) as { error: Record<string, { status: string }> };
    assert.equal(readiness.error.lifecycle.status, 'down');

    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    assert.equal(sseData(text).at(-1), '[DONE]');
    const [code] = await exited;
    assert.equal(code, 0);
  });
});
