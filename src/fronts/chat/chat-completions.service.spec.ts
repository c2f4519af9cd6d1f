/**
 * ChatCompletionsService with real collaborators and no Redis or HTTP: RouterService over scripted providers, an
 * L1-only TieredCache, the RateLimiter over a MemoryBucketStore, BudgetService and UsageService in memory. Covers the
 * response cache (hit, miss, bypass, Cache-Control, streams stored and replayed), coalescing of identical misses, the
 * hidden usage chunk, token reconciliation with the rate limiter, and budgets. Clocks are fixed: buckets never refill.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayKey } from '../../auth/gateway-key.js';
import { BudgetService } from '../../auth/budget.service.js';
import { TieredCache } from '../../cache/tiered-cache.js';
import { ClientClosedError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../../common/openai.types.js';
import { upstreamErrors } from '../../providers/provider-errors.js';
import { MemoryBucketStore } from '../../rate-limit/memory-token-bucket.js';
import { RateLimiter } from '../../rate-limit/rate-limiter.service.js';
import { UsageService } from '../../usage/usage.service.js';
import { GatewayPipeline } from '../../pipeline/gateway-pipeline.js';
import { ChatCompletionsService, type GatewayCall } from './chat-completions.service.js';
import {
  chunkOf,
  collect,
  completionOf,
  gate,
  type ScriptedProvider,
  textOf,
  textSteps,
  usageOf,
} from '../../../test/support/scripted-provider.js';
import { callContext, type ScriptedRouting, scriptedRouting } from '../../../test/support/scripted-routing.js';

const TOKENS_PER_MINUTE = 10_000;
/** What a request below reserves: max_tokens 100 plus 400 body bytes / 4. */
const RESERVED = 200;

interface Pipeline {
  service: ChatCompletionsService;
  routing: ScriptedRouting;
  upstream: ScriptedProvider;
  budgets: BudgetService;
  usage: UsageService;
  /** Tokens left in the key's tokens-per-minute bucket (the clock stands still: nothing refills). */
  tokensLeft: (key: GatewayKey) => number;
}

/** One model `m` on provider `a`, priced at $1 / $2 per million tokens, with the cache and token limits on. */
async function pipeline(): Promise<Pipeline> {
  const routing = await scriptedRouting({
    models: [
      {
        name: 'm',
        deployments: [{ provider: 'a', model: 'upstream-m' }],
        pricing: { inputPerMillion: 1, outputPerMillion: 2 },
      },
    ],
    cache: { enabled: true, mode: 'deterministic' },
    rateLimit: { enabled: true, defaultPerKey: { tokensPerMinute: TOKENS_PER_MINUTE } },
  });
  const { config, metrics } = routing;
  const now = () => Date.UTC(2025, 0, 15, 12);
  const limiter = new RateLimiter(config.rateLimit, new MemoryBucketStore({ now }));
  const budgets = new BudgetService(config, now, metrics);
  const usage = new UsageService(config, metrics);
  const quiet = { log: () => undefined, warn: () => undefined };
  const cache = TieredCache.fromConfig(config.cache, quiet);
  const service = new ChatCompletionsService(
    new GatewayPipeline(routing.router, budgets, limiter, config.rateLimit, cache, config.cache, usage, metrics),
  );
  const tokensLeft = (key: GatewayKey) =>
    limiter.checkNow({ keyId: key.id, model: 'm', reservedTokens: 0, limits: key.limits })!.tokens!.remaining;
  return { service, routing, upstream: routing.provider('a'), budgets, usage, tokensLeft };
}

function keyNamed(id: string, budget?: GatewayKey['budget']): GatewayKey {
  return { id, models: undefined, limits: undefined, budget, admin: false };
}

const alice = keyNamed('alice', { tokensPerDay: 1_000_000 });
const bob = keyNamed('bob');

function call(key: GatewayKey = alice, cacheControl?: string): GatewayCall {
  return { key, context: callContext(), cacheControl, bodyBytes: 400 };
}

/** A request that asks for a repeatable answer (temperature 0), so the default cache mode stores it. */
function deterministic(content = 'What is 2 + 2?', extra: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'm', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 100, ...extra };
}

/** A request the default cache mode does not store (no temperature 0, no seed). */
function creative(content = 'Write a poem.'): ChatCompletionRequest {
  return { model: 'm', messages: [{ role: 'user', content }], max_tokens: 100 };
}

function streamed(request: ChatCompletionRequest, includeUsage?: boolean): ChatCompletionRequest {
  return includeUsage === undefined
    ? { ...request, stream: true }
    : { ...request, stream: true, stream_options: { include_usage: includeUsage } };
}

