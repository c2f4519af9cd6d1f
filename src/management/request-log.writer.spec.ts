import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NewRequestLogRow } from './database.types.js';
import { dailyAggregates, loggedBody } from './request-log.writer.js';

describe('request log rows', () => {
  it('redacts a body before cutting it, so no part of a credential survives the cut', () => {
    const body = `{"content":"sk-proj-abcdefghijklmnopqrstuvwxyz0123 and more text"}`;
    assert.equal(loggedBody(undefined, 100), null);
    assert.equal(loggedBody(body, 1_000), '{"content":"[redacted] and more text"}');
    assert.equal(loggedBody(body, 20), '{"content":"[redacte…[truncated]');
  });

  it('sums a batch per day, key, team and model; rows without a key are not usage', () => {
    const row = (overrides: Partial<NewRequestLogRow>): NewRequestLogRow =>
      ({
        at: new Date('2026-05-01T23:59:59Z'),
        key_id: 'k',
        team_id: null,
        model: 'm',
        status: 200,
        prompt_tokens: 10,
        completion_tokens: 5,
        cached_tokens: 2,
        cache_write_tokens: 0,
        reasoning_tokens: 1,
        cost_usd: 0.25,
        ...overrides,
      }) as NewRequestLogRow;
    const sums = dailyAggregates([
      row({}),
      row({ status: 429, prompt_tokens: null, completion_tokens: null, cost_usd: null }),
      row({ at: new Date('2026-05-02T00:00:00Z') }),
      row({ team_id: 't' }),
      row({ key_id: null }),
    ]);
    assert.deepEqual(
      sums.map((sum) => [sum.day, sum.key_id, sum.team_id, sum.requests, sum.errors, sum.prompt_tokens, sum.cost_usd]),
      [
        ['2026-05-01', 'k', '', 2, 1, 10, 0.25],
        ['2026-05-02', 'k', '', 1, 0, 10, 0.25],
        ['2026-05-01', 'k', 't', 1, 0, 10, 0.25],
      ],
    );
  });
});
