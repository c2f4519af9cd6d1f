/** Request cost from token usage and the model's configured prices. */
import type { Usage } from '../common/openai.types.js';
import type { ModelPricing } from '../config/gateway-config.js';

export interface TokenUsage {
  prompt: number;
  completion: number;
  /** Not reported by the upstream (an aborted stream): estimated from request and output size. */
  estimated: boolean;
}

/** An upstream's reported usage (chat or embeddings, which has no completion tokens). */
export function tokenUsage(usage: Partial<Usage> | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  return { prompt: usage.prompt_tokens ?? 0, completion: usage.completion_tokens ?? 0, estimated: false };
}

/** USD; undefined when the model has no pricing. */
export function costUsd(pricing: ModelPricing | undefined, usage: TokenUsage): number | undefined {
  if (!pricing) return undefined;
  return (usage.prompt * pricing.inputPerMillion + usage.completion * pricing.outputPerMillion) / 1_000_000;
}

/** Plain decimal with up to 8 places (no exponent): `0.000123`, `0`. */
export function formatUsd(cost: number): string {
  return cost.toFixed(8).replace(/\.?0+$/, '');
}
