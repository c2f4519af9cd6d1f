/**
 * scripts/run-simulators.ts as the simulators container runs it: a separate node process that serves both
 * simulators with the keys the compose config uses, and exits 0 on SIGTERM (what `docker compose stop` sends).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { ANTHROPIC_SIMULATOR, OPENAI_SIMULATOR } from '../../scripts/run-simulators.js';
import { repoPath } from './deploy-files.js';

describe('scripts/run-simulators', () => {
  it('serves OpenAI and Anthropic with the demo keys and stops cleanly on SIGTERM', { timeout: 20_000 }, async () => {
    const child = spawn(process.execPath, [repoPath('dist/scripts/run-simulators.js')], {
      env: { ...process.env, SIM_HOST: '127.0.0.1', SIM_OPENAI_PORT: '0', SIM_ANTHROPIC_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      const urls: Record<string, string> = {};
      for await (const line of createInterface({ input: child.stdout })) {
        const match = /^(openai|anthropic) simulator listening on (\S+)$/.exec(line);
        if (match) urls[match[1]] = match[2];
        if (urls.openai && urls.anthropic) break;
      }
      assert.match(urls.openai, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);

      const models = await fetch(`${urls.openai}/models`, {
        headers: { authorization: `Bearer ${OPENAI_SIMULATOR.apiKey}` },
      });
      assert.equal(models.status, 200);
      const wrongKey = await fetch(`${urls.openai}/models`, { headers: { authorization: 'Bearer sk-wrong' } });
      assert.equal(wrongKey.status, 401);

      const message = await fetch(`${urls.anthropic}/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': ANTHROPIC_SIMULATOR.apiKey,
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify({
          model: 'claude-3-5-haiku-latest',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      });
      assert.equal(message.status, 200, await message.clone().text());
      assert.equal(((await message.json()) as { type: string }).type, 'message');

      child.kill('SIGTERM');
      const [code, signal] = await exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
