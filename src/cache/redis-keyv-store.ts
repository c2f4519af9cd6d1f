/**
 * A Keyv 5 storage adapter over an ioredis client the caller owns. Keyv passes already-serialized strings
 * (`{"value":…,"expires":…}`) and a TTL in milliseconds; Redis expires the key itself (`SET … PX`).
 * Errors are not caught here: Keyv (with `throwOnErrors`) hands them to the caller.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { KeyvStoreAdapter, StoredData } from 'keyv';

const CLEAR_BATCH = 500;

export class RedisKeyvStore extends EventEmitter implements KeyvStoreAdapter {
  readonly opts = {};
  /** Set by Keyv; unused because keys are prefixed with `keyPrefix` and Keyv's own prefixing is off. */
  namespace?: string;

  constructor(
    private readonly client: Redis,
    private readonly keyPrefix: string,
  ) {
    super();
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    const raw = await this.client.get(this.keyPrefix + key);
    return (raw ?? undefined) as StoredData<Value> | undefined;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const reply =
      ttlMs !== undefined && ttlMs > 0
        ? await this.client.set(this.keyPrefix + key, value, 'PX', Math.ceil(ttlMs))
        : await this.client.set(this.keyPrefix + key, value);
    return reply === 'OK';
  }

  async delete(key: string): Promise<boolean> {
    return (await this.client.del(this.keyPrefix + key)) > 0;
  }

  /** Removes every key under the prefix (SCAN + UNLINK in batches, never KEYS/FLUSHDB). */
  async clear(): Promise<void> {
    const pattern = `${this.keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', CLEAR_BATCH);
      if (keys.length > 0) await this.client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}
