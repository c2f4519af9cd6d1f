/**
 * Session affinity measured: a 20-turn agent session (a system prompt, then user and assistant turns resent in full
 * every turn, as agents do) over a model group of two deployments, each its own simulator with its own prompt cache
 * (a repeated prefix is reported as cached input, per deployment). The cached share of all input tokens, with
 * affinity and without it (round-robin), is printed as a test diagnostic and quoted in the README. Then the rules:
 * a session moves once when its deployment fails, and replicas sharing Redis route a session alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { postJson, type RunningGateway, startGateway } from './harness.js';

const SUITE = { timeout: 60_000 };
const TURNS = 20;
const SYSTEM = `You are a coding agent. ${'Follow the house rules for tools, files, tests and commits. '.repeat(40)}`;
const SESSION_HEADER = 'x-session-id';

interface Turn {
  prompt: number;
  cached: number;
  deployment: string;
}

function groupConfig(east: string, west: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const provider = (name: string, baseUrl: string) => ({ name, type: 'openai', baseUrl, retry: { retries: 0 } });
  return {
    providers: [provider('east', east), provider('west', west)],
    models: [
      {
        name: 'agent',
        strategy: 'round-robin',
        deployments: [
          { provider: 'east', model: 'gpt-4o-mini' },
          { provider: 'west', model: 'gpt-4o-mini' },
        ],
      },
    ],
    routing: { breaker: { failureThreshold: 100 } },
    ...extra,
  };
}

/** Runs one session of `TURNS` turns; each turn resends the whole conversation. */
async function session(gateway: RunningGateway, id: string): Promise<Turn[]> {
  const messages: Array<{ role: string; content: string }> = [{ role: 'system', content: SYSTEM }];
  const turns: Turn[] = [];
  for (let turn = 1; turn <= TURNS; turn++) {
    messages.push({ role: 'user', content: `Step ${turn}: look at file ${turn}.ts and tell me what it does.` });
    const response = await postJson(
      `${gateway.url}/v1/chat/completions`,
      { model: 'agent', messages },
      { [SESSION_HEADER]: id },
    );
    assert.equal(response.status, 200);
    const completion = (await response.json()) as {
      choices: Array<{ message: { content: string } }>;
      usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens?: number } };
    };
    turns.push({
      prompt: completion.usage.prompt_tokens,
      cached: completion.usage.prompt_tokens_details?.cached_tokens ?? 0,
      deployment: response.headers.get('x-gateway-deployment') ?? '',
    });
    messages.push({ role: 'assistant', content: completion.choices[0].message.content });
  }
  return turns;
}

function cachedShare(turns: Turn[]): number {
  const prompt = turns.reduce((sum, turn) => sum + turn.prompt, 0);
  const cached = turns.reduce((sum, turn) => sum + turn.cached, 0);
  return cached / prompt;
}

describe('session affinity', SUITE, () => {
  const east = new OpenAiSimulator({ name: 'east' });
  const west = new OpenAiSimulator({ name: 'west' });
  let urls: [string, string];

  before(async () => {
    urls = [await east.start(), await west.start()];
  });
  after(async () => {
    await Promise.all([east.stop(), west.stop()]);
  });

  it('keeps a session’s prompt cache warm: cached share of input with and without affinity', async (t: TestContext) => {
    const shares: Record<string, number> = {};
    for (const enabled of [true, false]) {
      east.reset();
      west.reset();
      const gateway = await startGateway(groupConfig(...urls, { routing: { affinity: { enabled } } }));
      try {
        const turns = await session(gateway, `session-${String(enabled)}`);
        const deployments = new Set(turns.map((turn) => turn.deployment));
        assert.equal(deployments.size, enabled ? 1 : 2, [...deployments].join(', '));
        shares[enabled ? 'with' : 'without'] = cachedShare(turns);
      } finally {
        await gateway.close();
      }
    }
    t.diagnostic(
      `cached share of input over ${TURNS} turns, two deployments: with affinity ${(shares.with * 100).toFixed(1)} %, ` +
        `without (round-robin) ${(shares.without * 100).toFixed(1)} %`,
    );
    assert.ok(shares.with >= 0.9, `with affinity: ${shares.with}`);
    assert.ok(shares.without < shares.with - 0.05, `without: ${shares.without}, with: ${shares.with}`);
  });

  it('moves a session once when its deployment fails, and keeps it there', async () => {
    east.reset();
    west.reset();
    const gateway = await startGateway(groupConfig(...urls));
    try {
      const ask = async () => {
        const response = await postJson(
          `${gateway.url}/v1/chat/completions`,
          { model: 'agent', messages: [{ role: 'user', content: 'hi' }] },
          { [SESSION_HEADER]: 'moving' },
        );
        assert.equal(response.status, 200);
        await response.arrayBuffer();
        return response.headers.get('x-gateway-deployment');
      };
      const first = await ask();
      assert.equal(await ask(), first);
      const [pinned, other] = first === 'east/gpt-4o-mini' ? [east, west] : [west, east];
      pinned.enqueueFault({ status: 500 });
      const moved = await ask();
      assert.notEqual(moved, first);
      assert.equal(other.requests.length, 1);
      // The old deployment is healthy again; the session stays where it moved.
      for (let i = 0; i < 3; i++) assert.equal(await ask(), moved);
    } finally {
      await gateway.close();
    }
  });

  it('routes a session alike on replicas that share Redis', async () => {
    const redis = { url: 'redis://127.0.0.1:6379', keyPrefix: `llmgw:test:affinity:${process.pid}-${Date.now()}:` };
    const config = groupConfig(...urls, { routing: { affinity: { redis } } });
    const replicas = [await startGateway(config), await startGateway(config)];
    try {
      const ask = async (replica: RunningGateway, id: string) => {
        const response = await postJson(
          `${replica.url}/v1/chat/completions`,
          { model: 'agent', messages: [{ role: 'user', content: 'hi' }] },
          id === '' ? {} : { [SESSION_HEADER]: id },
        );
        await response.arrayBuffer();
        return response.headers.get('x-gateway-deployment');
      };
      // One request without a session puts the second replica's round-robin a step ahead of the first's.
      await ask(replicas[1], '');
      for (let i = 0; i < 4; i++) {
        const id = `shared-${i}`;
        const first = await ask(replicas[0], id);
        // The pin reaches Redis in the background; the other replica reads it on its first request of the session.
        await new Promise((resolve) => setTimeout(resolve, 50));
        // Round-robin alone would alternate: the second replica follows the first one's pin instead.
        assert.equal(await ask(replicas[1], id), first, id);
      }
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
});
