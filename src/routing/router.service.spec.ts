/**
 * RouterService over scripted providers: the order of attempts, the shared attempt budget, failure classes,
 * circuit breakers (on a clock the test moves), the request deadline, the client leaving, and streams (hold-back,
 * invisible fallback before the first output, time-to-first-token and idle timeouts, early stops). Stream timeouts
 * and deadlines run on short real timers.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ClientClosedError, GatewayError, UpstreamError } from '../common/errors/gateway.error.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../common/openai.types.js';
import { ShuttingDownError } from '../lifecycle/traffic.service.js';
import { upstreamErrors } from '../providers/provider-errors.js';
import {
  chunkOf,
  collect,
  completionOf,
  type Cue,
  gate,
  sleep,
  type StreamStep,
  textOf,
  textSteps,
} from '../../test/support/scripted-provider.js';
import { callContext, type ScriptedRouting, scriptedRouting } from '../../test/support/scripted-routing.js';

const built: ScriptedRouting[] = [];

/** A routing whose deployments all must have nothing in flight when the test is over, whatever path it took. */
async function routing(document: Parameters<typeof scriptedRouting>[0]): Promise<ScriptedRouting> {
  const made = await scriptedRouting(document);
  built.push(made);
  return made;
}

afterEach(() => {
  for (const made of built.splice(0)) {
    for (const deployment of made.models.deployments()) {
      assert.equal(deployment.stats.inFlight, 0, `${deployment.id} still has a request in flight`);
    }
  }
});

function chat(model: string): ChatCompletionRequest {
  return { model, messages: [{ role: 'user', content: 'hello' }] };
}

const serverError = (provider: string) => upstreamErrors.serverError(provider, 'boom');

/** Breakers that open after two failures for 10 s (doubling up to 60 s), one probe at a time. */
const breaker = { failureThreshold: 2, windowMs: 60_000, openMs: 10_000, maxOpenMs: 60_000, halfOpenProbes: 1 };

/** Two deployments, `a/x` then `b/y` in selection order (the random source is 0). */
function pair(extra: Record<string, unknown> = {}) {
  return routing({
    routing: { breaker },
    models: [
      {
        name: 'm',
        deployments: [
          { provider: 'a', model: 'x' },
          { provider: 'b', model: 'y' },
        ],
        ...extra,
      },
    ],
  });
}

/** Reads a stream to its end, keeping what arrived before a failure. */
async function drain(chunks: AsyncIterable<ChatCompletionChunk>) {
  const received: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of chunks) received.push(chunk);
    return { received, error: undefined };
  } catch (error) {
    return { received, error };
  }
}

function assertGatewayError(error: unknown, expected: { status: number; code: string }): void {
  assert.ok(error instanceof GatewayError, `expected a GatewayError, got ${String(error)}`);
  assert.equal(error.status, expected.status);
  assert.equal(error.code, expected.code);
}

/** Errors counted for a provider in llm_upstream_errors_total, all classes and origins. */
function countedErrors(made: ScriptedRouting, provider: string): number {
  const errors = made.metrics.provider(provider)!.errors;
  let total = 0;
  for (const byOrigin of Object.values(errors)) total += byOrigin.upstream.value + byOrigin.gateway.value;
  return total;
}

