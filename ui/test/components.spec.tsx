import { input, mockFetch, settle } from './dom.js';
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { render } from 'preact';
import type { Session } from '../src/api.js';
import { useSession } from '../src/api.js';
import { SpendBar } from '../src/components/common.js';
import { Keys, keyBody } from '../src/screens/keys.js';
import { LogDetail, Logs } from '../src/screens/logs.js';
import { SignIn } from '../src/screens/sign-in.js';
import { Usage, usageCsv } from '../src/screens/usage.js';
import type { RequestLogEntry } from '../src/types.js';

const SESSION: Session = {
  signedIn: true,
  keyId: 'ops',
  csrfToken: 'csrf-1',
  expiresAt: null,
  database: true,
  auth: true,
};
const FILE_ONLY: Session = { ...SESSION, database: false };

function mount(node: preact.ComponentChild): HTMLElement {
  const root = document.createElement('div');
  document.body.append(root);
  render(node, root);
  return root;
}

afterEach(() => {
  document.body.innerHTML = '';
});

const ENTRY: RequestLogEntry = {
  object: 'request',
  id: 7,
  at: '2026-12-06T10:00:00.000Z',
  requestId: 'req-7',
  traceId: null,
  keyId: 'team-a',
  teamId: 'research',
  front: 'chat',
  operation: 'chat',
  model: 'gpt-test',
  servedModel: 'gpt-backup',
  deployment: 'sim/backup',
  provider: 'sim',
  attempts: 3,
  fallbacks: 1,
  stream: true,
  status: 200,
  errorCode: null,
  tokens: { prompt: 100, completion: 20, cached: 40, cacheWrite: 0, reasoning: 5, estimated: false },
  costUsd: 0.0123,
  latencyMs: 1000,
  overheadMs: 2,
  ttftMs: 300,
  upstreamMs: 900,
  cache: 'miss',
};

