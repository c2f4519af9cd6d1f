/** Retry timing for upstream calls: exponential backoff with full jitter, or the server's Retry-After. */

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: the attempt is given up instead. */
  maxRetryAfterMs: number;
}

/**
 * Reads `retry-after-ms` (float milliseconds) or `retry-after` (seconds or an HTTP date), as the OpenAI SDK does.
 * Returns undefined when neither is present or parsable.
 */
export function parseRetryAfterMs(
  headers: Record<string, unknown> | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const ms = headerValue(headers['retry-after-ms']);
  if (ms !== undefined) {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const raw = headerValue(headers['retry-after']);
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function headerValue(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/**
 * Delay before retry number `retry` (1-based). With a Retry-After the server's wait is honoured up to
 * `maxRetryAfterMs`; `undefined` means the server asks for longer than we are willing to wait.
 */
export function backoffDelayMs(
  retry: number,
  options: BackoffOptions,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number | undefined {
  if (retryAfterMs !== undefined) {
    return retryAfterMs <= options.maxRetryAfterMs ? retryAfterMs : undefined;
  }
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}