describe('RouterService: order of attempts', () => {
  it('tries each deployment of a group once, then the fallbacks breadth-first, never a group twice', async () => {
    // The fallback lists form loops (left -> primary, right -> left, deep -> right); none is followed twice.
    const made = await routing({
      models: [
        {
          name: 'primary',
          maxAttempts: 20,
          deployments: [
            { provider: 'a', model: 'a1' },
            { provider: 'b', model: 'b1' },
          ],
          fallbacks: ['left', 'right'],
        },
        { name: 'left', deployments: [{ provider: 'c', model: 'c1' }], fallbacks: ['deep', 'primary'] },
        { name: 'right', deployments: [{ provider: 'd', model: 'd1' }], fallbacks: ['left', 'primary'] },
        { name: 'deep', deployments: [{ provider: 'e', model: 'e1' }], fallbacks: ['right', 'left', 'primary'] },
      ],
    });
    for (const provider of made.providers.values()) provider.onEveryChat({ fail: serverError(provider.name) });
    const last = upstreamErrors.serverError('e', 'the last one');
    made.provider('e').onChat({ fail: last });

    await assert.rejects(made.router.complete(chat('primary'), callContext()), (error) => error === last);
    assert.deepEqual(made.journal, ['a/a1', 'b/b1', 'c/c1', 'd/d1', 'e/e1']);
  });

  it('reports which group, deployment and provider served after a fallback, under the upstream model name', async () => {
    const made = await routing({
      models: [
        { name: 'primary', deployments: [{ provider: 'a', model: 'upstream-a' }], fallbacks: ['backup'] },
        { name: 'backup', deployments: [{ provider: 'b', model: 'upstream-b' }] },
      ],
    });
    made.provider('a').onChat({ fail: serverError('a') });
    const answer = completionOf('from b');
    made.provider('b').onChat({ answer });

    const { completion, route } = await made.router.complete(chat('primary'), callContext());
    assert.equal(completion, answer);
    assert.deepEqual(route, { model: 'backup', deployment: 'b/upstream-b', provider: 'b', attempts: 2 });
    assert.equal(made.provider('a').calls[0].request.model, 'upstream-a');
    assert.equal(made.provider('b').calls[0].request.model, 'upstream-b');
  });

  it('never sends a request to a deployment of weight 0', async () => {
    const made = await routing({
      models: [
        {
          name: 'm',
          deployments: [
            { provider: 'a', model: 'x', weight: 0 },
            { provider: 'b', model: 'y' },
          ],
        },
      ],
    });
    made.provider('b').onEveryChat({ fail: serverError('b') });
    await assert.rejects(made.router.complete(chat('m'), callContext()), { code: 'upstream_error' });
    assert.deepEqual(made.journal, ['b/y']);
  });

  it('answers 404 model_not_found for a model that is not configured, calling nothing', async () => {
    const made = await pair();
    await assert.rejects(made.router.complete(chat('nope'), callContext()), { status: 404, code: 'model_not_found' });
    assert.throws(() => made.router.assertModelExists('nope'), { status: 404, code: 'model_not_found' });
    assert.deepEqual(made.journal, []);
  });
});

describe('RouterService: the attempt budget', () => {
  it('stops after maxAttempts across deployments and fallbacks, answering with the last failure', async () => {
    const made = await routing({
      models: [
        {
          name: 'm',
          maxAttempts: 2,
          deployments: [
            { provider: 'a', model: 'x' },
            { provider: 'b', model: 'y' },
          ],
          fallbacks: ['backup'],
        },
        { name: 'backup', deployments: [{ provider: 'c', model: 'z' }] },
      ],
    });
    made.provider('a').onChat({ fail: serverError('a') });
    const second = serverError('b');
    made.provider('b').onChat({ fail: second });

    await assert.rejects(made.router.complete(chat('m'), callContext()), (error) => error === second);
    assert.deepEqual(made.journal, ['a/x', 'b/y']);
  });

  it('gives every attempt the same budget, so transport retries use it up as well', async () => {
    const made = await routing({
      models: [
        {
          name: 'm',
          maxAttempts: 3,
          deployments: [
            { provider: 'a', model: 'x' },
            { provider: 'b', model: 'y' },
            { provider: 'c', model: 'z' },
          ],
        },
      ],
    });
    // a's transport retries once (2 upstream requests), b fails (3): nothing is left for c.
    made.provider('a').onChat({ transportRetries: 1, fail: serverError('a') });
    made.provider('b').onChat({ fail: serverError('b') });

    await assert.rejects(made.router.complete(chat('m'), callContext()), { code: 'upstream_error' });
    assert.deepEqual(made.journal, ['a/x', 'b/y']);
    const budget = made.provider('a').calls[0].context.budget;
    assert.ok(budget);
    assert.equal(budget.max, 3);
    assert.equal(made.provider('b').calls[0].context.budget, budget);
    assert.equal(budget.remaining, 0);
  });

  it('counts transport retries in the attempts of the route that served', async () => {
    const made = await pair({ maxAttempts: 4 });
    made.provider('a').onChat({ transportRetries: 2, answer: completionOf('third time lucky') });
    const { route } = await made.router.complete(chat('m'), callContext());
    assert.equal(route.attempts, 3);
    assert.equal(route.deployment, 'a/x');
  });
});

