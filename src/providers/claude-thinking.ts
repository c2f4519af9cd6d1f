/**
 * Claude's extended-thinking knob, shared by the providers that serve Claude (Anthropic's API and Bedrock):
 * the request's `thinking` as given, or `reasoning_effort` turned into a budget.
 * https://platform.claude.com/docs/en/build-with-claude/extended-thinking
 */
import type { ChatCompletionRequest, ReasoningEffort, ThinkingConfig } from '../common/openai.types.js';

/** Claude's thinking budget for each `reasoning_effort`, as LiteLLM maps them; 1 024 is Claude's minimum. */
const THINKING_BUDGETS: Readonly<Record<Exclude<ReasoningEffort, 'none'>, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 2048,
  high: 4096,
  xhigh: 8192,
};
const MIN_THINKING_BUDGET = 1024;
/** Room for the answer after the thinking budget when the request sets no limit (Claude wants max > budget). */
const ANSWER_TOKENS_AFTER_THINKING = 4096;

/**
 * The `thinking` to send: the request's own, else a budget for `reasoning_effort` that fits under `maxTokens`
 * (none when it cannot reach Claude's minimum); `null` when the request turns thinking off (`reasoning_effort:
 * none`), `undefined` when it says nothing.
 */
export function claudeThinkingOf(
  request: ChatCompletionRequest,
  maxTokens: number | undefined,
): ThinkingConfig | null | undefined {
  if (request.thinking) return request.thinking;
  const effort = request.reasoning_effort;
  if (effort === undefined) return undefined;
  if (effort === 'none') return null;
  let budget = THINKING_BUDGETS[effort];
  if (maxTokens !== undefined && maxTokens <= budget) budget = maxTokens - 1;
  return budget >= MIN_THINKING_BUDGET ? { type: 'enabled', budget_tokens: budget } : null;
}

/** The budget of an enabled `thinking` value (of any origin), else undefined. */
export function thinkingBudget(thinking: unknown): number | undefined {
  if (thinking === null || typeof thinking !== 'object') return undefined;
  const { type, budget_tokens: budget } = thinking as { type?: unknown; budget_tokens?: unknown };
  return type === 'enabled' && typeof budget === 'number' ? budget : undefined;
}

/** `max_tokens` for a request that set none: room for the thinking budget plus an answer, else undefined. */
export function maxTokensAfterThinking(thinking: unknown): number | undefined {
  const budget = thinkingBudget(thinking);
  return budget === undefined ? undefined : budget + ANSWER_TOKENS_AFTER_THINKING;
}

/** Whether a `thinking` value turns thinking on (enabled or adaptive). */
export function thinkingIsOn(thinking: unknown): boolean {
  if (thinking === null || typeof thinking !== 'object') return false;
  const type = (thinking as { type?: unknown }).type;
  return type === 'enabled' || type === 'adaptive';
}
