/** Assertions on streamed responses shared by the provider e2e suites. */
import assert from 'node:assert/strict';
import type OpenAI from 'openai';

export interface ChunkJson {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{ index: number; delta: { role?: string; content?: string | null }; finish_reason: string | null }>;
  usage?: Record<string, number> | null;
}

/**
 * Checks OpenAI's SSE framing: only `data: <json>` frames, `[DONE]` last, every chunk a `chat.completion.chunk`
 * with one id, created and model, the role on the first delta only, exactly one finish chunk, and the usage
 * (when asked for) only on a last chunk with `choices: []`, the others `usage: null` or absent.
 */
export function parseOpenAiStream(text: string, includeUsage: boolean): ChunkJson[] {
  assert.ok(text.endsWith('\n\n'), 'frames end with a blank line');
  const frames = text.slice(0, -2).split('\n\n');
  for (const frame of frames) assert.match(frame, /^data: [^\n]+$/, 'only single-line data frames');
  const payloads = frames.map((frame) => frame.slice('data: '.length));
  assert.equal(payloads.at(-1), '[DONE]');
  const chunks = payloads.slice(0, -1).map((payload) => JSON.parse(payload) as ChunkJson);
  const [first] = chunks;
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, first.id);
    assert.equal(chunk.created, first.created);
    assert.equal(chunk.model, first.model);
  }
  assert.equal(first.choices[0].delta.role, 'assistant');
  const withChoices = includeUsage ? chunks.slice(0, -1) : chunks;
  for (const [i, chunk] of withChoices.entries()) {
    assert.equal(chunk.choices.length, 1);
    if (i > 0) assert.equal(chunk.choices[0].delta.role, undefined, 'role only on the first delta');
    assert.ok(chunk.usage === null || chunk.usage === undefined, 'usage null or absent before the last chunk');
    assert.equal(
      chunk.choices[0].finish_reason !== null,
      i === withChoices.length - 1,
      'finish_reason on the last choice chunk',
    );
  }
  if (includeUsage) {
    const usageChunk = chunks.at(-1)!;
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage && usageChunk.usage.total_tokens > 0);
  }
  return chunks;
}

/**
 * Folds streamed tool-call deltas as an OpenAI client does, asserting that `index` is on every fragment and that
 * `id`, `type` and `function.name` come only with the first fragment of each call.
 */
export function toolCallsFromDeltas(chunks: OpenAI.Chat.ChatCompletionChunk[]) {
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  for (const chunk of chunks) {
    for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
      assert.equal(typeof delta.index, 'number');
      const call = calls[delta.index];
      if (call === undefined) {
        assert.equal(delta.index, calls.length, 'tool calls are numbered 0, 1, …');
        assert.ok(delta.id && delta.type === 'function' && delta.function?.name, 'the first fragment names the call');
        calls.push({ id: delta.id, name: delta.function.name, arguments: delta.function.arguments ?? '' });
      } else {
        assert.equal(delta.id, undefined, 'id only on the first fragment');
        assert.equal(delta.type, undefined, 'type only on the first fragment');
        assert.equal(delta.function?.name, undefined, 'name only on the first fragment');
        call.arguments += delta.function?.arguments ?? '';
      }
    }
  }
  return calls.map((call) => ({ ...call, arguments: JSON.parse(call.arguments) as unknown }));
}
