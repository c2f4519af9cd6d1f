/** Request cost from token usage and the model's configured prices. */
import type { Usage } from '../common/openai.types.js';
import type { ModelPricing } from '../config/gateway-config.js';

export interface TokenUsage {
  /** All input tokens, cached and cache-written included. */
  prompt: number;
  /** All output tokens, reasoning included. */
  completion: number;
  /** Of `prompt`: read from the provider's prompt cache. */
  cached?: number;
  /** Of `prompt`: written to the provider's prompt cache. */
  cacheWrite?: number;
  /** Of `completion`: spent reasoning. */
  reasoning?: number;
  /** Not reported by the upstream (an aborted stream): estimated from request and output size. */
  estimated: boolean;
}

/** An upstream's reported usage (chat or embeddings, which has no completion tokens). */
export function tokenUsage(usage: Partial<Usage> | undefined | null): TokenUsage | undefined {
  if (!usage) return undefined;
  const counted: TokenUsage = {
    prompt: usage.prompt_tokens ?? 0,
    completion: usage.completion_tokens ?? 0,
    estimated: false,
  };
  const cached = usage.prompt_tokens_details?.cached_tokens;
  if (cached) counted.cached = cached;
  const cacheWrite = usage.prompt_tokens_details?.cache_creation_tokens;
  if (cacheWrite) counted.cacheWrite = cacheWrite;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  if (reasoning) counted.reasoning = reasoning;
  return counted;
}

/**
 * USD; undefined when the model has no pricing. Cached and cache-written input tokens are priced at their own rates
 * when set (each provider reports them once, as part of the prompt tokens); reasoning is output.
 */
export function costUsd(pricing: ModelPricing | undefined, usage: TokenUsage): number | undefined {
  if (!pricing) return undefined;
  const input = pricing.inputPerMillion;
  const cached = usage.cached ?? 0;
  const cacheWrite = usage.cacheWrite ?? 0;
  const uncached = usage.prompt - cached - cacheWrite;
  const inputCost =
    uncached * input +
    cached * (pricing.cachedInputPerMillion ?? input) +
    cacheWrite * (pricing.cacheWritePerMillion ?? input);
  return (inputCost + usage.completion * pricing.outputPerMillion) / 1_000_000;
}

/** Plain decimal with up to 8 places (no exponent): `0.000123`, `0`. */
export function formatUsd(cost: number): string {
  return cost.toFixed(8).replace(/\.?0+$/, '');
}
