import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatCompletionChunk, ChunkDelta } from '../../common/openai.types.js';
import { completionToChunks, StreamAccumulator } from './stream-accumulator.js';

function chunk(
  delta: ChunkDelta,
  finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
): ChatCompletionChunk {
  return {
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

describe('StreamAccumulator', () => {
  it('keeps reasoning text, thinking blocks with their signatures and thought signatures, and replays them', () => {
    const accumulator = new StreamAccumulator();
    const chunks = [
      chunk({ role: 'assistant', content: '' }),
      chunk({ reasoning_content: 'Let me ', thinking_blocks: [{ type: 'thinking', thinking: 'Let me ' }] }),
      chunk({ reasoning_content: 'think.', thinking_blocks: [{ type: 'thinking', thinking: 'think.' }] }),
      chunk({ thinking_blocks: [{ type: 'thinking', thinking: '', signature: 'sig-1' }] }),
      chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: 'opaque' }] }),
      chunk({
        tool_calls: [
          {
            index: 0,
            id: 'call_1',
            type: 'function',
            function: { name: 'f', arguments: '' },
            extra_content: { google: { thought_signature: 'ts-1' } },
          },
        ],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }),
      chunk({ extra_content: { google: { thought_signature: 'ts-msg' } } }, 'tool_calls'),
    ];
    for (const c of chunks) accumulator.add(c);
    const completion = accumulator.toCompletion();
    const message = completion.choices[0].message;
    assert.equal(message.reasoning_content, 'Let me think.');
    assert.deepEqual(message.thinking_blocks, [
      { type: 'thinking', thinking: 'Let me think.', signature: 'sig-1' },
      { type: 'redacted_thinking', data: 'opaque' },
    ]);
    assert.deepEqual(message.tool_calls?.[0].extra_content, { google: { thought_signature: 'ts-1' } });
    assert.deepEqual(message.extra_content, { google: { thought_signature: 'ts-msg' } });

    const replayed = new StreamAccumulator();
    for (const c of completionToChunks(completion, false)) replayed.add(c);
    assert.deepEqual(replayed.toCompletion().choices[0].message, message, 'a cached stream replays without loss');
  });
});
