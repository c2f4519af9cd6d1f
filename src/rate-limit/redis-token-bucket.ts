/**
 * Buckets shared by every gateway replica, in Redis. Each take or adjust is one Lua script run (atomic, one round
 * trip), registered with ioredis `defineCommand`, which sends EVALSHA and falls back to EVAL on NOSCRIPT.
 *
 * Clock: the script reads Redis `TIME` instead of taking the caller's clock. All replicas then refill against one
 * clock, so clock skew between pods can neither mint tokens nor stall refill; Redis replicates script effects
 * (the default since 5.0, the only mode since 7.0), so a non-deterministic TIME call is allowed.
 *
 * Keys are `<prefix>{<bucket>}` (a hash tag, so one bucket maps to one Cluster slot) and carry a PEXPIRE equal to
 * the time until the bucket is full again; a full bucket is deleted, since no key means a full bucket.
 *
 * When Redis fails (down, timeout, not ready) the configured policy decides: `failOpen` serves the call from a
 * per-replica in-memory store, `failClosed` throws RateLimitUnavailableError (503). Either way the decision is
 * counted through `onRedisError` and logged at most once per `logIntervalMs`.
 */
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { redisClass } from '../cache/redis-client.js';
import { CommandHealth } from '../common/command-health.js';
import { GatewayError } from '../common/errors/gateway.error.js';
import { MemoryBucketStore } from './memory-token-bucket.js';
import { DEFAULT_RATE_LIMIT_KEY_PREFIX, type FailureMode, type RateLimitRedisConfig } from './rate-limit.config.js';
import {
  assertValidLimits,
  TOKEN_EPSILON,
  type BucketLimits,
  type BucketSnapshot,
  type BucketStore,
  type TakeResult,
} from './token-bucket.js';

/**
 * KEYS[1] bucket hash {t = tokens, ts = last update in ms}; ARGV: op ('take' | 'adjust'), amount, rate per second,
 * capacity, epsilon. Returns {allowed 0|1, remaining, retryAfterMs (-1 = never), resetMs}, all integers because Redis
 * truncates Lua numbers in replies. Mirrors `take` / `adjust` in token-bucket.ts.
 */
export const TOKEN_BUCKET_LUA = `
local key = KEYS[1]
local op = ARGV[1]
local amount = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local capacity = tonumber(ARGV[4])
local epsilon = tonumber(ARGV[5])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000

local stored = redis.call('HMGET', key, 't', 'ts')
local tokens = tonumber(stored[1])
local updated = tonumber(stored[2])
if tokens == nil or updated == nil then
  tokens = capacity
  updated = now
end
if now > updated then
  tokens = tokens + (now - updated) * rate / 1000
  updated = now
end
tokens = math.min(capacity, tokens)

local allowed = 1
local retry_after = 0
if op == 'take' then
  if amount > capacity then
    allowed = 0
    retry_after = -1
  elseif tokens + epsilon < amount then
    allowed = 0
    retry_after = math.ceil((amount - tokens) * 1000 / rate - epsilon)
  else
    tokens = math.max(0, tokens - amount)
  end
else
  tokens = math.min(capacity, math.max(0, tokens - amount))
end

local missing = capacity - tokens
local reset = 0
if missing > epsilon then
  reset = math.ceil(missing * 1000 / rate - epsilon)
  redis.call('HSET', key, 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', updated))
  redis.call('PEXPIRE', key, reset)
else
  redis.call('DEL', key)
end
return {allowed, math.floor(tokens + epsilon), retry_after, reset}
`;

const TOKEN_BUCKET_COMMAND = 'llmgwTokenBucket';
const TOKEN_EPSILON_ARG = String(TOKEN_EPSILON);

type TokenBucketReply = [allowed: number, remaining: number, retryAfterMs: number, resetMs: number];

interface TokenBucketCommand {
  [TOKEN_BUCKET_COMMAND](key: string, op: 'take' | 'adjust', ...args: string[]): Promise<TokenBucketReply>;
}

/** The rate limiter could not consult its shared store and is configured to fail closed. */
export class RateLimitUnavailableError extends GatewayError {
  constructor(cause?: unknown) {
    super(503, 'server_error', 'Rate limiting is temporarily unavailable; try again shortly.', {
      code: 'rate_limit_unavailable',
      retryable: true,
      retryAfterMs: 1_000,
      cause,
    });
  }
}

export interface RedisBucketStoreOptions {
  /** Prepended to every key, before the `{bucket}` hash tag. */
  keyPrefix?: string;
  failureMode: FailureMode;
  /** Called once per call that Redis could not serve, with the bucket's scope; wire it to a metric. */
  onRedisError?: (scope: string, failureMode: FailureMode) => void;
  /** Serves calls while Redis is down in `failOpen` mode. */
  fallback?: BucketStore;
  logger?: Pick<Logger, 'warn'>;
  logIntervalMs?: number;
  now?: () => number;
}