/** Lets fire-and-forget work (the cache write after an answer, reconciliation) finish. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isUsageOnly(chunk: ChatCompletionChunk): boolean {
  return chunk.choices.length === 0 && chunk.usage != null;
}

describe('ChatCompletionsService: the response cache', () => {
  it('answers a repeated deterministic request from the cache: one upstream call, and the hit costs nothing', async () => {
    const { service, upstream, routing } = await pipeline();
    const first = await service.complete(deterministic(), call());
    assert.equal(first.headers['x-gateway-cache'], 'miss');
    assert.equal(first.headers['x-gateway-cost'], '0.00002');
    await settle();

    const second = await service.complete(deterministic(), call());
    assert.equal(second.headers['x-gateway-cache'], 'hit');
    assert.equal(second.headers['x-gateway-cost'], '0');
    assert.equal(JSON.stringify(second.completion), JSON.stringify(first.completion));
    assert.equal(upstream.callCount, 1);
    assert.equal(routing.metrics.cacheLookups.hit.value, 1);
    assert.equal(routing.metrics.cacheLookups.miss.value, 1);
  });

  it('bypasses the cache for a request that does not ask for a repeatable answer', async () => {
    const { service, upstream } = await pipeline();
    for (let i = 0; i < 2; i++) {
      const { headers } = await service.complete(creative(), call());
      assert.equal(headers['x-gateway-cache'], 'bypass');
      await settle();
    }
    assert.equal(upstream.callCount, 2);
  });

  it('neither reads nor writes the cache for Cache-Control: no-store', async () => {
    const { service, upstream } = await pipeline();
    await service.complete(deterministic(), call());
    await settle();
    const unread = await service.complete(deterministic(), call(alice, 'no-store'));
    assert.equal(unread.headers['x-gateway-cache'], 'bypass');
    assert.equal(upstream.callCount, 2, 'the stored answer was not read');

    await service.complete(deterministic('Something new'), call(alice, 'private, no-store'));
    await settle();
    const after = await service.complete(deterministic('Something new'), call());
    assert.equal(after.headers['x-gateway-cache'], 'miss', 'the no-store answer was not written');
    assert.equal(upstream.callCount, 4);
  });

  it('skips the lookup for Cache-Control: no-cache but stores the fresh answer', async () => {
    const { service, upstream } = await pipeline();
    await service.complete(deterministic(), call());
    await settle();
    const fresh = await service.complete(deterministic(), call(alice, 'no-cache'));
    assert.equal(fresh.headers['x-gateway-cache'], 'miss');
    assert.equal(fresh.completion.choices[0].message.content, 'a answer 2');
    await settle();

    const hit = await service.complete(deterministic(), call());
    assert.equal(hit.headers['x-gateway-cache'], 'hit');
    assert.equal(hit.completion.choices[0].message.content, 'a answer 2', 'the refreshed entry');
    assert.equal(upstream.callCount, 2);
  });

  it('stores only finished completions', async () => {
    const { service, upstream } = await pipeline();
    upstream.onChat({ answer: completionOf('cut short', { finishReason: null }) });
    await service.complete(deterministic(), call());
    await settle();
    const again = await service.complete(deterministic(), call());
    assert.equal(again.headers['x-gateway-cache'], 'miss');
    assert.equal(upstream.callCount, 2);
  });

  it('keeps entries per gateway key', async () => {
    const { service, upstream } = await pipeline();
    await service.complete(deterministic(), call(alice));
    await settle();
    const other = await service.complete(deterministic(), call(bob));
    assert.equal(other.headers['x-gateway-cache'], 'miss');
    assert.equal(upstream.callCount, 2);
  });

  it('stores a completed stream and replays it: as chunks to a stream, whole to a non-stream request', async () => {
    const { service, upstream } = await pipeline();
    upstream.onStream({ steps: textSteps(['Four', '.'], usageOf(12, 3)) });
    const first = await service.stream(streamed(deterministic()), call());
    assert.equal(first.headers['x-gateway-cache'], 'miss');
    assert.equal(textOf(await collect(first.chunks)), 'Four.');
    await settle();

    const replay = await service.stream(streamed(deterministic(), true), call());
    assert.equal(replay.headers['x-gateway-cache'], 'hit');
    const chunks = await collect(replay.chunks);
    assert.equal(textOf(chunks), 'Four.');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.equal(chunks.at(-2)?.choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.usage, usageOf(12, 3), 'the usage chunk, since this client asked for it');

    const whole = await service.complete(deterministic(), call());
    assert.equal(whole.headers['x-gateway-cache'], 'hit');
    assert.equal(whole.completion.choices[0].message.content, 'Four.');
    assert.equal(whole.completion.choices[0].finish_reason, 'stop');
    assert.equal(upstream.callCount, 1);
  });

  it('does not store a stream its consumer abandoned, nor one that failed', async () => {
    const { service, upstream } = await pipeline();
    upstream.onStream({ steps: [...textSteps(['Fo']).slice(0, 2), { hang: true, chunk: chunkOf({ content: 'ur' }) }] });
    const abandoned = await service.stream(streamed(deterministic()), call());
    const iterator = abandoned.chunks[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    await iterator.return?.();
    await settle();

    upstream.onStream({ steps: [...textSteps(['Fo']).slice(0, 2), { fail: upstreamErrors.streamInterrupted('a') }] });
    const failed = await service.stream(streamed(deterministic()), call());
    assert.equal(failed.headers['x-gateway-cache'], 'miss');
    await assert.rejects(collect(failed.chunks), { code: 'upstream_stream_interrupted' });
    await settle();

    const third = await service.stream(streamed(deterministic()), call());
    assert.equal(third.headers['x-gateway-cache'], 'miss');
    await collect(third.chunks);
    assert.equal(upstream.callCount, 3);
  });
});

describe('ChatCompletionsService: coalescing identical misses', () => {
  it('makes one upstream call for identical concurrent misses, and every caller gets the answer', async () => {
    const { service, upstream } = await pipeline();
    const release = gate();
    const answer = completionOf('shared');
    upstream.onChat({ after: release.opened, answer });

    const results = Promise.all([1, 2, 3].map(() => service.complete(deterministic(), call())));
    await settle();
    assert.equal(upstream.callCount, 1);
    release.open();
    for (const { completion, headers } of await results) {
      assert.equal(completion.choices[0].message.content, 'shared');
      assert.equal(headers['x-gateway-cache'], 'miss');
    }
    assert.equal(upstream.callCount, 1);
  });

  it('does not coalesce requests that differ', async () => {
    const { service, upstream } = await pipeline();
    const release = gate();
    upstream.onEveryChat({ after: release.opened, answer: completionOf('one of two') });
    const results = Promise.all([
      service.complete(deterministic('A'), call()),
      service.complete(deterministic('B'), call()),
    ]);
    await settle();
    assert.equal(upstream.callCount, 2);
    release.open();
    await results;
  });

  it('gives every coalesced caller the failure of the shared call', async () => {
    const { service, upstream } = await pipeline();
    const release = gate();
    const failure = upstreamErrors.serverError('a', 'down');
    upstream.onChat({ after: release.opened, fail: failure });
    const results = [1, 2, 3].map(() => service.complete(deterministic(), call()));
    await settle();
    release.open();
    for (const result of results) await assert.rejects(result, (error) => error === failure);
    assert.equal(upstream.callCount, 1);
  });

  it('still answers the other callers when the client of the call they share leaves', async () => {
    const { service, upstream } = await pipeline();
    const release = gate();
    upstream.onChat({ after: release.opened, answer: completionOf('for those still here') });
    const leaving = call();
    const first = service.complete(deterministic(), leaving);
    const others = [1, 2].map(() => service.complete(deterministic(), call()));
    await settle();
    leaving.context.cancellation.cancel(new Error('socket closed'));
    release.open();

    await assert.rejects(first, ClientClosedError);
    for (const other of others) {
      const { completion } = await other;
      assert.equal(completion.choices[0].message.content, 'for those still here');
    }
  });
});

describe('ChatCompletionsService: the usage chunk', () => {
  it('asks upstream for usage, hides the usage chunk from a client that did not ask, and still accounts it', async () => {
    const { service, upstream, usage, budgets, tokensLeft } = await pipeline();
    upstream.onStream({ steps: textSteps(['Four'], usageOf(12, 3)) });
    const { chunks } = await service.stream(streamed(creative()), call());
    const received = await collect(chunks);

    assert.equal(upstream.calls[0].request.stream_options?.include_usage, true);
    assert.equal(textOf(received), 'Four');
    assert.equal(received.filter(isUsageOnly).length, 0);
    assert.equal(received.at(-1)?.choices[0].finish_reason, 'stop');
    await settle();
    const totals = await usage.forKey('alice');
    assert.equal(totals?.promptTokens, 12);
    assert.equal(totals?.completionTokens, 3);
    assert.equal((await budgets.usage('alice')).day, 15);
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - 15);
  });

  it('passes the usage chunk on to a client that asked for it', async () => {
    const { service, upstream } = await pipeline();
    upstream.onStream({ steps: textSteps(['Four'], usageOf(12, 3)) });
    const { chunks } = await service.stream(streamed(creative(), true), call());
    const received = await collect(chunks);
    assert.equal(received.filter(isUsageOnly).length, 1);
    assert.deepEqual(received.at(-1)?.usage, usageOf(12, 3));
  });
});

describe('ChatCompletionsService: token reconciliation', () => {
  it('reserves max_tokens plus a prompt estimate up front, then gives back what the answer did not use', async () => {
    const { service, upstream, tokensLeft } = await pipeline();
    const release = gate();
    upstream.onChat({ after: release.opened, answer: completionOf('short', { usage: usageOf(10, 5) }) });
    const answered = service.complete(creative(), call());
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - RESERVED, 'reserved while the request is in flight');
    release.open();
    const { headers } = await answered;
    assert.equal(headers['x-ratelimit-remaining-tokens'], String(TOKENS_PER_MINUTE - RESERVED));
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - 15);
  });

  it('takes the overrun when the answer used more than was reserved', async () => {
    const { service, upstream, tokensLeft } = await pipeline();
    upstream.onChat({ answer: completionOf('long', { usage: usageOf(300, 500) }) });
    await service.complete(creative(), call());
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - 800);
  });

  it('reconciles a stream with the usage it reported once it ends', async () => {
    const { service, upstream, tokensLeft } = await pipeline();
    upstream.onStream({ steps: textSteps(['Four'], usageOf(12, 3)) });
    const { chunks } = await service.stream(streamed(creative()), call());
    const iterator = chunks[Symbol.asyncIterator]();
    await iterator.next();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - RESERVED, 'still reserved mid-stream');
    while (!(await iterator.next()).done);
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - 15);
  });

  it('charges an abandoned stream what it produced, estimated when no usage came', async () => {
    const { service, upstream, tokensLeft, usage, budgets } = await pipeline();
    // 400 body bytes ≈ 100 prompt tokens; 8 characters of output ≈ 2 completion tokens.
    upstream.onStream({
      steps: [...textSteps(['abcdefgh']).slice(0, 2), { hang: true, chunk: chunkOf({ content: 'more' }) }],
    });
    const { chunks } = await service.stream(streamed(creative()), call());
    const iterator = chunks[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    await iterator.return?.();
    await settle();

    assert.equal(upstream.calls[0].context.cancellation.aborted, true, 'the upstream was cancelled');
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE - 102);
    assert.equal((await budgets.usage('alice')).day, 102);
    const totals = await usage.forKey('alice');
    assert.equal(totals?.promptTokens, 100);
    assert.equal(totals?.completionTokens, 2);
  });

  it('gives the whole reservation back for a cache hit', async () => {
    const { service, tokensLeft } = await pipeline();
    await service.complete(deterministic(), call());
    await settle();
    const used = tokensLeft(alice);
    const hit = await service.complete(deterministic(), call());
    assert.equal(hit.headers['x-gateway-cache'], 'hit');
    await settle();
    assert.equal(tokensLeft(alice), used);
  });

  it('gives the reservation back when a completion fails without an answer', async () => {
    const { service, upstream, tokensLeft } = await pipeline();
    upstream.onChat({ fail: upstreamErrors.serverError('a', 'down') });
    await assert.rejects(service.complete(creative(), call()), { code: 'upstream_error' });
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE, 'a failed completion used no tokens');
  });

  it('gives the reservation back when a stream fails before it started', async () => {
    const { service, upstream, tokensLeft } = await pipeline();
    upstream.onStream({ fail: upstreamErrors.serverError('a', 'down') });
    await assert.rejects(service.stream(streamed(creative()), call()), { code: 'upstream_error' });
    await settle();
    assert.equal(tokensLeft(alice), TOKENS_PER_MINUTE, 'a stream that never started used no tokens');
  });
});

describe('ChatCompletionsService: budgets', () => {
  it("charges the key's budget per answer, streams included, and refuses a key over budget before any upstream call", async () => {
    const { service, upstream, budgets, routing } = await pipeline();
    const small = keyNamed('carol', { tokensPerDay: 1_000 });
    upstream.onChat({ answer: completionOf('big', { usage: usageOf(300, 300) }) });
    await service.complete(creative(), call(small));
    await settle();
    assert.equal((await budgets.usage('carol')).day, 600);

    upstream.onStream({ steps: textSteps(['bigger'], usageOf(200, 250)) });
    await collect((await service.stream(streamed(creative()), call(small))).chunks);
    await settle();
    assert.equal((await budgets.usage('carol')).day, 1_050);

    await assert.rejects(service.complete(creative(), call(small)), { status: 429, code: 'insufficient_quota' });
    assert.equal(upstream.callCount, 2);
    assert.equal(routing.metrics.rateLimited.budget.value, 1);
  });

  it('does not charge the budget for a cache hit', async () => {
    const { service, budgets } = await pipeline();
    await service.complete(deterministic(), call());
    await settle();
    const charged = (await budgets.usage('alice')).day;
    assert.equal(charged, 15);
    await service.complete(deterministic(), call());
    await settle();
    assert.equal((await budgets.usage('alice')).day, charged);
  });
});
