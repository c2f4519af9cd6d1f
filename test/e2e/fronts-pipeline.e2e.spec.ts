/**
 * The shared pipeline under the Messages and Responses fronts, end to end: rate limits and token budgets answered in
 * each front's error shape, fallback across providers (native to translated, before a stream's first byte), the
 * upstream call cancelled when the client leaves, cost, the metrics' `front` label and the request log's `front`.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { scrape, valueOf } from './prometheus-text.js';
import { ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 60_000 };
const KEYS = {
  team: 'sk-gw-fronts-team-0123456789',
  limited: 'sk-gw-fronts-limited-0123456789',
  budgeted: 'sk-gw-fronts-budget-0123456789',
};
const message = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  max_tokens: 100,
  messages: [{ role: 'user', content: 'hello there' }],
  ...extra,
});

describe('the shared pipeline under the Messages and Responses fronts', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;
  let captured = '';
  const write = process.stdout.write.bind(process.stdout);

  before(async () => {
    await fleet.start();
    const config = fleet.config({
      server: { logRequests: true },
      auth: {
        enabled: true,
        keys: [
          { id: 'team', key: KEYS.team },
          { id: 'limited', key: KEYS.limited, limits: { requestsPerMinute: 2, burst: 2 } },
          { id: 'budgeted', key: KEYS.budgeted, budget: { tokensPerDay: 40 } },
        ],
      },
      rateLimit: {
        enabled: true,
        redis: { url: 'redis://127.0.0.1:6379', keyPrefix: `llmgw:test:fronts:${process.pid}-${Date.now()}:` },
        defaultPerKey: { requestsPerMinute: 10_000 },
      },
    }) as { models: Array<Record<string, unknown>> };
    // Anthropic first, then the OpenAI model when it fails; priced, for the cost header.
    config.models.push({
      name: 'claude-or-gpt',
      deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }],
      fallbacks: ['gpt'],
      pricing: { inputPerMillion: 3, outputPerMillion: 15 },
    });
    gateway = await startGateway(config);
    process.stdout.write = (chunk: string | Uint8Array, ...rest: never[]) => {
      captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return write.call(process.stdout, chunk, ...rest);
    };
  });
  after(async () => {
    process.stdout.write = write;
    await gateway.close();
    await fleet.stop();
  });
  beforeEach(() => fleet.reset());

  const team = { 'x-api-key': KEYS.team, authorization: `Bearer ${KEYS.team}` };

  it('answers a key over its rate limit in each front’s own shape', async () => {
    const messages = [];
    for (let i = 0; i < 3; i++) {
      messages.push(await postJson(`${gateway.url}/v1/messages`, message('claude'), { 'x-api-key': KEYS.limited }));
    }
    assert.deepEqual(
      messages.map((response) => response.status),
      [200, 200, 429],
    );
    const refused = (await messages[2].json()) as { type: string; error: { type: string } };
    assert.equal(refused.type, 'error');
    assert.equal(refused.error.type, 'rate_limit_error');
    assert.ok(Number(messages[2].headers.get('retry-after')) > 0);

    const response = await postJson(
      `${gateway.url}/v1/responses`,
      { model: 'gpt', input: 'hi' },
      { authorization: `Bearer ${KEYS.limited}` },
    );
    assert.equal(response.status, 429);
    const body = (await response.json()) as { error: { code: string; type: string } };
    assert.equal(body.error.code, 'rate_limit_exceeded');
  });

  it('stops a key at its token budget on the Responses front', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8 && statuses.at(-1) !== 429; i++) {
      const response = await postJson(
        `${gateway.url}/v1/responses`,
        { model: 'gpt', input: 'spend some tokens on this please' },
        { authorization: `Bearer ${KEYS.budgeted}` },
      );
      statuses.push(response.status);
      if (response.status === 429) {
        assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'insufficient_quota');
      } else {
        await response.arrayBuffer();
      }
      // The budget is charged right after the answer; let it land in Redis.
      await sleep(50);
    }
    assert.equal(statuses[0], 200);
    assert.equal(statuses.at(-1), 429, statuses.join(','));
  });

  it('falls back from a failing Anthropic deployment to OpenAI, translated, streams included', async () => {
    fleet.anthropic.enqueueFault({ status: 500 });
    const response = await postJson(`${gateway.url}/v1/messages`, message('claude-or-gpt'), team);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-gateway-model'), 'gpt');
    const answer = (await response.json()) as { type: string; content: Array<{ text: string }> };
    assert.equal(answer.type, 'message');
    assert.match(answer.content[0].text, /gpt-4o-mini/);

    fleet.anthropic.enqueueFault({ status: 529 });
    const stream = await postJson(`${gateway.url}/v1/messages`, message('claude-or-gpt', { stream: true }), team);
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('x-gateway-model'), 'gpt');
    const text = await stream.text();
    assert.match(text, /^event: message_start/);
    assert.match(text, /event: message_stop\n/);
    assert.equal(fleet.anthropic.requests.length, 2);
  });

  it('cancels the upstream call when the client leaves a stream', async () => {
    fleet.openai.enqueueFault({ stallAfterChunks: 1, stallMs: 10_000 });
    const abort = new AbortController();
    const response = await postJson(
      `${gateway.url}/v1/responses`,
      { model: 'gpt', input: 'a long answer', stream: true, store: false },
      team,
      abort.signal,
    );
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    await fleet.openai.waitForHangUp(3_000);
    assert.equal(fleet.openai.hungUp, 1);
  });

  it('prices each front’s answer and counts it under its front', async () => {
    const messages = await postJson(`${gateway.url}/v1/messages`, message('claude-or-gpt'), team);
    assert.match(messages.headers.get('x-gateway-cost') ?? '', /^0\.\d+$/);
    await messages.arrayBuffer();
    const responses = await postJson(`${gateway.url}/v1/responses`, { model: 'claude-or-gpt', input: 'hi' }, team);
    assert.match(responses.headers.get('x-gateway-cost') ?? '', /^0\.\d+$/);
    await responses.arrayBuffer();

    const { samples } = await scrape(gateway.url);
    const count = (front: string) =>
      valueOf(samples, 'llm_requests_total', { model: 'claude-or-gpt', front, status: '200' });
    assert.ok(count('messages') >= 1);
    assert.ok(count('responses') >= 1);

    await sleep(100);
    const lines = captured
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('"message":"request"'))
      .map((line) => JSON.parse(line) as { front: string; model: string; costUsd: number | null });
    const fronts = new Set(lines.filter((line) => line.model === 'claude-or-gpt').map((line) => line.front));
    assert.ok(fronts.has('messages') && fronts.has('responses'), JSON.stringify([...fronts]));
  });
});
