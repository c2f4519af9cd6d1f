/**
 * Response-cache keys and the cacheability rule. Pure functions: no config, no I/O.
 */
import { createHash } from 'node:crypto';
import type { ChatCompletionRequest } from '../common/openai.types.js';

/** Namespace of entries visible to every gateway key (config `cache.shared: true`). */
export const SHARED_NAMESPACE = 'shared';

/** Fields that change how the answer is delivered or attributed, never what it says. */
const TRANSPORT_ONLY_FIELDS: ReadonlySet<string> = new Set(['stream', 'stream_options', 'user', 'store', 'metadata']);

export const CACHE_MODES = ['deterministic', 'all', 'off'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];

export interface CachePolicy {
  mode: CacheMode;
}

/**
 * JSON with object keys sorted recursively (arrays keep their order), so key order and whitespace of the
 * client's body do not matter. Written out by hand because `JSON.stringify` of a rebuilt object would still
 * put integer-like keys (e.g. `logit_bias` token ids) first in numeric order rather than sorted order.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `<namespace>:<sha256 hex>` of the canonical request of any front: the model as the client named it, the input,
 * tools, tool choice, output format, every sampling/output parameter and any unknown extra field. Transport-only
 * fields are left out, and so are top-level `null`s, which OpenAI treats as "use the default".
 * Call it before the router rewrites `model` to an upstream name.
 */
export function cacheKeyFor(request: Readonly<Record<string, unknown>>, namespace: string): string {
  const relevant: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(request)) {
    if (!TRANSPORT_ONLY_FIELDS.has(field) && value !== null && value !== undefined) relevant[field] = value;
  }
  const digest = createHash('sha256').update(canonicalJson(relevant)).digest('hex');
  return `${namespace}:${digest}`;
}

/** `deterministic` (default) caches only requests that ask for a repeatable answer: temperature 0 or a seed. */
export function isCacheable(request: ChatCompletionRequest, policy: CachePolicy): boolean {
  switch (policy.mode) {
    case 'off':
      return false;
    case 'all':
      return true;
    case 'deterministic':
      return request.temperature === 0 || (request.seed !== undefined && request.seed !== null);
  }
}
