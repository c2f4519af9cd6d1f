/** Routing over real HTTP: fallbacks across providers, the attempt budget, breakers, stream hold-back, deadlines. */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { ErnieSimulator } from '../simulators/ernie-simulator.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, sseData, startGateway } from './harness.js';

const messages = [{ role: 'user', content: 'route me' }];
const fastRetry = { retries: 2, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 0 };

describe('routing and resilience', () => {
  const first = new OpenAiSimulator({ name: 'first' });
  const second = new OpenAiSimulator({ name: 'second' });
  const third = new OpenAiSimulator({ name: 'third' });
  const ernie = new ErnieSimulator({ apiKey: 'ak', secretKey: 'sk' });
  let gateway: RunningGateway;
  let chatUrl: string;

  before(async () => {
    const [firstUrl, secondUrl, thirdUrl, ernieUrl] = await Promise.all([
      first.start(),
      second.start(),
      third.start(),
      ernie.start(),
    ]);
    const provider = (name: string, baseUrl: string) => ({ name, type: 'openai', baseUrl, retry: fastRetry });
    gateway = await startGateway({
      providers: [
        provider('first', firstUrl),
        provider('second', secondUrl),
        provider('third', thirdUrl),
        {
          name: 'ernie',
          type: 'ernie',
          baseUrl: ernieUrl,
          apiKey: 'ak',
          options: { secretKey: 'sk' },
          retry: fastRetry,
        },
      ],
      routing: { breaker: { failureThreshold: 100, windowMs: 60_000, openMs: 60_000 } },
      models: [
        { name: 'cross', deployments: [{ provider: 'first', model: 'gpt-x' }], fallbacks: ['ernie-backup'] },
        { name: 'ernie-backup', deployments: [{ provider: 'ernie', model: 'ernie-speed-128k' }] },
        {
          name: 'pair',
          strategy: 'round-robin',
          maxAttempts: 4,
          deployments: [
            { provider: 'first', model: 'a' },
            { provider: 'second', model: 'b' },
          ],
          fallbacks: ['solo'],
        },
        { name: 'solo', deployments: [{ provider: 'third', model: 'c' }], fallbacks: ['pair'] },
        {
          name: 'streamy',
          strategy: 'round-robin',
          deployments: [
            { provider: 'first', model: 's1' },
            { provider: 'second', model: 's2' },
          ],
          stream: { holdBackMs: 2_000, ttftTimeoutMs: 300, idleTimeoutMs: 300 },
        },
        { name: 'slow', timeoutMs: 5_000, deployments: [{ provider: 'first', model: 'slow' }] },
      ],
    });
    chatUrl = `${gateway.url}/v1/chat/completions`;
  });
  after(async () => {
    await gateway.close();
    await Promise.all([first.stop(), second.stop(), third.stop(), ernie.stop()]);
  });
  afterEach(() => {
    for (const sim of [first, second, third]) sim.reset();
    ernie.reset();
  });

  it('falls back across providers: OpenAI fails, ERNIE serves, and the headers say so', async () => {
    first.enqueueFault({ status: 500, times: 10 });
    const response = await postJson(chatUrl, { model: 'cross', messages });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-model'), 'ernie-backup');
    assert.equal(response.headers.get('x-gateway-deployment'), 'ernie/ernie-speed-128k');
    assert.equal(response.headers.get('x-gateway-attempts'), '4', '3 transport attempts on OpenAI, then ERNIE');
    const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
    assert.match(body.choices[0].message.content, /route me/);
    assert.equal(first.received, 3);
  });

  it('never exceeds the attempt budget when every deployment fails, and never loops through fallbacks', async () => {
    for (const sim of [first, second, third]) sim.enqueueFault({ status: 503, times: 20 });
    const response = await postJson(chatUrl, { model: 'pair', messages });
    assert.equal(response.status, 503);
    const total = first.received + second.received + third.received;
    assert.equal(total, 4, `upstream requests: ${first.received}+${second.received}+${third.received}`);
    assert.equal(response.headers.get('x-request-id')?.length ? 1 : 0, 1);
  });

  it('returns a caller error at once, without trying other deployments', async () => {
    first.enqueueFault({
      status: 400,
      body: { error: { message: 'bad', type: 'invalid_request_error', param: 'x', code: null } },
    });
    const response = await postJson(chatUrl, { model: 'cross', messages });
    assert.equal(response.status, 400);
    assert.equal(first.received, 1);
    assert.equal(ernie.requests.filter((r) => r.path.includes('/chat/')).length, 0);
  });

  it('a stream that fails before its first content chunk falls back invisibly', async () => {
    first.enqueueFault({ dropAfterChunks: 1 });
    const response = await postJson(chatUrl, { model: 'streamy', messages, stream: true });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-deployment'), 'second/s2');
    const data = sseData(await response.text());
    assert.equal(data.at(-1), '[DONE]');
    assert.ok(data.slice(0, -1).every((d) => !(JSON.parse(d) as { error?: unknown }).error));
    assert.equal(first.received, 1);
    assert.equal(second.received, 1);
  });

  it('a stream that fails after its first content chunk ends with an error event, without fallback', async () => {
    // Round-robin: make sure the failing simulator is the one chosen, whichever it is.
    first.enqueueFault({ dropAfterChunks: 3 });
    second.enqueueFault({ dropAfterChunks: 3 });
    const response = await postJson(chatUrl, { model: 'streamy', messages, stream: true });
    assert.equal(response.status, 200);
    const data = sseData(await response.text());
    assert.ok((JSON.parse(data.at(-1)!) as { error?: unknown }).error, 'last event is an error');
    assert.ok(!data.includes('[DONE]'));
    assert.equal(first.received + second.received, 1);
  });

  it('falls back when the first deployment sends no content within the TTFT timeout', async () => {
    first.enqueueFault({ chunkDelayMs: 2_000 });
    second.enqueueFault({ chunkDelayMs: 2_000 });
    third.enqueueFault({});
    // Both stall: the first one is abandoned after 300 ms, the second too; nothing else is in the group.
    const stalled = await postJson(chatUrl, { model: 'streamy', messages, stream: true });
    assert.equal(stalled.status, 504);
    assert.equal(((await stalled.json()) as { error: { code: string } }).error.code, 'ttft_timeout');
    await first.waitForHangUp(1_000);
    await second.waitForHangUp(1_000);
  });

  it('ends a flowing stream with an error event when the upstream goes silent', async () => {
    // Whichever deployment round-robin picks: content flows, then 1 s of silence (idle limit 300 ms).
    first.enqueueFault({ stallAfterChunks: 3, stallMs: 1_000 });
    second.enqueueFault({ stallAfterChunks: 3, stallMs: 1_000 });
    const response = await postJson(chatUrl, { model: 'streamy', messages, stream: true });
    assert.equal(response.status, 200);
    const data = sseData(await response.text());
    const last = JSON.parse(data.at(-1)!) as { error: { code: string } };
    assert.equal(last.error.code, 'idle_timeout');
    assert.equal(data.length, 4, 'three chunks, then the error event');
    assert.equal(first.received + second.received, 1, 'no fallback after the first byte');
  });

  it('honours a shorter deadline asked for with x-gateway-timeout-ms', async () => {
    first.enqueueFault({ hang: true });
    const started = Date.now();
    const response = await postJson(chatUrl, { model: 'slow', messages }, { 'x-gateway-timeout-ms': '300' });
    assert.equal(response.status, 504);
    assert.ok(Date.now() - started < 3_000);
    await first.waitForHangUp(1_000);
    const bad = await postJson(chatUrl, { model: 'slow', messages }, { 'x-gateway-timeout-ms': 'soon' });
    assert.equal(bad.status, 400);
  });

  it('shows deployments and breakers at GET /admin/routing', async () => {
    const response = await fetch(`${gateway.url}/admin/routing`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      models: Array<{ model: string; deployments: Array<{ id: string; breaker: { state: string } }> }>;
    };
    const pair = body.models.find((m) => m.model === 'pair');
    assert.deepEqual(
      pair?.deployments.map((d) => d.id),
      ['first/a', 'second/b'],
    );
    assert.ok(pair?.deployments.every((d) => ['closed', 'open', 'half-open'].includes(d.breaker.state)));
  });
});

