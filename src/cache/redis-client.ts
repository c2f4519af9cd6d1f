/**
 * One way to open Redis for the gateway (cache, rate limiter): fail fast while Redis is down, reconnect on
 * its own, and log trouble without flooding the log.
 */
import { createRequire } from 'node:module';
import type { LoggerService } from '@nestjs/common';
import type * as IoRedis from 'ioredis';
import type { Redis } from 'ioredis';

const requireModule = createRequire(import.meta.url);

/** ioredis's client class, loaded on first use: a gateway configured without Redis does not load it (~10 MB RSS). */
export function redisClass(): typeof Redis {
  return (requireModule('ioredis') as typeof IoRedis).Redis;
}

export type RedisLogger = Pick<LoggerService, 'log' | 'warn'>;

export interface RedisClientOptions {
  connectTimeoutMs: number;
  /** Every command rejects after this long, so a hung Redis costs a request at most this much. */
  commandTimeoutMs: number;
  /** Cap of the exponential reconnection backoff (starting at 50 ms). */
  reconnectMaxDelayMs: number;
  connectionName?: string;
}

const FIRST_RECONNECT_DELAY_MS = 50;

/**
 * Creates a connecting client. While Redis is unreachable commands reject at once instead of queueing
 * (`enableOfflineQueue: false`), commands in flight when the connection drops are failed rather than replayed
 * after reconnection (`maxRetriesPerRequest: 0`), and reconnection never gives up.
 * Pass a {@link ThrottledLogger} to keep an outage to one warning per interval.
 */
export function createRedisClient(url: string, options: RedisClientOptions, logger: RedisLogger): Redis {
  const RedisClient = redisClass();
  const client = new RedisClient(url, {
    connectTimeout: options.connectTimeoutMs,
    // How long a close waits for the server before dropping the socket (it keeps the process alive meanwhile).
    disconnectTimeout: options.connectTimeoutMs,
    commandTimeout: options.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(FIRST_RECONNECT_DELAY_MS * 2 ** (attempt - 1), options.reconnectMaxDelayMs),
    connectionName: options.connectionName,
  });
  const where = redactRedisUrl(url);
  // Without an 'error' listener ioredis prints every failed reconnection attempt to stderr.
  client.on('error', (error: Error) => {
    logger.warn(`Redis at ${where} unavailable: ${error.message}`);
  });
  client.on('ready', () => {
    logger.log(`Redis at ${where} ready`);
  });
  return client;
}

/** The URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable redis url)';
  }
}

/**
 * Passes `log` through and lets one `warn` through per interval, adding how many it held back in between.
 */
export class ThrottledLogger implements RedisLogger {
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly inner: RedisLogger,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  log(message: string): void {
    this.inner.log(message);
  }

  warn(message: string): void {
    const now = this.now();
    if (now - this.lastWarnAt < this.intervalMs) {
      this.suppressed += 1;
      return;
    }
    const held = this.suppressed > 0 ? ` (${this.suppressed} similar warnings suppressed)` : '';
    this.lastWarnAt = now;
    this.suppressed = 0;
    this.inner.warn(`${message}${held}`);
  }
}

/**
 * Closes a client without hanging: QUIT when connected (pending replies drain), otherwise a plain disconnect —
 * QUIT on a client that never connected waits for a connection that may never come.
 */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
