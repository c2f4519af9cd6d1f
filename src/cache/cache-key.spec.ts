import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../common/openai.types.js';
import { SHARED_NAMESPACE, cacheKeyFor, canonicalJson, isCacheable } from './cache-key.js';

const base: ChatCompletionRequest = {
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
  ],
  temperature: 0,
};

describe('canonicalJson', () => {
  it('sorts object keys recursively, keeps array order, drops undefined fields', () => {
    assert.equal(canonicalJson({ b: [3, { d: 1, c: 2 }], a: null, z: undefined }), '{"a":null,"b":[3,{"c":2,"d":1}]}');
  });

  it('sorts integer-like keys as strings (logit_bias token ids)', () => {
    assert.equal(canonicalJson({ '50256': -100, '1234': 5 }), '{"1234":5,"50256":-100}');
  });
});

describe('cacheKeyFor', () => {
  it('is `<namespace>:<sha256 hex>`', () => {
    assert.match(cacheKeyFor(base, 'key_1'), /^key_1:[0-9a-f]{64}$/);
    assert.match(cacheKeyFor(base, SHARED_NAMESPACE), /^shared:[0-9a-f]{64}$/);
  });

  it('ignores key order and JSON whitespace of the body', () => {
    const compact = JSON.parse(
      '{"model":"m","temperature":0,"messages":[{"role":"user","content":"x"}],"logit_bias":{"2":1,"10":-1}}',
    ) as ChatCompletionRequest;
    const reordered = JSON.parse(
      '{ "logit_bias": { "10": -1, "2": 1 },\n' +
        '  "messages": [ { "content": "x", "role": "user" } ],\n' +
        '  "temperature": 0.0, "model": "m" }',
    ) as ChatCompletionRequest;
    assert.equal(cacheKeyFor(compact, 'k'), cacheKeyFor(reordered, 'k'));
  });

  it('keeps the order of messages', () => {
    const swapped = { ...base, messages: [...base.messages].reverse() };
    assert.notEqual(cacheKeyFor(swapped, 'k'), cacheKeyFor(base, 'k'));
  });

  it('changes with the namespace', () => {
    assert.notEqual(cacheKeyFor(base, 'key_1'), cacheKeyFor(base, 'key_2'));
  });

  const changes: Array<[string, Partial<ChatCompletionRequest> & Record<string, unknown>]> = [
    ['model', { model: 'gpt-4o' }],
    ['messages', { messages: [{ role: 'user', content: 'Hi!' }] }],
    ['tools', { tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }] }],
    ['tool_choice', { tool_choice: 'required' }],
    ['response_format', { response_format: { type: 'json_object' } }],
    ['temperature', { temperature: 0.2 }],
    ['top_p', { top_p: 0.9 }],
    ['n', { n: 2 }],
    ['stop', { stop: ['\n'] }],
    ['max_tokens', { max_tokens: 16 }],
    ['max_completion_tokens', { max_completion_tokens: 16 }],
    ['seed', { seed: 7 }],
    ['frequency_penalty', { frequency_penalty: 0.5 }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['parallel_tool_calls', { parallel_tool_calls: false }],
    ['an unknown extra field', { top_k: 40 }],
  ];
  for (const [name, change] of changes) {
    it(`changes with ${name}`, () => {
      assert.notEqual(cacheKeyFor({ ...base, ...change }, 'k'), cacheKeyFor(base, 'k'));
    });
  }

  it('does not change with stream, stream_options or user', () => {
    const streamed = { ...base, stream: true, stream_options: { include_usage: true }, user: 'alice' };
    assert.equal(cacheKeyFor(streamed, 'k'), cacheKeyFor(base, 'k'));
    assert.equal(cacheKeyFor({ ...base, stream: false }, 'k'), cacheKeyFor(base, 'k'));
  });

  it('treats a top-level null like an absent parameter', () => {
    assert.equal(cacheKeyFor({ ...base, top_p: null, seed: null }, 'k'), cacheKeyFor(base, 'k'));
  });
});

describe('isCacheable', () => {
  const { temperature: _, ...sampled } = base;

  it('deterministic mode: temperature 0 or a seed', () => {
    const policy = { mode: 'deterministic' } as const;
    assert.equal(isCacheable(base, policy), true);
    assert.equal(isCacheable({ ...sampled, seed: 0 }, policy), true);
    assert.equal(isCacheable({ ...sampled, temperature: 0.7, seed: 42 }, policy), true);
    assert.equal(isCacheable(sampled, policy), false);
    assert.equal(isCacheable({ ...sampled, temperature: 0.7 }, policy), false);
    assert.equal(isCacheable({ ...sampled, seed: null }, policy), false);
  });

  it('all and off modes ignore the request', () => {
    assert.equal(isCacheable({ ...sampled, temperature: 1 }, { mode: 'all' }), true);
    assert.equal(isCacheable(base, { mode: 'off' }), false);
  });
});
