/**
 * Spans of API requests, exported in memory: the span tree (server → cache lookup, route → upstream attempts),
 * GenAI attributes, W3C trace context from the client and to the upstream, and no message text unless enabled.
 * Tracing is process-wide, so this file runs on its own (node:test runs each file in its own process).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing, stopTracing, tracingEnabled } from '../../src/instrumentation.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const CLIENT_TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN_ID = 'b7ad6b7169203331';
const PROMPT = 'tell nobody about the blue giraffe';

describe('tracing (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  const sim = new OpenAiSimulator();
  const downSim = new OpenAiSimulator({ name: 'down' });
  let gateway: RunningGateway;
  let contentGateway: RunningGateway;

  before(async () => {
    assert.equal(tracingEnabled(), false, 'off until started');
    assert.equal(await startTracing({ exporter }), true);
    const document = (recordContent: boolean, simUrl: string, downUrl: string) => ({
      observability: { tracing: { recordContent } },
      providers: [
        { name: 'sim', type: 'openai', baseUrl: simUrl, retry: { retries: 0 } },
        { name: 'down', type: 'openai', baseUrl: downUrl, retry: { retries: 0 } },
      ],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] },
        { name: 'primary', deployments: [{ provider: 'down', model: 'down-model' }], fallbacks: ['gpt-test'] },
      ],
      cache: { enabled: true },
    });
    const simUrl = await sim.start();
    const downUrl = await downSim.start();
    gateway = await startGateway(document(false, simUrl, downUrl));
    contentGateway = await startGateway(document(true, simUrl, downUrl));
  });
  after(async () => {
    await gateway.close();
    await contentGateway.close();
    await sim.stop();
    await downSim.stop();
    await stopTracing();
  });

  /** The finished spans of one trace, once its server span has ended (it ends when the response is over). */
  async function traceOf(traceId: string): Promise<ReadableSpan[]> {
    for (let i = 0; i < 200; i++) {
      const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
      if (spans.some((span) => span.kind === SpanKind.SERVER)) return spans;
      await sleep(10);
    }
    throw new Error(`no server span for trace ${traceId}`);
  }

  const childrenOf = (spans: ReadableSpan[], parent: ReadableSpan) =>
    spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);

  function assertNoPrompt(spans: ReadableSpan[]): void {
    for (const span of spans) {
      const recorded = JSON.stringify([span.name, span.attributes, span.events]);
      assert.ok(!recorded.includes('giraffe'), `span ${span.name} records message text`);
    }
  }

  it('continues the client trace: server span → cache lookup and route → one span per upstream attempt', async () => {
    const traceparent = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;
    downSim.enqueueFault({ status: 500 });
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'primary', temperature: 0, messages: [{ role: 'user', content: PROMPT }] },
      { traceparent },
    );
    assert.equal(response.status, 200);
    await response.text();

    const spans = await traceOf(CLIENT_TRACE_ID);
    const server = spans.find((span) => span.kind === SpanKind.SERVER)!;
    assert.equal(server.name, 'POST /v1/chat/completions');
    assert.equal(server.parentSpanContext?.spanId, CLIENT_SPAN_ID);
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(server.attributes['gen_ai.request.model'], 'primary');
    assert.equal(server.attributes['gen_ai.provider.name'], 'openai');
    assert.equal(server.attributes['gen_ai.response.model'], 'sim-model');
    assert.deepEqual(server.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assert.ok((server.attributes['gen_ai.usage.input_tokens'] as number) > 0);
    assert.ok((server.attributes['gen_ai.usage.output_tokens'] as number) > 0);
    assert.equal(server.attributes['gateway.served_model'], 'gpt-test');
    assert.equal(server.attributes['gateway.attempts'], 2);

    const children = childrenOf(spans, server);
    assert.deepEqual(children.map((span) => span.name).sort(), ['cache.lookup', 'route primary']);
    const lookup = children.find((span) => span.name === 'cache.lookup')!;
    assert.equal(lookup.attributes['gateway.cache.result'], 'miss');

    const route = children.find((span) => span.name === 'route primary')!;
    const attempts = childrenOf(spans, route).sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    assert.deepEqual(
      attempts.map((span) => span.name),
      ['chat down-model', 'chat sim-model'],
    );
    const [failed, served] = attempts;
    for (const attempt of attempts) {
      assert.equal(attempt.kind, SpanKind.CLIENT);
      assert.equal(attempt.attributes['gen_ai.operation.name'], 'chat');
      assert.equal(attempt.attributes['gen_ai.provider.name'], 'openai');
    }
    assert.equal(failed.attributes['gen_ai.request.model'], 'down-model');
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.attributes['error.type'], 'upstream_error');
    assert.equal(failed.attributes['gateway.error.origin'], 'upstream');
    assert.equal(served.attributes['gen_ai.request.model'], 'sim-model');
    assert.equal(served.attributes['gen_ai.response.model'], 'sim-model');
    assert.equal(served.attributes['gen_ai.usage.input_tokens'], server.attributes['gen_ai.usage.input_tokens']);
    assert.equal(served.attributes['gateway.deployment'], 'sim/sim-model');

    // Each upstream request carried its attempt's span as parent.
    assert.equal(
      downSim.requests.at(-1)?.headers.traceparent,
      `00-${CLIENT_TRACE_ID}-${failed.spanContext().spanId}-01`,
    );
    assert.equal(sim.requests.at(-1)?.headers.traceparent, `00-${CLIENT_TRACE_ID}-${served.spanContext().spanId}-01`);
    assertNoPrompt(spans);
  });

  it('starts a new trace without traceparent; a stream attempt lasts until the stream ends', async () => {
    exporter.reset();
    const response = await postJson(`${gateway.url}/v1/chat/completions`, {
      model: 'gpt-test',
      stream: true,
      messages: [{ role: 'user', content: PROMPT }],
    });
    assert.equal(response.status, 200);
    await response.text();
    await sleep(20);
    const server = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER);
    assert.ok(server, 'server span');
    assert.equal(server.parentSpanContext, undefined);
    const spans = await traceOf(server.spanContext().traceId);
    const attempt = spans.find((span) => span.kind === SpanKind.CLIENT)!;
    assert.equal(attempt.name, 'chat sim-model');
    assert.ok((attempt.attributes['gen_ai.usage.output_tokens'] as number) > 0);
    assert.deepEqual(attempt.attributes['gen_ai.response.finish_reasons'], ['stop']);
    assert.ok(durationMs(attempt) <= durationMs(server));
    assert.ok(!spans.some((span) => span.name === 'cache.lookup'), 'not cacheable: no lookup');
    assertNoPrompt(spans);
  });

  it('records message text only with observability.tracing.recordContent', async () => {
    exporter.reset();
    const response = await postJson(`${contentGateway.url}/v1/chat/completions`, {
      model: 'gpt-test',
      messages: [{ role: 'user', content: PROMPT }],
    });
    assert.equal(response.status, 200);
    await response.text();
    await sleep(20);
    const server = exporter.getFinishedSpans().find((span) => span.kind === SpanKind.SERVER)!;
    assert.match(String(server.attributes['gen_ai.input.messages']), /blue giraffe/);
    assert.match(
      String(server.attributes['gen_ai.output.messages']),
      /blue giraffe/,
      'the simulator echoes the prompt',
    );
  });
});

function durationMs(span: ReadableSpan): number {
  return span.duration[0] * 1_000 + span.duration[1] / 1e6;
}