describe('RouterService: failure classes', () => {
  for (const [name, error] of [
    ['400 invalid_request', upstreamErrors.badRequest('a', 'bad field', 'temperature')],
    ['400 context_length_exceeded', upstreamErrors.contextLengthExceeded('a')],
    ['413 request_too_large', upstreamErrors.requestTooLarge('a')],
  ] as const) {
    it(`returns a caller error (${name}) at once: no other deployment or fallback, nothing counted`, async () => {
      const made = await routing({
        routing: { breaker: { ...breaker, failureThreshold: 1 } },
        models: [
          {
            name: 'm',
            deployments: [
              { provider: 'a', model: 'x' },
              { provider: 'b', model: 'y' },
            ],
            fallbacks: ['backup'],
          },
          { name: 'backup', deployments: [{ provider: 'c', model: 'z' }] },
        ],
      });
      made.provider('a').onChat({ fail: error });
      await assert.rejects(made.router.complete(chat('m'), callContext()), (thrown) => thrown === error);
      assert.deepEqual(made.journal, ['a/x']);
      const a = made.deployment('a/x');
      assert.equal(a.stats.failures, 0);
      assert.equal(a.breaker.state(), 'closed');
    });
  }

  it('answers a gateway fault (a provider that throws a TypeError) with 500 internal_error, tried once', async () => {
    const made = await routing({
      routing: { breaker: { ...breaker, failureThreshold: 1 } },
      models: [
        {
          name: 'm',
          deployments: [
            { provider: 'a', model: 'x' },
            { provider: 'b', model: 'y' },
          ],
        },
      ],
    });
    made.provider('a').onChat({ fail: new TypeError("Cannot read properties of undefined (reading 'choices')") });

    await assert.rejects(made.router.complete(chat('m'), callContext()), (error) => {
      assertGatewayError(error, { status: 500, code: 'internal_error' });
      assert.equal((error as GatewayError).type, 'server_error');
      assert.doesNotMatch((error as GatewayError).message, /choices/, 'the bug is not described to the client');
      return true;
    });
    assert.deepEqual(made.journal, ['a/x']);
    const a = made.deployment('a/x');
    assert.equal(a.stats.failures, 0);
    assert.equal(a.breaker.state(), 'closed');
    assert.equal(made.metrics.provider('a')!.errors.gateway_error.gateway.value, 1);
  });

  for (const [name, error] of [
    ['500 upstream_error', upstreamErrors.serverError('a')],
    ['503 overloaded', upstreamErrors.overloaded('a')],
    ['504 upstream_timeout', upstreamErrors.timeout('a')],
    ['429 rate_limit_exceeded', upstreamErrors.rateLimited('a')],
    ['429 insufficient_quota', upstreamErrors.insufficientQuota('a')],
    ['502 upstream_auth_error', upstreamErrors.authFailed('a')],
    ['502 upstream_invalid_response', upstreamErrors.invalidResponse('a')],
    [
      '502 upstream_connection_error',
      new UpstreamError("Could not reach provider 'a'.", { code: 'upstream_connection_error' }),
    ],
  ] as const) {
    it(`moves on to the next deployment after ${name}, counting it against the one that failed`, async () => {
      const made = await pair();
      made.provider('a').onChat({ fail: error });
      const { route } = await made.router.complete(chat('m'), callContext());
      assert.equal(route.deployment, 'b/y');
      assert.equal(route.attempts, 2);
      assert.equal(made.deployment('a/x').stats.failures, 1);
      assert.equal(made.deployment('b/y').stats.failures, 0);
    });
  }
});

