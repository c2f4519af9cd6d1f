import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { formatValidationErrors } from '../common/validation/format-errors.js';
import { Limits, RateLimitConfig } from './rate-limit.config.js';

function parse(plain: object): { config: RateLimitConfig; problems: string[] } {
  const config = plainToInstance(RateLimitConfig, plain, { exposeDefaultValues: true, enableImplicitConversion: true });
  return { config, problems: formatValidationErrors(validateSync(config, { forbidUnknownValues: false })) };
}

describe('RateLimitConfig', () => {
  it('fills defaults and builds Limits instances, per model too', () => {
    const { config, problems } = parse({
      enabled: true,
      redis: { url: 'redis://:secret@redis:6379/0' },
      perModel: { 'gpt-4o': { requestsPerMinute: 500, burst: 50 } },
      defaultPerKey: { tokensPerMinute: 100_000 },
    });
    assert.deepEqual(problems, []);
    assert.equal(config.failureMode, 'failOpen');
    assert.equal(config.redis?.keyPrefix, 'llmgw:rl:');
    assert.equal(config.redis?.commandTimeoutMs, 100);
    assert.ok(config.perModel?.['gpt-4o'] instanceof Limits);
    assert.equal(config.perModel?.['gpt-4o'].burst, 50);
  });

  it('reports bad values with their path', () => {
    const { problems } = parse({
      enabled: true,
      failureMode: 'failSometimes',
      redis: { url: 'http://redis' },
      global: { burst: 10 },
      perModel: { 'gpt-4o': { tokensPerMinute: 0 }, broken: 3 },
    });
    assert.deepEqual(
      new Set(problems.map((p) => p.split(':')[0])),
      new Set(['failureMode', 'redis.url', 'global.requestsPerMinute', 'perModel']),
    );
    assert.match(problems.find((p) => p.startsWith('failureMode:')) ?? '', /failOpen, failClosed/);
    assert.match(problems.find((p) => p.startsWith('redis.url:')) ?? '', /redis:\/\//);
    assert.ok(problems.includes('global.requestsPerMinute: requestsPerMinute must be an integer number'));
    const perModel = problems.find((p) => p.startsWith('perModel:')) ?? '';
    assert.match(perModel, /gpt-4o\.tokensPerMinute: tokensPerMinute must not be less than 1/);
    assert.match(perModel, /broken: must be a mapping of limits/);
  });
});
