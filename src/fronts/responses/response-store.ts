/**
 * Stored Responses for `previous_response_id` and `GET`/`DELETE /v1/responses/{id}`: in Redis when configured (every
 * replica sees them), else in this process's memory (bounded, oldest first). Entries are scoped to the gateway key
 * that created them, so another key's lookup misses (404). A store that cannot be reached fails the lookup with 503;
 * a write that fails is logged and the answer still goes out.
 */
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { ServiceUnavailableError } from '../../common/errors/gateway.error.js';
import type { ResponseStoreConfig } from '../../config/gateway-config.js';
import { closeRedisClient, createRedisClient, ThrottledLogger } from '../../cache/redis-client.js';
import type { ResponseInputItem, ResponseObject } from './responses.types.js';

/** What a later turn needs of a finished response. */
export interface StoredResponse {
  response: ResponseObject;
  /** The conversation's input up to this response: the stored history it continued, then its own input. */
  input: ResponseInputItem[];
  /** The provider that answered natively (it holds the response too), or undefined when translated. */
  nativeProvider?: string;
}

export interface ResponseStore {
  get(scope: string, id: string): Promise<StoredResponse | undefined>;
  put(scope: string, stored: StoredResponse): Promise<void>;
  /** Whether there was such a response. */
  delete(scope: string, id: string): Promise<boolean>;
  close(): Promise<void>;
}

const LOG_INTERVAL_MS = 30_000;
const RECONNECT_MAX_DELAY_MS = 2_000;

export function createResponseStore(config: ResponseStoreConfig): ResponseStore {
  const logger = new ThrottledLogger(new Logger('ResponseStore'), LOG_INTERVAL_MS);
  if (!config.redis) return new MemoryResponseStore(config.maxEntries, config.ttlSeconds * 1_000);
  const client = createRedisClient(
    config.redis.url,
    {
      connectTimeoutMs: config.redis.connectTimeoutMs,
      commandTimeoutMs: config.redis.commandTimeoutMs,
      reconnectMaxDelayMs: RECONNECT_MAX_DELAY_MS,
      connectionName: 'llmgw-responses',
    },
    logger,
  );
  return new RedisResponseStore(client, config.redis.keyPrefix, config.ttlSeconds, logger);
}

function entryKey(scope: string, id: string): string {
  return `${scope}\u0000${id}`;
}

export class MemoryResponseStore implements ResponseStore {
  private readonly entries: LRUCache<string, StoredResponse>;

  constructor(maxEntries: number, ttlMs: number) {
    this.entries = new LRUCache({ max: maxEntries, ttl: ttlMs });
  }

  get(scope: string, id: string): Promise<StoredResponse | undefined> {
    return Promise.resolve(this.entries.get(entryKey(scope, id)));
  }

  put(scope: string, stored: StoredResponse): Promise<void> {
    this.entries.set(entryKey(scope, stored.response.id), stored);
    return Promise.resolve();
  }

  delete(scope: string, id: string): Promise<boolean> {
    return Promise.resolve(this.entries.delete(entryKey(scope, id)));
  }

  close(): Promise<void> {
    this.entries.clear();
    return Promise.resolve();
  }
}

export class RedisResponseStore implements ResponseStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly ttlSeconds: number,
    private readonly logger: Pick<Logger, 'warn'>,
  ) {}

  /** A key id is a name, not a secret: it goes into the Redis key as it is. */
  private key(scope: string, id: string): string {
    return `${this.keyPrefix}${scope}:${id}`;
  }

  async get(scope: string, id: string): Promise<StoredResponse | undefined> {
    let text: string | null;
    try {
      text = await this.redis.get(this.key(scope, id));
    } catch (error) {
      throw unavailable(error);
    }
    return text === null ? undefined : (JSON.parse(text) as StoredResponse);
  }

  async put(scope: string, stored: StoredResponse): Promise<void> {
    try {
      await this.redis.set(this.key(scope, stored.response.id), JSON.stringify(stored), 'EX', this.ttlSeconds);
    } catch (error) {
      this.logger.warn(`Response ${stored.response.id} not stored: ${(error as Error).message}`);
    }
  }

  async delete(scope: string, id: string): Promise<boolean> {
    try {
      return (await this.redis.del(this.key(scope, id))) > 0;
    } catch (error) {
      throw unavailable(error);
    }
  }

  close(): Promise<void> {
    return closeRedisClient(this.redis);
  }
}

function unavailable(error: unknown): ServiceUnavailableError {
  const reason = error instanceof Error ? `: ${error.message}` : '';
  return new ServiceUnavailableError(
    `The response store is unavailable${reason}.`,
    1_000,
    'response_store_unavailable',
  );
}
