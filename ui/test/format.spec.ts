import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { count, daysBetween, listOrNull, ms, numberOrNull, percent, toCsv, usd } from '../src/format.js';
import { parseSse, readEvent, streamRequest } from '../src/stream.js';
import { screenOf } from '../src/router.js';

describe('UI formatting', () => {
  it('formats money, counts, durations and shares', () => {
    assert.equal(usd(0), '$0');
    assert.equal(usd(18), '$18.00');
    assert.equal(usd('0.384000000'), '$0.38', 'numeric columns arrive as strings');
    assert.equal(usd(0.000123), '$0.00012');
    assert.equal(usd(null), '—');
    assert.equal(count(52_000), '52.0k');
    assert.equal(count(1_500_000), '1.5M');
    assert.equal(ms(1.8), '1.80 ms');
    assert.equal(ms(912.5), '913 ms');
    assert.equal(ms(12_500), '12.5 s');
    assert.equal(percent(0.25), '25%');
    assert.equal(percent(0.015), '1.5%');
  });

  it('lists the days of a range', () => {
    assert.deepEqual(daysBetween('2026-02-27', '2026-03-02'), ['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02']);
    assert.deepEqual(daysBetween('2026-03-02', '2026-03-01'), []);
  });

  it('writes CSV that spreadsheets read as data, never as formulas', () => {
    const csv = toCsv(
      ['a', 'b'],
      [
        ['x,y', 'say "hi"'],
        ['=HYPERLINK("x")', -3],
        [null, 1.5],
      ],
    );
    assert.equal(csv, 'a,b\r\n"x,y","say ""hi"""\r\n"\'=HYPERLINK(""x"")",-3\r\n,1.5\r\n');
  });

  it('reads form fields', () => {
    assert.deepEqual(listOrNull(' gpt-a, ,gpt-b '), ['gpt-a', 'gpt-b']);
    assert.equal(listOrNull(' , '), null);
    assert.equal(numberOrNull(''), null);
    assert.equal(numberOrNull('2.5'), 2.5);
    assert.equal(numberOrNull('abc'), null);
  });

  it('routes by hash', () => {
    assert.equal(screenOf('#/keys'), 'keys');
    assert.equal(screenOf('#/logs?key=a'), 'logs');
    assert.equal(screenOf('#/nowhere'), 'overview');
    assert.equal(screenOf(''), 'overview');
  });
});

describe('UI streams', () => {
  it('splits SSE into events, keeping the unfinished rest', () => {
    const { events, rest } = parseSse('event: a\ndata: {"x":1}\n\ndata: [DONE]\r\n\r\ndata: {"par');
    assert.deepEqual(events, [
      { event: 'a', data: '{"x":1}' },
      { event: null, data: '[DONE]' },
    ]);
    assert.equal(rest, 'data: {"par');
  });

  it('reads text and usage from each front', () => {
    const chat = readEvent('chat', { event: null, data: '{"choices":[{"delta":{"content":"Hi"}}]}' });
    assert.equal(chat.text, 'Hi');
    const usage = readEvent('chat', {
      event: null,
      data: '{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}',
    });
    assert.deepEqual(usage.usage, {
      promptTokens: 5,
      completionTokens: 2,
      cachedTokens: 1,
      reasoningTokens: undefined,
    });
    assert.deepEqual(readEvent('chat', { event: null, data: '[DONE]' }), { done: true });
    assert.equal(
      readEvent('responses', {
        event: 'response.output_text.delta',
        data: '{"type":"response.output_text.delta","delta":"Yo"}',
      }).text,
      'Yo',
    );
    const completed = readEvent('responses', {
      event: 'response.completed',
      data: '{"response":{"usage":{"input_tokens":7,"output_tokens":3}}}',
    });
    assert.equal(completed.usage?.promptTokens, 7);
    assert.equal(
      readEvent('messages', { event: 'content_block_delta', data: '{"delta":{"type":"text_delta","text":"Hey"}}' })
        .text,
      'Hey',
    );
    assert.equal(
      readEvent('messages', { event: 'message_delta', data: '{"usage":{"output_tokens":4}}' }).usage?.completionTokens,
      4,
    );
    assert.equal(readEvent('chat', { event: null, data: '{"error":{"message":"boom"}}' }).error, 'boom');
  });

  it('builds each front’s request', () => {
    assert.equal(streamRequest('chat', 'm', 'hi').path, '/v1/chat/completions');
    assert.deepEqual(streamRequest('responses', 'm', 'hi').body, { model: 'm', stream: true, input: 'hi' });
    assert.equal((streamRequest('messages', 'm', 'hi').body as { max_tokens: number }).max_tokens, 512);
  });
});
