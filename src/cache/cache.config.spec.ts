import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { formatValidationErrors } from '../common/validation/format-errors.js';
import { CacheConfig, cacheNamespace, cacheTtlMs } from './cache.config.js';

function load(document: unknown): { config: CacheConfig; problems: string[] } {
  const config = plainToInstance(CacheConfig, document, { exposeDefaultValues: true, enableImplicitConversion: true });
  return { config, problems: formatValidationErrors(validateSync(config, { forbidUnknownValues: false })) };
}

describe('CacheConfig', () => {
  it('has safe defaults: disabled, deterministic, per key, L1 only', () => {
    const { config, problems } = load({});
    assert.deepEqual(problems, []);
    assert.equal(config.enabled, false);
    assert.equal(config.mode, 'deterministic');
    assert.equal(config.defaultTtlSeconds, 3_600);
    assert.equal(config.shared, false);
    assert.deepEqual({ ...config.l1 }, { maxEntries: 1_000, maxBytes: 64 * 1024 * 1024 });
    assert.equal(config.redis, undefined);
    assert.equal(config.errorLogIntervalMs, 30_000);
  });

  it('fills Redis defaults', () => {
    const { config, problems } = load({ enabled: true, redis: { url: 'redis://:secret@redis:6379/0' } });
    assert.deepEqual(problems, []);
    assert.equal(config.redis?.keyPrefix, 'llmgw:cache:');
    assert.equal(config.redis?.commandTimeoutMs, 200);
  });

  it('accepts a TTL table, converting numeric strings from ${ENV} substitution', () => {
    const { config, problems } = load({ ttlSecondsByModel: { 'gpt-4o': '60', small: 5 } });
    assert.deepEqual(problems, []);
    assert.deepEqual(config.ttlSecondsByModel, { 'gpt-4o': 60, small: 5 });
  });

  it('reports each bad field by path', () => {
    const { problems } = load({
      mode: 'sometimes',
      defaultTtlSeconds: 0,
      ttlSecondsByModel: { 'gpt-4o': 'soon' },
      l1: { maxEntries: 0 },
      redis: { url: 'http://redis:6379' },
    });
    assert.deepEqual(
      problems.map((line) => line.split(':')[0]),
      ['mode', 'defaultTtlSeconds', 'ttlSecondsByModel', 'l1.maxEntries', 'redis.url'],
    );
  });
});

describe('cacheTtlMs / cacheNamespace', () => {
  it('uses the per-model TTL, else the default', () => {
    const { config } = load({ defaultTtlSeconds: 100, ttlSecondsByModel: { fast: 5 } });
    assert.equal(cacheTtlMs(config, 'fast'), 5_000);
    assert.equal(cacheTtlMs(config, 'other'), 100_000);
    assert.equal(cacheTtlMs(config, 'constructor'), 100_000);
  });

  it('namespaces per gateway key unless shared', () => {
    assert.equal(cacheNamespace(load({}).config, 'key_1'), 'key_1');
    assert.equal(cacheNamespace(load({ shared: true }).config, 'key_1'), 'shared');
  });
});