describe('UI components', () => {
  it('signs in by sending the key as a bearer token, and shows the refusal', async () => {
    let signedIn: Session | undefined;
    const calls = mockFetch((_path, init) => {
      const auth = new Headers(init?.headers).get('authorization');
      if (auth === 'Bearer good-key-0123456789')
        return new Response(JSON.stringify(SESSION), { status: 201, headers: { 'content-type': 'application/json' } });
      return new Response(
        JSON.stringify({ error: { message: 'Incorrect API key provided.', code: 'invalid_api_key' } }),
        {
          status: 401,
        },
      );
    });
    const root = mount(<SignIn onSignedIn={(session) => (signedIn = session)} />);
    const field = root.querySelector('#admin-key');
    assert.ok(root.querySelector('label[for="admin-key"]'), 'the field is labelled');
    input(field, 'bad');
    await settle();
    root.querySelector('form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await settle();
    assert.match(root.querySelector('[role="alert"]')?.textContent ?? '', /Incorrect API key provided/);
    input(field, 'good-key-0123456789');
    await settle();
    root.querySelector('form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await settle();
    assert.equal(signedIn?.keyId, 'ops');
    assert.equal(calls.length, 2);
    assert.equal(calls[1].path, '/ui/api/session');
    assert.equal((root.querySelector('#admin-key') as HTMLInputElement).value, '', 'the key is not kept');
  });

  it('says that Keys, Usage and Logs need a database on a file-only gateway', () => {
    const root = mount(
      <>
        <Keys session={FILE_ONLY} />
        <Usage session={FILE_ONLY} />
        <Logs session={FILE_ONLY} />
      </>,
    );
    const notices = [...root.querySelectorAll('[role="status"] h2')].map((h) => h.textContent);
    assert.deepEqual(notices, [
      'Keys and teams need a database',
      'Usage reports need a database',
      'Request logs need a database',
    ]);
  });

  it('lists keys with spend bars and sends the CSRF token on a revoke it asked to confirm', async () => {
    useSession(SESSION, () => undefined);
    const calls = mockFetch((path) => {
      if (path.startsWith('/admin/keys?'))
        return {
          object: 'list',
          hasMore: false,
          nextCursor: null,
          data: [
            {
              object: 'key',
              id: 'team-a',
              prefix: 'sk-gw-abc123',
              teamId: null,
              models: null,
              limits: { requestsPerMinute: 60, burst: null, tokensPerMinute: null },
              budget: { tokensPerDay: null, tokensPerMonth: null, usdPerDay: 2, usdPerMonth: null },
              expiresAt: null,
              revokedAt: null,
              previousSecretValidUntil: null,
              metadata: {},
              createdAt: '2026-12-01T00:00:00Z',
              updatedAt: '2026-12-01T00:00:00Z',
            },
          ],
        };
      if (path.startsWith('/admin/teams')) return { object: 'list', data: [], hasMore: false, nextCursor: null };
      if (path.startsWith('/admin/daily-usage')) return { object: 'list', data: [{ key: 'team-a', costUsd: 1.5 }] };
      if (path === '/admin/routing') return { models: [{ model: 'gpt-test', deployments: [] }] };
      return { object: 'key', id: 'team-a' };
    });
    const root = mount(<Keys session={SESSION} />);
    await settle();
    const meter = root.querySelector('[role="meter"]');
    assert.equal(meter?.getAttribute('aria-valuenow'), '1.5');
    assert.equal(meter?.getAttribute('aria-valuemax'), '2');
    const revoke = [...root.querySelectorAll('button')].find((b) => b.textContent === 'Revoke team-a')!;
    revoke.click();
    await settle();
    assert.equal(
      calls.filter((c) => c.init?.method === 'POST').length,
      0,
      'nothing is revoked before the confirmation',
    );
    const confirm = [...root.querySelectorAll<HTMLButtonElement>('dialog button')].find(
      (b) => b.textContent === 'Revoke',
    )!;
    confirm.click();
    await settle();
    const post = calls.find((c) => c.init?.method === 'POST')!;
    assert.equal(post.path, '/admin/keys/team-a/revoke');
    assert.equal(new Headers(post.init?.headers).get('x-csrf-token'), 'csrf-1');
  });

  it('builds key bodies: empty fields left out on create, cleared on update', () => {
    const form = {
      id: '',
      teamId: '',
      models: 'gpt-a, gpt-b',
      requestsPerMinute: '60',
      tokensPerMinute: '',
      usdPerDay: '2.5',
      usdPerMonth: '',
      tokensPerDay: '',
      expiresAt: '',
      logBodies: false,
    };
    assert.deepEqual(keyBody(form, true), {
      models: ['gpt-a', 'gpt-b'],
      limits: { requestsPerMinute: 60 },
      budget: { usdPerDay: 2.5 },
    });
    assert.deepEqual(keyBody(form, false), {
      teamId: null,
      models: ['gpt-a', 'gpt-b'],
      limits: { requestsPerMinute: 60, tokensPerMinute: null },
      budget: { usdPerDay: 2.5, usdPerMonth: null, tokensPerDay: null },
      expiresAt: null,
      logBodies: false,
    });
    assert.equal(keyBody({ ...form, logBodies: true }, true).logBodies, true);
  });

  it('shows a request’s attempts, fallback, latency split, tokens and that bodies are not logged', () => {
    const root = mount(<LogDetail entry={ENTRY} onClose={() => undefined} />);
    const text = root.textContent ?? '';
    assert.match(text, /3 upstream attempts, 1 fallback: asked for gpt-test, served by gpt-backup/);
    assert.match(text, /sim\/backup/);
    assert.match(text, /upstream 900 ms/);
    assert.match(text, /gateway overhead 2\.00 ms/);
    assert.match(text, /100 \(40 cached/);
    assert.match(text, /\$0\.01/);
    assert.match(text, /Not logged/);
  });

  it('shows logged bodies, indented when they are JSON', () => {
    const root = mount(
      <LogDetail
        entry={{ ...ENTRY, requestBody: '{"model":"gpt-test","messages":[]}', responseBody: 'data: {"cut' }}
        onClose={() => undefined}
      />,
    );
    assert.equal(
      root.querySelector('[data-testid="request-body"]')?.textContent,
      '{\n  "model": "gpt-test",\n  "messages": []\n}',
    );
    assert.equal(root.querySelector('[data-testid="response-body"]')?.textContent, 'data: {"cut');
    assert.doesNotMatch(root.textContent ?? '', /Not logged/);
  });

  it('draws spend bars that turn red over budget', () => {
    const root = mount(
      <>
        <SpendBar used={3} limit={2} label="over" />
        <SpendBar used={1} limit={null} label="none" />
      </>,
    );
    assert.ok(root.querySelector('.bar.over'));
    assert.match(root.textContent ?? '', /150%no budget/);
  });

  it('exports usage as CSV with every token kind', () => {
    const csv = usageCsv(
      [
        {
          day: '2026-12-06',
          model: 'gpt-test',
          requests: 2,
          errors: 0,
          promptTokens: 10,
          completionTokens: 4,
          cachedTokens: 3,
          cacheWriteTokens: 1,
          reasoningTokens: 2,
          costUsd: 0.5,
        },
      ],
      'model',
    );
    assert.equal(
      csv,
      'day,group,requests,errors,prompt_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,completion_tokens,cost_usd\r\n' +
        '2026-12-06,gpt-test,2,0,10,3,1,2,4,0.5\r\n',
    );
  });
});
