/**
 * Bodies and requests a hostile client sends: JSON nested thousands deep in every place a walk recurses, bytes that
 * are not HTTP, oversized and unbounded values. Each gets a clear 4xx in OpenAI's error shape, and none of them may
 * count against a deployment: after them the breakers are closed and ordinary requests are served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from '../e2e/harness.js';
import { parseRawAnswer, rawExchange } from './raw-http.js';

function nested(depth: number, leaf: unknown = 'x'): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { a: value } : [value];
  return value;
}

/** A JSON schema whose properties nest `levels` objects deep (two JSON levels each). */
function nestedSchema(levels: number): Record<string, unknown> {
  let schema: Record<string, unknown> = { type: 'string' };
  for (let i = 0; i < levels; i++) schema = { type: 'object', properties: { a: schema } };
  return schema;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function assertOpenAiError(body: string, context: string): ErrorBody {
  const parsed = JSON.parse(body) as ErrorBody;
  assert.equal(typeof parsed.error?.message, 'string', context);
  assert.equal(typeof parsed.error?.type, 'string', context);
  assert.ok('param' in parsed.error && 'code' in parsed.error, context);
  return parsed;
}

describe('hostile request bodies', () => {
  const primary = new OpenAiSimulator({ name: 'primary' });
  const backup = new OpenAiSimulator({ name: 'backup' });
  let gateway: RunningGateway;

  before(async () => {
    const [primaryUrl, backupUrl] = await Promise.all([primary.start(), backup.start()]);
    gateway = await startGateway({
      providers: [
        { name: 'primary', type: 'openai', baseUrl: primaryUrl, retry: { retries: 0 } },
        { name: 'backup', type: 'openai', baseUrl: backupUrl, retry: { retries: 0 } },
      ],
      models: [
        { name: 'gpt-test', deployments: [{ provider: 'primary', model: 'm' }], fallbacks: ['gpt-backup'] },
        { name: 'gpt-backup', deployments: [{ provider: 'backup', model: 'm' }] },
      ],
      routing: { breaker: { failureThreshold: 2 } },
      cache: { enabled: true, mode: 'all' },
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([primary.stop(), backup.stop()]);
  });

  const chat = (body: unknown) => postJson(`${gateway.url}/v1/chat/completions`, body);
  const message = [{ role: 'user', content: 'hello' }];

  it('refuses JSON nested deeper than the limit, wherever it is, with 400 json_too_deep naming the limit', async () => {
    const deep = nested(3_000);
    const bodies = [
      { model: 'gpt-test', messages: [{ role: 'user', content: deep }] },
      { model: 'gpt-test', messages: message, unknown_field: deep },
      {
        model: 'gpt-test',
        messages: message,
        tools: [{ type: 'function', function: { name: 'f', parameters: deep } }],
      },
      {
        model: 'gpt-test',
        messages: message,
        response_format: { type: 'json_schema', json_schema: { name: 's', schema: deep } },
      },
      { model: 'gpt-test', input: deep },
    ];
    for (let round = 0; round < 3; round++) {
      for (const body of bodies) {
        const response = await chat(body);
        assert.equal(response.status, 400);
        const error = assertOpenAiError(await response.text(), 'deep body');
        assert.equal(error.error.code, 'json_too_deep');
        assert.match(error.error.message, /64 levels/);
      }
    }
    assert.equal(primary.received + backup.received, 0, 'none reached a provider');
    const routing = (await (await fetch(`${gateway.url}/admin/routing`)).json()) as {
      models: { deployments: { breaker: { state: string } }[] }[];
    };
    for (const model of routing.models) for (const d of model.deployments) assert.equal(d.breaker.state, 'closed');
    const ordinary = await chat({ model: 'gpt-test', messages: message });
    assert.equal(ordinary.status, 200);
  });

  it('serves bodies nested up to the limit: the cache key, validation and routing walk them safely', async () => {
    const response = await chat({
      model: 'gpt-test',
      messages: message,
      tools: [{ type: 'function', function: { name: 'f', parameters: nestedSchema(28) } }],
    });
    assert.equal(response.status, 200, await response.clone().text());
  });

  it('clips echoed values and refuses integers it cannot forward exactly', async () => {
    const huge = await chat({ model: 'm'.repeat(1_000_000), messages: message });
    assert.equal(huge.status, 404);
    assert.ok((await huge.text()).length < 1_000, 'a 1 MB model name gives a short error');
    // Written as JSON text: the integers are what the client sent, not what a double makes of them.
    for (const [field, value] of [
      ['seed', '12345678901234567890'],
      ['max_tokens', '1152921504606846976'],
    ] as const) {
      const body = `{"model":"gpt-test","messages":${JSON.stringify(message)},"${field}":${value}}`;
      const response = await postJson(`${gateway.url}/v1/chat/completions`, body);
      assert.equal(response.status, 400, field);
      assert.equal(assertOpenAiError(await response.text(), field).error.param, field);
    }
    const dimensions = await postJson(
      `${gateway.url}/v1/embeddings`,
      '{"model":"gpt-test","input":"x","dimensions":12345678901234567890}',
    );
    assert.equal(dimensions.status, 400);
    for (const [field, value] of [
      ['tool_call_id', 'call_1'],
      ['function_call', { name: 'f', arguments: '{}' }],
      ['tool_calls', [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }]],
    ] as const) {
      const response = await chat({ model: 'gpt-test', messages: [{ role: 'user', content: 'x', [field]: value }] });
      assert.equal(response.status, 400, field);
      assert.equal(assertOpenAiError(await response.text(), field).error.param, `messages[0].${field}`);
    }
  });

  it('answers every malformed request in the OpenAI error shape (fuzzed bytes)', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'BREW', '');
    const path = fc.constantFrom('/v1/chat/completions', '/v1/models', '/admin/usage', '/', '/%zz', '/v1/\u0000', '*');
    const contentType = fc.constantFrom('application/json', 'text/plain', 'multipart/form-data; boundary=x', '');
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 4 }),
      fc.constant('{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]'),
    );
    const extraHeader = fc.constantFrom(
      '',
      'X-Bad-Header\r\n',
      `X-Big: ${'a'.repeat(20_000)}\r\n`,
      'Transfer-Encoding: chunked\r\n',
    );
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        contentType,
        body,
        extraHeader,
        fc.boolean(),
        async (m, p, type, b, extra, host) => {
          const bytes =
            `${m} ${p} HTTP/1.1\r\n${host ? 'Host: gw\r\n' : ''}${type ? `Content-Type: ${type}\r\n` : ''}` +
            `${extra}Content-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n${b}`;
          const answer = parseRawAnswer(await rawExchange(gateway.url, bytes, 3_000));
          if (answer.status === 0) return; // the socket was closed without an answer (a dropped, unparseable request)
          if (answer.status >= 400) assertOpenAiError(answer.body, `${m} ${p} -> ${answer.status}: ${answer.body}`);
        },
      ),
      { numRuns: 150, seed: 4242 },
    );
  });
});
