import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionRequest } from '../common/openai.types.js';
import type { Deployment } from '../routing/model-router.js';
import { asksForReasoning, chatFor } from './reasoning.js';

function deployment(takesReasoning?: (model: string) => boolean): Deployment {
  return { model: 'upstream-model', provider: { name: 'p', type: 't', takesReasoning } } as unknown as Deployment;
}

const request: ChatCompletionRequest = { model: 'public', messages: [{ role: 'user', content: 'hi' }] };

describe('reasoning knobs per deployment', () => {
  it('asks for reasoning with an effort or thinking, not with none or disabled', () => {
    assert.ok(asksForReasoning({ ...request, reasoning_effort: 'low' }));
    assert.ok(asksForReasoning({ ...request, thinking: { type: 'adaptive' } }));
    assert.ok(!asksForReasoning({ ...request, reasoning_effort: 'none' }));
    assert.ok(!asksForReasoning({ ...request, thinking: { type: 'disabled' } }));
    assert.ok(!asksForReasoning(request));
  });

  it('keeps the knobs for a model that takes them, or a provider that maps them itself', () => {
    const asking = { ...request, reasoning_effort: 'high' as const };
    for (const target of [deployment(() => true), deployment()]) {
      const prepared = chatFor(asking, target);
      assert.equal(prepared.reasoningIgnored, false);
      assert.equal(prepared.request.reasoning_effort, 'high');
      assert.equal(prepared.request.model, 'upstream-model');
    }
  });

  it('leaves them out for a model that takes none, and says so', () => {
    const prepared = chatFor(
      { ...request, reasoning_effort: 'high', thinking: { type: 'enabled', budget_tokens: 2_000 } },
      deployment((model) => model !== 'upstream-model'),
    );
    assert.equal(prepared.reasoningIgnored, true);
    assert.ok(!('reasoning_effort' in prepared.request) && !('thinking' in prepared.request));
    assert.equal(prepared.request.model, 'upstream-model');
    assert.equal(
      chatFor(
        request,
        deployment(() => false),
      ).reasoningIgnored,
      false,
      'nothing asked, nothing ignored',
    );
  });
});
