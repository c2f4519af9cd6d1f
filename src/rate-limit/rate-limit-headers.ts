/**
 * OpenAI's rate-limit response headers (spec §1.7): limit, remaining and reset for requests and for tokens, the
 * reset as a Go `time.Duration` string ("20ms", "1s", "6m0s"), plus `retry-after` in whole seconds when denied.
 */
import type { BucketSnapshot } from './token-bucket.js';

export interface RateLimitHeaderSource {
  requests?: BucketSnapshot;
  tokens?: BucketSnapshot;
  /** Set when the request was denied; not finite when it can never pass (then no retry-after is sent). */
  retryAfterMs?: number;
}

export function rateLimitHeaders(source: RateLimitHeaderSource): Record<string, string> {
  // Literal header names: names built per call would be new strings to hash on every request.
  const headers: Record<string, string> = {};
  const requests = source.requests;
  if (requests !== undefined) {
    headers['x-ratelimit-limit-requests'] = String(requests.limit);
    headers['x-ratelimit-remaining-requests'] = String(requests.remaining);
    headers['x-ratelimit-reset-requests'] = formatGoDuration(requests.resetMs);
  }
  const tokens = source.tokens;
  if (tokens !== undefined) {
    headers['x-ratelimit-limit-tokens'] = String(tokens.limit);
    headers['x-ratelimit-remaining-tokens'] = String(tokens.remaining);
    headers['x-ratelimit-reset-tokens'] = formatGoDuration(tokens.resetMs);
  }
  if (source.retryAfterMs !== undefined && Number.isFinite(source.retryAfterMs)) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(source.retryAfterMs / 1000)));
  }
  return headers;
}

/**
 * Formats milliseconds like Go's `Duration.String()` at millisecond resolution: "0s", "20ms", "1s", "1.5s",
 * "6m0s", "1m30.25s", "2h0m0s". Fractions of a millisecond round up.
 */
export function formatGoDuration(ms: number): string {
  const total = Math.ceil(ms);
  if (!(total > 0)) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const fraction =
    millis % 1000 === 0
      ? ''
      : `.${String(millis % 1000)
          .padStart(3, '0')
          .replace(/0+$/, '')}`;
  const seconds = `${Math.floor(millis / 1000)}${fraction}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}
