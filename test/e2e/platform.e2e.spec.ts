/** Health probes, unknown routes and the injectable LlmClient. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LlmClient } from '../../src/llm-client/llm-client.service.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { openAiSimConfig, type RunningGateway, startGateway } from './harness.js';

describe('health, routes and LlmClient', () => {
  const sim = new OpenAiSimulator({ apiKey: 'sk-sim-upstream-secret' });
  let gateway: RunningGateway;

  before(async () => {
    gateway = await startGateway(openAiSimConfig(await sim.start()));
  });
  after(async () => {
    await gateway.close();
    await sim.stop();
  });

  it('reports liveness and readiness', async () => {
    const live = await fetch(`${gateway.url}/health/live`);
    assert.equal(live.status, 200);
    assert.equal(((await live.json()) as { status: string }).status, 'ok');
    const ready = await fetch(`${gateway.url}/health/ready`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { info: Record<string, { status: string }> };
    assert.equal(body.info.providers.status, 'up');
    assert.equal(sim.received, 0, 'probes never call a model');
  });

  it('answers unknown paths with a 404 in OpenAI format', async () => {
    const response = await fetch(`${gateway.url}/v1/nothing-here`);
    assert.equal(response.status, 404);
    assert.ok(response.headers.get('x-request-id'));
    assert.equal(((await response.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  });

  it('rejects a non-JSON content type with 415', async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(response.status, 415);
  });

  it('lets other Nest modules call models through LlmClient', async () => {
    const llm = gateway.app.get(LlmClient);
    assert.match(await llm.complete('from a service', { model: 'gpt-test' }), /from a service/);
    let streamed = '';
    for await (const delta of llm.streamComplete([{ role: 'user', content: 'streamed call' }], { model: 'gpt-test' })) {
      streamed += delta;
    }
    assert.match(streamed, /streamed call/);
  });
});