export class RedisBucketStore implements BucketStore {
  private readonly client: Redis & TokenBucketCommand;
  private readonly keyPrefix: string;
  private readonly fallback: BucketStore;
  private readonly logger: Pick<Logger, 'warn'>;
  private readonly logIntervalMs: number;
  private readonly now: () => number;
  private lastLogMs = -Infinity;
  private unloggedFailures = 0;
  private readonly outcomes: CommandHealth;

  constructor(
    client: Redis,
    private readonly options: RedisBucketStoreOptions,
  ) {
    if (!(TOKEN_BUCKET_COMMAND in client)) {
      client.defineCommand(TOKEN_BUCKET_COMMAND, { lua: TOKEN_BUCKET_LUA, numberOfKeys: 1 });
    }
    this.client = client as Redis & TokenBucketCommand;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_RATE_LIMIT_KEY_PREFIX;
    this.fallback = options.fallback ?? new MemoryBucketStore();
    this.logger = options.logger ?? new Logger(RedisBucketStore.name);
    this.logIntervalMs = options.logIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.outcomes = new CommandHealth(5_000, this.now);
  }

  /** `degraded` while Redis is disconnected or its commands fail (readiness and the degraded gauge). */
  health(): 'up' | 'degraded' {
    return this.outcomes.state(this.client.status === 'ready');
  }

  /** The Redis key of a bucket. */
  redisKey(key: string): string {
    return `${this.keyPrefix}{${key}}`;
  }

  async take(key: string, cost: number, limits: BucketLimits, scope = 'default'): Promise<TakeResult> {
    assertValidLimits(limits);
    if (!(cost >= 0)) throw new RangeError(`cost must be >= 0, got ${cost} (use adjust to give tokens back)`);
    let reply: TokenBucketReply;
    try {
      reply = await this.run(key, 'take', cost, limits);
    } catch (error) {
      this.onFailure(scope, error);
      return this.fallback.take(key, cost, limits, scope);
    }
    const [allowed, remaining, retryAfterMs, resetMs] = reply;
    return {
      allowed: allowed === 1,
      limit: limits.capacity,
      remaining,
      retryAfterMs: retryAfterMs < 0 ? Infinity : retryAfterMs,
      resetMs,
    };
  }

  async adjust(key: string, delta: number, limits: BucketLimits, scope = 'default'): Promise<BucketSnapshot> {
    assertValidLimits(limits);
    let reply: TokenBucketReply;
    try {
      reply = await this.run(key, 'adjust', delta, limits);
    } catch (error) {
      this.onFailure(scope, error);
      return this.fallback.adjust(key, delta, limits, scope);
    }
    return { limit: limits.capacity, remaining: reply[1], resetMs: reply[3] };
  }

  private async run(
    key: string,
    op: 'take' | 'adjust',
    amount: number,
    limits: BucketLimits,
  ): Promise<TokenBucketReply> {
    const reply = await this.client[TOKEN_BUCKET_COMMAND](
      this.redisKey(key),
      op,
      String(amount),
      String(limits.ratePerSecond),
      String(limits.capacity),
      TOKEN_EPSILON_ARG,
    );
    this.outcomes.succeeded();
    return reply;
  }

  /** Counts and (rate-limited) logs the failure; throws in failClosed mode, returns to use the fallback otherwise. */
  private onFailure(scope: string, error: unknown): void {
    const { failureMode } = this.options;
    this.outcomes.failed();
    this.options.onRedisError?.(scope, failureMode);
    this.unloggedFailures += 1;
    const nowMs = this.now();
    if (nowMs - this.lastLogMs >= this.logIntervalMs) {
      const consequence =
        failureMode === 'failOpen'
          ? 'failing open: limits are enforced per replica from memory'
          : 'failing closed: requests are rejected with 503';
      this.logger.warn(
        `Redis is unavailable for rate limiting (${describe(error)}); ${consequence} ` +
          `(${this.unloggedFailures} call(s) since the last report)`,
      );
      this.lastLogMs = nowMs;
      this.unloggedFailures = 0;
    }
    if (failureMode === 'failClosed') throw new RateLimitUnavailableError(error);
  }
}

/**
 * A client that fails fast: no offline queue (commands fail at once while disconnected), no per-command retries,
 * no resending after reconnect (a take must not run twice), and a command timeout, so a dead or hung Redis
 * never stalls a request. Reconnects in the background with a capped backoff.
 */
export function createRateLimitRedisClient(config: RateLimitRedisConfig): Redis {
  const RedisClient = redisClass();
  const client = new RedisClient(config.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: config.connectTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  // Failures are reported per call by RedisBucketStore; without a listener ioredis prints every reconnect error.
  client.on('error', () => undefined);
  return client;
}

/** Resolves once the client can take commands (with the offline queue off, nothing works before that). */
export async function waitForRedis(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms (status: ${client.status})`));
    }, timeoutMs);
    // Connection errors before the deadline are not final: ioredis keeps reconnecting.
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
