/**
 * Claude Code's interleaved-thinking tool loop through the gateway keeps its thinking, on both kinds of model:
 * - Anthropic (Messages passthrough): the simulator signs its thinking blocks and, like the API, refuses a
 *   tool-result turn whose assistant turn lost or changed them.
 * - An OpenAI-compatible reasoning model (DeepSeek's reasoner, translated): its `reasoning_content` reaches Claude
 *   Code as thinking blocks and must come back as `reasoning_content` on the tool-call turn, which DeepSeek
 *   requires in thinking mode (its simulator refuses the turn otherwise).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { runClaudeCode } from './cli-runner.js';
import { type RunningGateway, startGateway } from './harness.js';

const SUITE = { timeout: 300_000 };
const KEYS = { anthropic: 'sk-ant-cli-thinking-0123456789', deepseek: 'sk-deepseek-cli-thinking-0123456789' };
const PROOF_COMMAND = 'echo thought-ok > proof.txt && cat proof.txt';
const PROMPT = `write the proof\nSIM_TOOL Bash ${JSON.stringify({ command: PROOF_COMMAND, description: 'proof' })}`;

type Json = Record<string, unknown>;

/** Claude Code thinks when given a thinking budget. */
const runThinkingClaudeCode = (gateway: RunningGateway, model: string) =>
  runClaudeCode(gateway.url, model, PROMPT, { MAX_THINKING_TOKENS: '2048' });

/** The request bodies that carry a tool result back (the continuation of the loop). */
function continuations(bodies: unknown[], isToolResult: (message: Json) => boolean): Json[] {
  return bodies.filter(
    (body): body is Json =>
      typeof body === 'object' &&
      body !== null &&
      Array.isArray((body as Json).messages) &&
      (body as { messages: Json[] }).messages.some(isToolResult),
  );
}

describe("Claude Code's interleaved-thinking tool loop keeps its thinking", SUITE, () => {
  const anthropic = new AnthropicSimulator({ apiKey: KEYS.anthropic });
  const deepseek = new OpenAiSimulator({ apiKey: KEYS.deepseek, vendor: 'deepseek' });
  let gateway: RunningGateway;

  before(async () => {
    const [anthropicUrl, deepseekUrl] = await Promise.all([anthropic.start(), deepseek.start()]);
    gateway = await startGateway({
      providers: [
        { name: 'anthropic', type: 'anthropic', baseUrl: anthropicUrl, apiKey: KEYS.anthropic, retry: { retries: 0 } },
        {
          name: 'deepseek',
          type: 'openai',
          baseUrl: deepseekUrl,
          apiKey: KEYS.deepseek,
          retry: { retries: 0 },
        },
      ],
      models: [
        { name: 'claude-thinker', deployments: [{ provider: 'anthropic', model: 'claude-sonnet-4-5' }] },
        { name: 'deepseek-thinker', deployments: [{ provider: 'deepseek', model: 'deepseek-reasoner' }] },
      ],
    });
  });
  after(async () => {
    await gateway.close();
    await Promise.all([anthropic.stop(), deepseek.stop()]);
  });

  it('on Anthropic: the signed thinking block comes back first in the tool-use turn', async () => {
    anthropic.reset();
    const { output, proof } = await runThinkingClaudeCode(gateway, 'claude-thinker');
    assert.equal(output.is_error, false, output.result);
    assert.equal(proof, 'thought-ok\n');
    assert.match(output.result, /thought-ok/);
    const bodies = anthropic.requests.map((request) => request.body);
    const thinkingOn = bodies.filter((body) => (body as Json | undefined)?.thinking !== undefined);
    assert.ok(thinkingOn.length > 0, 'Claude Code asked for thinking');
    const next = continuations(
      bodies,
      (message) =>
        Array.isArray(message.content) && (message.content as Json[]).some((block) => block.type === 'tool_result'),
    );
    assert.ok(next.length > 0, 'the tool result went back');
    const messages = next[0].messages as Json[];
    const toolUseTurn = messages.findLast(
      (message) =>
        message.role === 'assistant' &&
        Array.isArray(message.content) &&
        (message.content as Json[]).some((block) => block.type === 'tool_use'),
    );
    const first = (toolUseTurn?.content as Json[] | undefined)?.[0];
    assert.equal(first?.type, 'thinking');
    assert.ok(anthropic.verifyThinkingBlock(first), 'the signature is the one the simulator issued');
  });

  it('on an OpenAI-compatible reasoning model: reasoning_content comes back on the tool-call turn', async () => {
    deepseek.reset();
    const { output, proof } = await runThinkingClaudeCode(gateway, 'deepseek-thinker');
    assert.equal(output.is_error, false, output.result);
    assert.equal(proof, 'thought-ok\n');
    const bodies = deepseek.requests.map((request) => request.body);
    const next = continuations(bodies, (message) => message.role === 'tool');
    assert.ok(next.length > 0, 'the tool result went back');
    const turn = (next[0].messages as Json[]).findLast(
      (message) => message.role === 'assistant' && Array.isArray(message.tool_calls),
    );
    const reasoning = turn?.reasoning_content;
    assert.ok(typeof reasoning === 'string' && reasoning.length > 0, 'the reasoning went back with the tool calls');
  });
});