describe('RouterService: circuit breakers', () => {
  it('opens after repeated failures, skips the open deployment, and lets a probe close it after openMs', async () => {
    const made = await pair();
    const a = made.provider('a');
    a.onChat({ fail: serverError('a') }, { fail: serverError('a') });
    for (let i = 0; i < 2; i++) {
      assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    }
    assert.equal(made.deployment('a/x').breaker.state(), 'open');

    made.clock.now += 9_999;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    assert.equal(a.callCount, 2, 'no request reaches an open deployment');

    made.clock.now += 1;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x', 'the probe');
    assert.equal(made.deployment('a/x').breaker.state(), 'closed');
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');
  });

  it('re-opens for twice as long when the probe fails', async () => {
    const made = await pair();
    made.provider('a').onChat({ fail: serverError('a') }, { fail: serverError('a') }, { fail: serverError('a') });
    await made.router.complete(chat('m'), callContext());
    await made.router.complete(chat('m'), callContext());

    made.clock.now += 10_000;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.attempts, 2, 'the probe failed');
    made.clock.now += 19_999;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    made.clock.now += 1;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');
    assert.equal(made.provider('a').callCount, 4);
  });

  it('lets one probe at a time through a half-open breaker; a probe whose client left frees its slot', async () => {
    const made = await pair();
    const a = made.provider('a');
    a.onChat({ fail: serverError('a') }, { fail: serverError('a') }, { hang: true, answer: completionOf('never') });
    await made.router.complete(chat('m'), callContext());
    await made.router.complete(chat('m'), callContext());
    made.clock.now += 10_000;

    const probeContext = callContext();
    const probe = made.router.complete(chat('m'), probeContext);
    assert.equal(a.callCount, 3, 'the probe is on its way');
    const meanwhile = await made.router.complete(chat('m'), callContext());
    assert.equal(meanwhile.route.deployment, 'b/y', 'a second probe is not let through');

    probeContext.cancellation.cancel(new Error('client left'));
    await assert.rejects(probe, ClientClosedError);
    const next = await made.router.complete(chat('m'), callContext());
    assert.equal(next.route.deployment, 'a/x', 'the abandoned probe gave its slot back');
    assert.equal(made.deployment('a/x').breaker.state(), 'closed');
  });

  it("opens the breaker for a 429's retryAfterMs, capped at maxOpenMs", async () => {
    const made = await pair();
    made.provider('a').onChat({ fail: upstreamErrors.rateLimited('a', 'slow down', 7_000) });
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    assert.equal(made.deployment('a/x').breaker.state(), 'open', 'one 429 is enough');
    made.clock.now += 6_999;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    made.clock.now += 1;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');

    made.provider('a').onChat({ fail: upstreamErrors.rateLimited('a', 'come back tomorrow', 86_400_000) });
    await made.router.complete(chat('m'), callContext());
    made.clock.now += 59_999;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'b/y');
    made.clock.now += 1;
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');
  });

  it('tries the least recently failed deployment anyway when every breaker of the group is open', async () => {
    // Groups that share a deployment share its breaker: b fails through `only-b`, a second later through `only-a`.
    const made = await routing({
      routing: { breaker: { ...breaker, failureThreshold: 1 } },
      models: [
        {
          name: 'm',
          deployments: [
            { provider: 'a', model: 'x' },
            { provider: 'b', model: 'y' },
          ],
        },
        { name: 'only-a', deployments: [{ provider: 'a', model: 'x' }] },
        { name: 'only-b', deployments: [{ provider: 'b', model: 'y' }] },
      ],
    });
    made.provider('b').onChat({ fail: serverError('b') });
    await assert.rejects(made.router.complete(chat('only-b'), callContext()), { code: 'upstream_error' });
    made.clock.now += 1_000;
    made.provider('a').onChat({ fail: serverError('a') });
    await assert.rejects(made.router.complete(chat('only-a'), callContext()), { code: 'upstream_error' });
    assert.equal(made.deployment('a/x').breaker.state(), 'open');
    assert.equal(made.deployment('b/y').breaker.state(), 'open');
    made.journal.length = 0;

    const { route } = await made.router.complete(chat('m'), callContext());
    assert.equal(route.deployment, 'b/y');
    assert.deepEqual(made.journal, ['b/y']);
  });
});

