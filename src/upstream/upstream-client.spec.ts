/**
 * The shared transport against a local upstream: transport retries (5xx, 429, network errors) with backoff,
 * Retry-After honoured or refused past the cap, `x-should-retry: false`, the attempt budget, cancellation while
 * waiting and while backing off, the credential hook on 401, per-attempt signing, the base URL's query.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, afterEach, before, describe, it } from 'node:test';
import { plainToInstance } from 'class-transformer';
import { type LocalUpstream, startLocalUpstream } from '../../test/support/local-upstream.js';
import { Cancellation } from '../common/cancellation.js';
import { ClientClosedError, GatewayError } from '../common/errors/gateway.error.js';
import { ProviderConfig } from '../config/gateway-config.js';
import { upstreamErrors } from '../providers/provider-errors.js';
import { AttemptBudget } from '../routing/attempt-budget.js';
import { UpstreamClient, type UpstreamClientOptions } from './upstream-client.js';

type Step = (req: IncomingMessage, res: ServerResponse, body: string) => void;

describe('UpstreamClient', () => {
  let upstream: LocalUpstream;
  /** What the upstream does for each request, in order; the last step repeats. */
  let steps: Step[] = [];
  const seen: Array<{ url: string; headers: IncomingMessage['headers']; body: string }> = [];
  const clients: UpstreamClient[] = [];

  before(async () => {
    upstream = await startLocalUpstream((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        const step = steps[Math.min(seen.length - 1, steps.length - 1)];
        step(req, res, body);
      });
    });
  });
  after(() => upstream.close());
  afterEach(() => {
    seen.length = 0;
    for (const client of clients.splice(0)) client.close();
  });

  const ok: Step = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  };
  const fail =
    (status: number, headers: Record<string, string> = {}): Step =>
    (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(`{"error":{"message":"status ${status}"}}`);
    };
  const reset: Step = (req) => req.socket.destroy();

  function client(
    overrides: Record<string, unknown> = {},
    options: UpstreamClientOptions = {},
    baseUrl = `${upstream.origin}/v1`,
  ): UpstreamClient {
    const config = plainToInstance(
      ProviderConfig,
      {
        name: 'local',
        type: 'openai',
        baseUrl,
        retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 1_000 },
        ...overrides,
      },
      { exposeDefaultValues: true },
    );
    const created = new UpstreamClient(
      config,
      (status, body) =>
        status === 429
          ? upstreamErrors.rateLimited('local', JSON.stringify(body), (body as { retryMs?: number }).retryMs)
          : status >= 500
            ? upstreamErrors.serverError('local', JSON.stringify(body), status)
            : upstreamErrors.badRequest('local', JSON.stringify(body)),
      { random: () => 1, ...options },
    );
    clients.push(created);
    return created;
  }

  const call = (target: UpstreamClient, extra: Partial<Parameters<UpstreamClient['json']>[0]> = {}) =>
    target.json<{ ok: boolean }>({
      path: '/chat/completions',
      body: { a: 1 },
      cancellation: new Cancellation(),
      ...extra,
    });

  it('retries 5xx and 429 answers and network failures, then succeeds', async () => {
    steps = [fail(500), fail(429), ok];
    assert.deepEqual((await call(client())).data, { ok: true });
    assert.equal(seen.length, 3);
    steps = [reset, ok];
    seen.length = 0;
    assert.deepEqual((await call(client())).data, { ok: true });
    assert.equal(seen.length, 2, 'a reset connection before any answer is retried');
  });

  it('gives up after retry.retries and throws the last failure', async () => {
    steps = [fail(503)];
    await assert.rejects(call(client()), (error: unknown) => error instanceof GatewayError && error.status === 503);
    assert.equal(seen.length, 3, 'one try and two retries');
  });

  it('never retries a 4xx answer, nor an answer saying x-should-retry: false', async () => {
    steps = [fail(400)];
    await assert.rejects(call(client()), (error: unknown) => (error as GatewayError).status === 400);
    assert.equal(seen.length, 1);
    seen.length = 0;
    steps = [fail(500, { 'x-should-retry': 'false' })];
    await assert.rejects(call(client()));
    assert.equal(seen.length, 1);
  });

  it('waits what Retry-After says, and does not wait past maxRetryAfterMs', async () => {
    steps = [fail(429, { 'retry-after-ms': '150' }), ok];
    const started = performance.now();
    await call(client());
    assert.ok(performance.now() - started >= 140, 'waited the upstream retry-after');
    seen.length = 0;
    steps = [fail(429, { 'retry-after': '30' })];
    const refusedAt = performance.now();
    await assert.rejects(call(client()), (error: unknown) => (error as GatewayError).status === 429);
    assert.ok(performance.now() - refusedAt < 500, 'a 30 s Retry-After goes back to the client at once');
    assert.equal(seen.length, 1);
  });

  it('waits what the error body says when there is no Retry-After header (Gemini RetryInfo)', async () => {
    steps = [
      (_req, res) => {
        res.writeHead(429, { 'content-type': 'application/json' });
        res.end('{"retryMs":150}');
      },
      ok,
    ];
    const started = performance.now();
    await call(client());
    assert.ok(performance.now() - started >= 140, 'waited the body retry hint');
  });

  it('draws every retry from the request attempt budget', async () => {
    steps = [fail(500)];
    const budget = new AttemptBudget(2);
    budget.take();
    await assert.rejects(call(client({ retry: { retries: 5, baseDelayMs: 1, maxDelayMs: 2 } }), { budget }));
    assert.equal(seen.length, 2, 'the first try plus the one attempt left in the budget');
    assert.equal(budget.remaining, 0);
  });

  it('stops at once when the caller cancels, while waiting for an answer or backing off', async () => {
    steps = [() => undefined];
    const waiting = new Cancellation();
    const pending = call(client(), { cancellation: waiting });
    setTimeout(() => waiting.cancel(new ClientClosedError()), 50);
    await assert.rejects(pending, (error: unknown) => error instanceof ClientClosedError);
    steps = [fail(429, { 'retry-after-ms': '900' }), ok];
    seen.length = 0;
    const backingOff = new Cancellation();
    const started = performance.now();
    const retrying = call(client(), { cancellation: backingOff });
    setTimeout(() => backingOff.cancel(new ClientClosedError()), 50);
    await assert.rejects(retrying, (error: unknown) => error instanceof ClientClosedError);
    assert.ok(performance.now() - started < 500, 'the backoff sleep ends with the cancellation');
    assert.equal(seen.length, 1);
  });

  it('tells the credential hook about a 401 and counts transport retries', async () => {
    let rejected = 0;
    let retried = 0;
    steps = [fail(401)];
    await assert.rejects(call(client({}, { onCredentialRejected: () => rejected++ })));
    assert.equal(rejected, 1);
    seen.length = 0;
    steps = [fail(502), ok];
    await call(client({}, { onTransportRetry: () => retried++ }));
    assert.equal(retried, 1);
  });

  it('signs every attempt over the request as sent, and sends a raw body as given', async () => {
    steps = [fail(500), ok];
    const signed: string[] = [];
    let n = 0;
    const signing = client(
      {},
      {
        signRequest: async (request) => {
          signed.push(`${request.method} ${request.url.pathname} ${request.body}`);
          return { authorization: `Signed ${++n}` };
        },
      },
    );
    await call(signing, { body: undefined, rawBody: '{"raw":  true}' });
    assert.deepEqual(signed, ['POST /v1/chat/completions {"raw":  true}', 'POST /v1/chat/completions {"raw":  true}']);
    assert.deepEqual(
      seen.map((request) => request.headers.authorization),
      ['Signed 1', 'Signed 2'],
    );
    assert.equal(seen[1].body, '{"raw":  true}');
  });

  it("keeps the base URL's query (an api-version) on every request", async () => {
    steps = [ok];
    await call(client({}, {}, `${upstream.origin}/openai/deployments/d?api-version=2024-10-21`));
    await call(client({}, {}, `${upstream.origin}/openai?api-version=2024-10-21`), { path: '/x?y=1' });
    assert.deepEqual(
      seen.map((request) => request.url),
      ['/openai/deployments/d/chat/completions?api-version=2024-10-21', '/openai/x?y=1&api-version=2024-10-21'],
    );
  });
});