describe('circuit breaker over HTTP', () => {
  const flaky = new OpenAiSimulator({ name: 'flaky' });
  const steady = new OpenAiSimulator({ name: 'steady' });
  let gateway: RunningGateway;

  before(async () => {
    const [flakyUrl, steadyUrl] = await Promise.all([flaky.start(), steady.start()]);
    gateway = await startGateway({
      providers: [
        { name: 'flaky', type: 'openai', baseUrl: flakyUrl, retry: { retries: 0 } },
        { name: 'steady', type: 'openai', baseUrl: steadyUrl, retry: { retries: 0 } },
      ],
      routing: { breaker: { failureThreshold: 2, windowMs: 10_000, openMs: 400, maxOpenMs: 5_000 } },
      models: [
        {
          name: 'm',
          strategy: 'round-robin',
          deployments: [
            { provider: 'flaky', model: 'x' },
            { provider: 'steady', model: 'y' },
          ],
        },
      ],
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([flaky.stop(), steady.stop()]);
  });

  it("a 429's Retry-After opens the breaker for that long; then a probe closes it again", async () => {
    const chat = () => postJson(`${gateway.url}/v1/chat/completions`, { model: 'm', messages });
    flaky.enqueueFault({ status: 429, retryAfterSeconds: 1 });
    // Round-robin starts with `flaky`: its 429 moves the request to `steady`.
    const first = await chat();
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-gateway-deployment'), 'steady/y');
    const state = (await (await fetch(`${gateway.url}/admin/routing`)).json()) as {
      models: Array<{ deployments: Array<{ id: string; breaker: { state: string; openUntil: number } }> }>;
    };
    const flakyState = state.models[0].deployments.find((d) => d.id === 'flaky/x')!.breaker;
    assert.equal(flakyState.state, 'open');
    assert.ok(flakyState.openUntil - Date.now() > 500 && flakyState.openUntil - Date.now() <= 1_000);

    const receivedWhileOpen = flaky.received;
    for (let i = 0; i < 4; i++) assert.equal((await chat()).headers.get('x-gateway-deployment'), 'steady/y');
    assert.equal(flaky.received, receivedWhileOpen, 'no traffic to an open deployment');

    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) served.add((await chat()).headers.get('x-gateway-deployment') ?? '');
    assert.ok(served.has('flaky/x'), 'half-open probe went through and closed the breaker');
  });
});