describe('RouterService: the request deadline', () => {
  it('cancels the attempt in flight when the group timeout passes: 504, nothing else tried', async () => {
    const made = await pair({ timeoutMs: 50 });
    made.provider('a').onChat({ hang: true, answer: completionOf('never') });
    const started = performance.now();
    await assert.rejects(made.router.complete(chat('m'), callContext()), (error) => {
      assertGatewayError(error, { status: 504, code: 'upstream_timeout' });
      assert.match((error as Error).message, /deadline of 50 ms/);
      return true;
    });
    assert.ok(performance.now() - started < 2_000);
    assert.equal(made.provider('a').calls[0].context.cancellation.aborted, true, 'the upstream call was cancelled');
    assert.deepEqual(made.journal, ['a/x']);
  });

  it('takes a shorter deadline from the client (x-gateway-timeout-ms) and caps a longer one at the group timeout', async () => {
    const made = await pair({ timeoutMs: 60_000 });
    made.provider('a').onEveryChat({ hang: true, answer: completionOf('never') });
    const before = performance.now();
    const routed = made.router.complete(chat('m'), callContext(30));
    const after = performance.now();
    await assert.rejects(routed, /deadline of 30 ms/);
    const deadlineAt = made.provider('a').calls[0].context.deadlineAt;
    assert.ok(deadlineAt !== undefined, 'the provider is told the deadline');
    assert.ok(deadlineAt >= before + 30 && deadlineAt <= after + 30);
    assert.deepEqual(made.journal, ['a/x']);

    const capped = await pair({ timeoutMs: 40 });
    capped.provider('a').onChat({ hang: true, answer: completionOf('never') });
    await assert.rejects(capped.router.complete(chat('m'), callContext(600_000)), /deadline of 40 ms/);
  });

  it('does not count a deadline the client shortened against the deployment', async () => {
    // A caller's own short x-gateway-timeout-ms says nothing about the deployment; it must not open its breaker.
    const made = await pair({ timeoutMs: 60_000 });
    made
      .provider('a')
      .onChat({ hang: true, answer: completionOf('never') }, { hang: true, answer: completionOf('never') });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(made.router.complete(chat('m'), callContext(10)), { code: 'upstream_timeout' });
    }
    assert.equal(made.deployment('a/x').breaker.state(), 'closed');
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');
  });
});

describe('RouterService: the client leaving', () => {
  it('cancels the attempt with ClientClosedError, tries nothing else and counts nothing against the deployment', async () => {
    const made = await routing({
      routing: { breaker: { ...breaker, failureThreshold: 1 } },
      models: [
        {
          name: 'm',
          deployments: [
            { provider: 'a', model: 'x' },
            { provider: 'b', model: 'y' },
          ],
          fallbacks: ['backup'],
        },
        { name: 'backup', deployments: [{ provider: 'c', model: 'z' }] },
      ],
    });
    made.provider('a').onChat({ hang: true, answer: completionOf('never') });
    const context = callContext();
    const routed = made.router.complete(chat('m'), context);
    context.cancellation.cancel(new Error('socket closed'));

    await assert.rejects(routed, ClientClosedError);
    assert.equal(made.provider('a').calls[0].context.cancellation.aborted, true);
    assert.deepEqual(made.journal, ['a/x']);
    const a = made.deployment('a/x');
    assert.equal(a.stats.failures, 0);
    assert.equal(a.breaker.state(), 'closed');
    assert.equal(countedErrors(made, 'a'), 0);
    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x');
  });

  it('answers with the reason itself when the cancellation carries a GatewayError (the drain deadline)', async () => {
    const made = await pair();
    made.provider('a').onChat({ hang: true, answer: completionOf('never') });
    const context = callContext();
    const routed = made.router.complete(chat('m'), context);
    const shuttingDown = new ShuttingDownError();
    context.cancellation.cancel(shuttingDown);
    await assert.rejects(routed, (error) => error === shuttingDown);
    assert.deepEqual(made.journal, ['a/x']);
    assert.equal(made.deployment('a/x').stats.failures, 0);
  });
});

