/**
 * The HTTP edge as a new user meets it: unknown routes, bodies that are not JSON, CORS for browsers, a base URL with
 * a query, and which side a refused request is counted on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { parseSamples, sampleKey } from './prometheus-text.js';

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

describe('the HTTP edge', () => {
  const sim = new OpenAiSimulator();
  const anthropic = new AnthropicSimulator();
  let gateway: RunningGateway;

  before(async () => {
    const [simUrl, anthropicUrl] = await Promise.all([sim.start(), anthropic.start()]);
    gateway = await startGateway({
      server: { cors: { origins: ['https://app.example.com'] } },
      providers: [
        { name: 'sim', type: 'openai', baseUrl: `${simUrl}?api-version=2024-10-21` },
        { name: 'claude', type: 'anthropic', baseUrl: anthropicUrl, apiKey: anthropic.apiKey },
      ],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'm' }] },
        { name: 'claude-test', deployments: [{ provider: 'claude', model: 'claude-x' }] },
      ],
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([sim.stop(), anthropic.stop()]);
  });

  it('answers an unknown route 404 unknown_url naming the method and path, whatever its body', async () => {
    for (const [type, body] of [
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc\r\n--x--\r\n'],
      ['text/plain', 'hello'],
      ['application/json', '{"model":"x"}'],
      ['application/octet-stream', 'binary'],
    ]) {
      const response = await fetch(`${gateway.url}/v1/audio/transcriptions`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      assert.equal(response.status, 404, type);
      const error = ((await response.json()) as ErrorBody).error;
      assert.equal(error.code, 'unknown_url');
      assert.equal(error.message, 'Unknown request URL: POST /v1/audio/transcriptions.');
    }
  });

  it("answers a body that is not JSON with the gateway's own invalid_json", async () => {
    for (const body of ['{not json', '']) {
      const response = await postJson(`${gateway.url}/v1/chat/completions`, body);
      assert.equal(response.status, 400);
      assert.equal(((await response.json()) as ErrorBody).error.code, 'invalid_json');
    }
    const wrongType = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    assert.equal(wrongType.status, 415);
    assert.equal(((await wrongType.json()) as ErrorBody).error.code, 'unsupported_media_type');
  });

  it("keeps the base URL's query (api-version) on the way upstream", async () => {
    const response = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: 'gpt-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(response.status, 200);
    assert.equal(sim.requests.at(-1)?.query?.['api-version'], '2024-10-21');
  });

  it('counts a request the gateway refused itself as origin="gateway", never as the upstream\'s', async () => {
    const before = await (await fetch(`${gateway.url}/metrics`)).text();
    const response = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: 'claude-test',
      messages: [{ role: 'user', content: 'hi' }],
      logprobs: true,
    });
    assert.equal(response.status, 400);
    const after = await (await fetch(`${gateway.url}/metrics`)).text();
    const series = (origin: string, text: string) =>
      parseSamples(text).get(
        sampleKey('llm_upstream_errors_total', { provider: 'claude', class: 'caller_error', origin }),
      ) ?? 0;
    assert.equal(series('gateway', after) - series('gateway', before), 1);
    assert.equal(series('upstream', after) - series('upstream', before), 0);
    assert.equal(anthropic.received, 0, 'it never reached the provider');
  });

  describe('CORS (server.cors)', () => {
    const origin = 'https://app.example.com';

    it('answers the preflight of an allowed origin with the methods and headers', async () => {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      });
      assert.equal(response.status, 204);
      assert.equal(response.headers.get('access-control-allow-origin'), origin);
      assert.match(response.headers.get('access-control-allow-methods') ?? '', /POST/);
      assert.match(response.headers.get('access-control-allow-headers') ?? '', /authorization/);
    });

    it('sends no CORS headers to another origin', async () => {
      const preflight = await fetch(`${gateway.url}/v1/models`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
      });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      const get = await fetch(`${gateway.url}/v1/models`, { headers: { origin: 'https://evil.example' } });
      assert.equal(get.headers.get('access-control-allow-origin'), null);
    });

    it('puts the allow-origin and exposed headers on API answers, errors included', async () => {
      const ok = await postJson(
        `${gateway.url}/v1/chat/completions`,
        { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] },
        { origin },
      );
      assert.equal(ok.headers.get('access-control-allow-origin'), origin);
      assert.match(ok.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
      const bad = await postJson(`${gateway.url}/v1/chat/completions`, { model: 'nope', messages: [] }, { origin });
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.get('access-control-allow-origin'), origin);
    });
  });
});

describe('CORS off (the default)', () => {
  it('has no preflight route', async () => {
    const gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
    });
    try {
      const response = await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
      });
      assert.equal(response.status, 404);
      assert.equal(response.headers.get('access-control-allow-origin'), null);
    } finally {
      await gateway.close();
    }
  });
});

describe('the admin API limit (@nestjs/throttler on our token buckets)', () => {
  it('refuses an admin caller past rateLimit.admin.requestsPerMinute with 429 and Retry-After', async () => {
    const gateway = await startGateway({
      providers: [{ name: 'sim', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', deployments: [{ provider: 'sim', model: 'm' }] }],
      rateLimit: { admin: { requestsPerMinute: 3 } },
    });
    try {
      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 5; i++) {
        last = await fetch(`${gateway.url}/admin/routing`);
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.ok(Number(last!.headers.get('retry-after')) >= 1);
      assert.equal(((await last!.json()) as ErrorBody).error.code, 'rate_limit_exceeded');
      assert.equal((await fetch(`${gateway.url}/v1/models`)).status, 200, 'API routes are not limited by it');
    } finally {
      await gateway.close();
    }
  });
});