/** Stream settings far from firing unless a test shortens one. */
function streaming(settings: { holdBackMs?: number; ttftTimeoutMs?: number; idleTimeoutMs?: number }) {
  return { stream: { holdBackMs: 5_000, ttftTimeoutMs: 5_000, idleTimeoutMs: 5_000, ...settings } };
}

const role = (): StreamStep => ({ chunk: chunkOf({ role: 'assistant', content: '' }) });
const text = (content: string, cue: Cue = {}): StreamStep => ({
  chunk: chunkOf({ content }),
  ...cue,
});
const finish = (): StreamStep => ({ chunk: chunkOf({}, 'stop') });

/** The next chunk, undefined at the end. */
async function nextChunk(iterator: AsyncIterator<ChatCompletionChunk>): Promise<ChatCompletionChunk | undefined> {
  const next = await iterator.next();
  return next.done ? undefined : next.value;
}

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

describe('RouterService: streams', () => {
  it('holds the stream back until its first output chunk, then hands over every chunk in order', async () => {
    const made = await pair(streaming({ holdBackMs: 5_000 }));
    const output = gate();
    made.provider('a').onStream({ steps: [role(), text('Hel', { after: output.opened }), text('lo'), finish()] });

    const routed = made.router.stream(chat('m'), callContext());
    assert.equal(await settlesWithin(routed, 40), false, 'a role chunk alone does not release the stream');
    output.open();
    const { chunks, route } = await routed;
    assert.equal(route.deployment, 'a/x');
    const received = await collect(chunks);
    assert.deepEqual(received[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.equal(textOf(received), 'Hello');
    assert.equal(received.at(-1)?.choices[0].finish_reason, 'stop');
  });

  it('hands the stream over after holdBackMs without output; the output follows', async () => {
    const made = await pair(streaming({ holdBackMs: 20 }));
    const output = gate();
    made.provider('a').onStream({ steps: [role(), text('late', { after: output.opened }), finish()] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    assert.equal(made.provider('a').calls[0].chunksSent, 1, 'released while the output was still to come');
    const iterator = chunks[Symbol.asyncIterator]();
    assert.deepEqual((await nextChunk(iterator))?.choices[0].delta, { role: 'assistant', content: '' });
    output.open();
    assert.equal((await nextChunk(iterator))?.choices[0].delta.content, 'late');
    assert.equal((await nextChunk(iterator))?.choices[0].finish_reason, 'stop');
    assert.equal((await iterator.next()).done, true);
  });

  it('falls back invisibly when a stream fails before its first output', async () => {
    const made = await pair(streaming({}));
    made.provider('a').onStream({ steps: [role(), { fail: upstreamErrors.streamInterrupted('a') }] });

    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'b/y');
    assert.equal(route.attempts, 2);
    const received = await collect(chunks);
    assert.equal(textOf(received), 'b streamed');
    assert.equal(received.filter((chunk) => chunk.choices[0]?.delta.role === 'assistant').length, 1, "none of a's");
    assert.equal(made.provider('a').calls[0].released, true);
    assert.equal(made.deployment('a/x').stats.failures, 1);
  });

  it('falls back when the upstream refuses the stream before it starts', async () => {
    const made = await pair(streaming({}));
    made.provider('a').onStream({ fail: upstreamErrors.overloaded('a') });
    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'b/y');
    assert.equal(textOf(await collect(chunks)), 'b streamed');
  });

  it('returns a caller error when opening a stream at once, trying nothing else', async () => {
    const made = await pair(streaming({}));
    const refused = upstreamErrors.badRequest('a', 'no such parameter', 'logit_bias');
    made.provider('a').onStream({ fail: refused });
    await assert.rejects(made.router.stream(chat('m'), callContext()), (error) => error === refused);
    assert.deepEqual(made.journal, ['a/x']);
  });

  it('surfaces a failure after the first output from the iterable, without trying anything else', async () => {
    const made = await pair(streaming({}));
    const broken = upstreamErrors.streamInterrupted('a');
    made.provider('a').onStream({ steps: [role(), text('partial'), { fail: broken }] });

    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'a/x');
    const { received, error } = await drain(chunks);
    assert.equal(textOf(received), 'partial');
    assert.equal(error, broken);
    assert.deepEqual(made.journal, ['a/x']);
    assert.equal(made.deployment('a/x').stats.failures, 1);
  });

  it('falls back when the first deployment sends no output within ttftTimeoutMs', async () => {
    const made = await pair(streaming({ ttftTimeoutMs: 40 }));
    made.provider('a').onStream({ steps: [role(), { hang: true, chunk: chunkOf({ content: 'never' }) }] });

    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'b/y');
    assert.equal(textOf(await collect(chunks)), 'b streamed');
    const a = made.provider('a').calls[0];
    assert.equal(a.context.cancellation.aborted, true, 'the silent upstream was cancelled');
    assert.equal(a.released, true);
    assert.equal(made.deployment('a/x').stats.failures, 1);
  });

  it('ends the stream with 504 ttft_timeout when the hold-back had already released it', async () => {
    const made = await pair(streaming({ holdBackMs: 10, ttftTimeoutMs: 150 }));
    made.provider('a').onStream({ steps: [role(), { hang: true, chunk: chunkOf({ content: 'never' }) }] });

    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'a/x');
    const { received, error } = await drain(chunks);
    assert.equal(received.length, 1);
    assertGatewayError(error, { status: 504, code: 'ttft_timeout' });
    assert.deepEqual(made.journal, ['a/x']);
  });

  it('ends a flowing stream with 504 idle_timeout when the upstream goes silent for idleTimeoutMs', async () => {
    const made = await pair(streaming({ idleTimeoutMs: 40 }));
    made.provider('a').onStream({ steps: [role(), text('so far'), { hang: true, chunk: chunkOf({ content: 'x' }) }] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    const { received, error } = await drain(chunks);
    assert.equal(textOf(received), 'so far');
    assertGatewayError(error, { status: 504, code: 'idle_timeout' });
    assert.equal(made.provider('a').calls[0].context.cancellation.aborted, true);
    assert.equal(made.deployment('a/x').stats.failures, 1);
  });

  it('counts only upstream silence as idle: a consumer slower than idleTimeoutMs gets the whole stream', async () => {
    const made = await pair(streaming({ idleTimeoutMs: 30 }));
    made.provider('a').onStream({ steps: textSteps(['one ', 'two ', 'three']) });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    const received: ChatCompletionChunk[] = [];
    for await (const chunk of chunks) {
      received.push(chunk);
      await sleep(60);
    }
    assert.equal(textOf(received), 'one two three');
  });

  it('applies only ttftTimeoutMs before the first output: a reasoning prelude longer than idleTimeoutMs is kept', async () => {
    // Reasoning deltas are not output; the model is never silent for more than 20 ms, and its first output comes
    // well within ttftTimeoutMs. idleTimeoutMs ("longest silence once content flows") has nothing to say yet.
    const made = await pair(streaming({ holdBackMs: 10, ttftTimeoutMs: 2_000, idleTimeoutMs: 60 }));
    const thinking: StreamStep[] = [];
    for (let i = 0; i < 8; i++) thinking.push({ chunk: chunkOf({ reasoning_content: 'hmm ' }), afterMs: 20 });
    made.provider('a').onStream({ steps: [role(), ...thinking, text('answer'), finish()] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    const { received, error } = await drain(chunks);
    assert.equal(error, undefined);
    assert.equal(textOf(received), 'answer');
  });

  it('bounds a flowing stream by the request deadline: 504 upstream_timeout mid-stream', async () => {
    const made = await pair({ timeoutMs: 150, ...streaming({}) });
    made.provider('a').onStream({ steps: [role(), text('so far'), { hang: true, chunk: chunkOf({ content: 'x' }) }] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    const { received, error } = await drain(chunks);
    assert.equal(textOf(received), 'so far');
    assertGatewayError(error, { status: 504, code: 'upstream_timeout' });
    assert.equal(made.provider('a').calls[0].context.cancellation.aborted, true);
  });

  it('cancels the upstream when the consumer stops early, counting nothing against the deployment', async () => {
    const made = await pair(streaming({}));
    made.provider('a').onStream({ steps: [role(), text('one'), text('two', { hang: true }), finish()] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    const iterator = chunks[Symbol.asyncIterator]();
    await iterator.next();
    assert.equal((await nextChunk(iterator))?.choices[0].delta.content, 'one');
    assert.deepEqual(await iterator.return?.(), { value: undefined, done: true });

    const call = made.provider('a').calls[0];
    assert.equal(call.context.cancellation.aborted, true);
    await sleep(0);
    assert.equal(call.released, true, 'the upstream stream was closed');
    const a = made.deployment('a/x');
    assert.equal(a.stats.inFlight, 0);
    assert.equal(a.stats.failures, 0);
    assert.equal(a.breaker.state(), 'closed');
    assert.equal(countedErrors(made, 'a'), 0);
  });

  it('releases the deployment and the upstream when the consumer returns the stream before reading it', async () => {
    const made = await pair(streaming({}));
    made.provider('a').onStream({ steps: [role(), text('one'), text('two', { hang: true }), finish()] });

    const { chunks } = await made.router.stream(chat('m'), callContext());
    await chunks[Symbol.asyncIterator]().return?.();

    assert.equal(made.deployment('a/x').stats.inFlight, 0);
    assert.equal(made.provider('a').calls[0].context.cancellation.aborted, true);
  });

  it('ends the iterable with ClientClosedError when the client leaves mid-stream, counting nothing', async () => {
    const made = await pair(streaming({}));
    made.provider('a').onStream({ steps: [role(), text('one'), text('two', { hang: true }), finish()] });
    const context = callContext();

    const { chunks } = await made.router.stream(chat('m'), context);
    const iterator = chunks[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    const pending = iterator.next();
    context.cancellation.cancel(new Error('socket closed'));
    await assert.rejects(pending, ClientClosedError);
    assert.equal(made.deployment('a/x').stats.failures, 0);
    assert.equal(countedErrors(made, 'a'), 0);
  });

  it('frees the probe slot of a half-open deployment whose stream was abandoned before any output', async () => {
    const made = await pair(streaming({ holdBackMs: 10 }));
    const a = made.provider('a');
    a.onChat({ fail: serverError('a') }, { fail: serverError('a') });
    await made.router.complete(chat('m'), callContext());
    await made.router.complete(chat('m'), callContext());
    made.clock.now += 10_000;

    // The probe: released by the hold-back before its first output, then its client leaves.
    a.onStream({ steps: [role(), text('never', { hang: true })] });
    const { chunks, route } = await made.router.stream(chat('m'), callContext());
    assert.equal(route.deployment, 'a/x');
    const iterator = chunks[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.return?.();

    assert.equal((await made.router.complete(chat('m'), callContext())).route.deployment, 'a/x', 'probed again');
  });
});
