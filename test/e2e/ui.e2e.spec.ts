/**
 * The admin web UI in a real headless Chromium, against a gateway on PostgreSQL (a schema of this test's own) and
 * the OpenAI simulator: sign in with an admin key, every screen, create a key and use it through the API, see the
 * request in Logs and its cost in Usage, test a deployment, stream in the Playground, phone width and dark mode,
 * sign out. Then the file-only gateway (the demo's shape: no database, no keys) where the database screens say what
 * they need. Every screen is saved as a screenshot (see ui-browser.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';
import { testSchema, type TestSchema } from '../support/postgres.js';
import { type RunningGateway, startGateway } from './harness.js';
import { launchBrowser, screenshot, type TestBrowser } from './ui-browser.js';

const ADMIN_KEY = 'gk-ui-admin-0123456789abcdef';
const USER_KEY = 'gk-ui-user-0123456789abcdef';
const PRICING = { inputPerMillion: 150, outputPerMillion: 600 };

function gatewayDocument(simUrl: string, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    providers: [
      { name: 'sim', type: 'openai', baseUrl: simUrl, apiKey: 'sk-sim' },
      { name: 'sim-backup', type: 'openai', baseUrl: simUrl, apiKey: 'sk-sim' },
    ],
    models: [
      {
        name: 'gpt-test',
        pricing: PRICING,
        deployments: [
          { provider: 'sim', model: 'sim-model', weight: 3 },
          { provider: 'sim-backup', model: 'sim-model', weight: 1 },
        ],
      },
      { name: 'gpt-small', pricing: PRICING, deployments: [{ provider: 'sim', model: 'sim-small' }] },
    ],
    ...extra,
  };
}

async function chat(url: string, key: string, content: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', temperature: 0, messages: [{ role: 'user', content }] }),
  });
}

/** Waits until `read` gives `expected` (screens reload after a filter changes), then asserts it. */
async function eventually<T>(read: () => Promise<T>, expected: T, message: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let value = await read();
  while (value !== expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  assert.equal(value, expected, message);
}

async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/ui/`);
  await page.getByLabel('Admin key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Screens' }).waitFor();
}

async function open(page: Page, screen: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: screen }).click();
  await page.getByRole('heading', { level: 1 }).first().waitFor();
}

/** A day of earlier traffic in the tables the admin API reads (what the request log writer leaves behind). */
async function seedHistory(schema: TestSchema): Promise<void> {
  const yesterday = new Date(Date.now() - 86_400_000);
  await schema.query(
    `INSERT INTO request_log (at, request_id, key_id, team_id, front, operation, model, served_model, deployment,
       provider, attempts, fallbacks, stream, status, error_code, prompt_tokens, completion_tokens, cached_tokens,
       cache_write_tokens, reasoning_tokens, tokens_estimated, cost_usd, latency_ms, overhead_ms, ttft_ms,
       upstream_ms, cache)
     VALUES ($1, 'req-seed-1', 'yaml-user', NULL, 'chat', 'chat', 'gpt-test', 'gpt-test', 'sim/sim-model', 'sim',
       2, 0, true, 200, NULL, 1200, 340, 800, 0, 64, false, 0.384, 912.5, 1.8, 240.2, 905.1, 'miss'),
       ($1, 'req-seed-2', 'yaml-user', NULL, 'messages', 'chat', 'gpt-small', NULL, 'sim/sim-small', 'sim',
       1, 0, false, 503, 'upstream_unavailable', NULL, NULL, NULL, NULL, NULL, false, NULL, 30.2, 0.9, NULL, 29.0,
       'bypass')`,
    [yesterday],
  );
  const day = yesterday.toISOString().slice(0, 10);
  await schema.query(
    `INSERT INTO usage_daily VALUES ($1, 'yaml-user', '', 'gpt-test', 41, 2, 52000, 12000, 30000, 0, 2500, 15.0),
       ($1, 'yaml-user', '', 'gpt-small', 12, 1, 8000, 3000, 0, 0, 0, 3.0)`,
    [day],
  );
}

describe('admin web UI in Chromium (PostgreSQL)', () => {
  let simulator: OpenAiSimulator;
  let schema: TestSchema;
  let gateway: RunningGateway;
  let browser: TestBrowser;
  let page: Page;
  let secret = '';

  before(async () => {
    simulator = new OpenAiSimulator({ apiKey: 'sk-sim', chunkDelayMs: 5 });
    const simUrl = await simulator.start(0);
    schema = await testSchema('ui_e2e');
    gateway = await startGateway(
      gatewayDocument(simUrl, {
        auth: {
          enabled: true,
          keys: [
            { id: 'ops', key: ADMIN_KEY, admin: true },
            { id: 'yaml-user', key: USER_KEY },
          ],
        },
        database: schema.section({ requestLog: { flushIntervalMs: 50 } }),
        cache: { enabled: true },
        // The shared state of a real deployment: limits, token and USD budgets and usage totals in Redis.
        rateLimit: {
          enabled: true,
          redis: { url: 'redis://127.0.0.1:6379', keyPrefix: `llmgw:ui-e2e:${process.pid}:` },
        },
      }),
    );
    await seedHistory(schema);
    browser = await launchBrowser();
    page = browser.page;
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await schema?.drop();
    await simulator?.stop();
  });

  it('serves the built UI with cache headers and precompressed bodies, and no admin data without a session', async () => {
    const index = await fetch(`${gateway.url}/ui/`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-encoding'), 'br');
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const js = await fetch(`${gateway.url}${script}`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(js.headers.get('content-encoding'), 'gzip');
    assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const etag = js.headers.get('etag')!;
    const again = await fetch(`${gateway.url}${script}`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await fetch(`${gateway.url}/admin/stats`)).status, 401);
    const report = JSON.parse(readFileSync('dist/ui/build-report.json', 'utf8')) as { firstScreenJsGzipBytes: number };
    assert.ok(
      report.firstScreenJsGzipBytes <= 200 * 1024,
      `first screen JS ${report.firstScreenJsGzipBytes} B gzipped`,
    );
  });

  it('refuses a wrong key, then signs in with the admin key for an HttpOnly SameSite=Strict cookie', async () => {
    await page.goto(`${gateway.url}/ui/`);
    await screenshot(page, 'sign-in');
    await page.getByLabel('Admin key').fill(USER_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'may not call admin endpoints' }).waitFor();
    await signIn(page, gateway.url, ADMIN_KEY);
    const [cookie] = await browser.context.cookies(gateway.url);
    assert.equal(cookie.name, 'llmgw_ui_session');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    // The cookie alone does not make a change: the CSRF token must come with it.
    const forged = await page.evaluate(async () => {
      const response = await fetch('/admin/teams', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'forged', name: 'Forged' }),
      });
      return response.status;
    });
    assert.equal(forged, 403);
  });

  it('shows live figures on the Overview', async () => {
    // Traffic across two sampling intervals: answers, a repeat the cache serves, streams (for TTFT), a 404.
    const traffic = async (round: number) => {
      for (let i = 0; i < 4; i++)
        assert.equal((await chat(gateway.url, USER_KEY, `warm up ${round} ${i}`)).status, 200);
      assert.equal((await chat(gateway.url, USER_KEY, 'warm up 0 0')).status, 200);
      for (let i = 0; i < 2; i++) {
        const stream = await fetch(`${gateway.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${USER_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'gpt-test',
            stream: true,
            messages: [{ role: 'user', content: `s ${round} ${i}` }],
          }),
        });
        await stream.text();
      }
      await fetch(`${gateway.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${USER_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
      });
    };
    await traffic(0);
    await open(page, 'Overview');
    await page.waitForTimeout(5_500);
    await traffic(1);
    await page.getByText('Requests/s', { exact: true }).waitFor();
    await page.locator('.chart canvas').first().waitFor();
    assert.ok((await page.locator('.chart').count()) >= 4);
    await page.waitForTimeout(5_500); // another sample, and a refresh
    await page.getByText('TTFT p50 / p95').waitFor();
    await screenshot(page, 'overview');
  });

  it('creates a key (the secret shown once) and a team', async () => {
    await open(page, 'Keys');
    await page.getByRole('button', { name: 'Add team' }).waitFor();
    await page.getByLabel('Team id').fill('research');
    await page.getByLabel('Name', { exact: true }).fill('Research');
    await page.getByRole('button', { name: 'Add team' }).click();
    await page.getByRole('cell', { name: 'Research', exact: true }).waitFor();
    await page.getByRole('button', { name: 'New key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New key' });
    await dialog.getByLabel('Id', { exact: true }).fill('ui-e2e');
    await dialog.getByLabel('Team').selectOption('research');
    await dialog.getByLabel('Budget, USD per day').fill('2');
    await dialog.getByLabel('Requests per minute').fill('600');
    await dialog.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByTestId('secret');
    secret = (await shown.textContent()) ?? '';
    assert.match(secret, /^sk-gw-/);
    await screenshot(page, 'keys-secret');
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'ui-e2e', exact: true }).waitFor();
    assert.equal(await page.getByTestId('secret').count(), 0, 'the secret is not shown again');
    await screenshot(page, 'keys');
  });

  it('edits, rotates with confirmation', async () => {
    await page.getByRole('button', { name: 'Edit ui-e2e' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit ui-e2e' });
    await dialog.getByLabel('Models').fill('gpt-test, gpt-small');
    await dialog.getByLabel('Log request and response bodies').check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'gpt-test, gpt-small' }).waitFor();
    await page.getByText('bodies logged').waitFor();
    await page.getByRole('button', { name: 'Rotate ui-e2e' }).click();
    await page.getByRole('dialog', { name: 'Rotate key' }).getByRole('button', { name: 'Rotate' }).click();
    const rotated = (await page.getByTestId('secret').textContent()) ?? '';
    assert.match(rotated, /^sk-gw-/);
    assert.notEqual(rotated, secret);
    secret = rotated;
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByText('old secret until').waitFor();
  });

  it('uses the new key through the API, then sees the request in Logs and its cost in Usage', async () => {
    const response = await chat(gateway.url, secret, 'hello from the UI test');
    assert.equal(response.status, 200, await response.clone().text());
    const requestId = response.headers.get('x-request-id')!;
    await open(page, 'Logs');
    const row = page.getByRole('button', { name: /Z$/ }).first();
    for (let i = 0; i < 20 && !(await page.getByRole('cell', { name: 'ui-e2e', exact: true }).count()); i++) {
      await page.waitForTimeout(250);
      await page.getByRole('button', { name: 'Refresh' }).click();
    }
    await page.getByLabel('Key').fill('ui-e2e');
    await page.getByRole('button', { name: 'Apply' }).click();
    await row.click();
    await page.getByRole('heading', { name: `Request ${requestId}` }).waitFor();
    // The key logs bodies (set when it was edited): its request is shown, redacted of nothing secret here.
    await page.getByTestId('request-body').filter({ hasText: 'hello from the UI test' }).waitFor();
    await screenshot(page, 'logs-detail-live');
    await open(page, 'Usage');
    await page.getByRole('cell', { name: 'ui-e2e', exact: true }).waitFor();
    const cost = (await page.getByTestId('usage-cost').textContent()) ?? '';
    assert.notEqual(cost, '$0');
  });

  it('filters the request log and shows one request in detail', async () => {
    await open(page, 'Logs');
    // The rows of yesterday the test wrote (today's are live traffic).
    const today = `${new Date().toISOString().slice(0, 10)}T00:00`;
    await page.getByLabel('To (UTC)').fill(today);
    await page.getByLabel('Model').fill('gpt-test');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('cell', { name: 'sim/sim-small' }).first().waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'sim/sim-model' }).first().waitFor();
    await page.getByLabel('Model').fill('');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('cell', { name: 'sim/sim-small' }).first().waitFor();
    await page
      .getByRole('row', { name: /gpt-test/ })
      .first()
      .getByRole('button')
      .click();
    await page.getByRole('heading', { name: /^Request / }).waitFor();
    await page.getByText('2 upstream attempts').waitFor();
    await page.getByText('Not logged for this request').waitFor();
    await screenshot(page, 'logs');
  });

  it('charts usage by key and model over a date range and exports CSV', async () => {
    await open(page, 'Usage');
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From').fill(yesterday);
    await page.getByLabel('To', { exact: true }).fill(yesterday);
    await page.getByRole('cell', { name: 'yaml-user' }).first().waitFor();
    await eventually(() => page.getByTestId('usage-cost').textContent(), '$18.00', 'the day the test wrote');
    await page.getByLabel('Group by').selectOption('model');
    await page.getByRole('cell', { name: 'gpt-small' }).first().waitFor();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const file = await download;
    assert.match(file.suggestedFilename(), /^usage-.*-by-model\.csv$/);
    const csv = readFileSync(await file.path(), 'utf8');
    assert.match(csv, /^day,group,requests,errors,prompt_tokens,cached_tokens/);
    assert.match(csv, /,gpt-small,12,1,8000,0,0,0,3000,3\r\n/);
    await page.getByLabel('To', { exact: true }).fill(new Date().toISOString().slice(0, 10));
    await page.getByLabel('From').fill(new Date(Date.now() - 6 * 86_400_000).toISOString().slice(0, 10));
    await page.getByRole('cell', { name: 'gpt-test' }).nth(1).waitFor();
    await screenshot(page, 'usage');
  });

  it('lists deployments with weights and breakers, and tests one', async () => {
    await open(page, 'Providers');
    await page.getByRole('cell', { name: 'sim-backup/sim-model', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Test sim-backup/sim-model' }).click();
    await page.getByText(/^OK in /).waitFor();
    await screenshot(page, 'providers');
  });

  it('streams a chat in the Playground with a pasted key, showing tokens, cost and headers', async () => {
    await open(page, 'Playground');
    await page.getByLabel('Gateway key').fill(USER_KEY);
    await page.getByLabel('Message', { exact: true }).fill('Stream five words please');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await page.getByTestId('answer').filter({ hasText: /\w+/ }).waitFor();
    await page.getByRole('rowheader', { name: 'x-request-id' }).waitFor();
    await page.getByText(/\d+ prompt/).waitFor();
    await screenshot(page, 'playground');
    // A playground key minted through the admin API (an hour, this model only) streams too.
    await page.getByLabel('Front').selectOption('responses');
    await page.getByRole('button', { name: 'Mint a 1-hour playground key' }).click();
    await page.getByText(/Using playground key \S+, which expires in an hour/).waitFor();
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await page.getByTestId('answer').filter({ hasText: /\w+/ }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 0, (await page.locator('main').textContent()) ?? '');
    await page.getByLabel('Front').selectOption('messages');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await page.getByTestId('answer').filter({ hasText: /\w+/ }).waitFor();
  });

  it('is readable at 390 px wide and in dark mode', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await open(page, 'Overview');
    await page.locator('.chart canvas').first().waitFor();
    await screenshot(page, 'overview-phone');
    await open(page, 'Keys');
    await page.getByRole('cell', { name: 'ui-e2e', exact: true }).waitFor();
    // Wide tables and the screen tabs scroll inside their own box; the page itself never scrolls sideways.
    const wide = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap, nav'))
      .map((e) => e.tagName + '.' + e.className)`);
    assert.deepEqual(wide, [], 'elements wider than a 390 px screen');
    assert.equal(await page.evaluate<number>('document.documentElement.scrollWidth'), 390, 'no sideways scrolling');
    await screenshot(page, 'keys-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ colorScheme: 'dark' });
    await open(page, 'Overview');
    await page.locator('.chart canvas').first().waitFor();
    await screenshot(page, 'overview-dark');
    await open(page, 'Providers');
    await screenshot(page, 'providers-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('works by keyboard: the navigation is reachable with Tab and follows Enter', async () => {
    await page.goto(`${gateway.url}/ui/#/overview`);
    await page.reload();
    await page.getByRole('navigation', { name: 'Screens' }).waitFor();
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate<string | undefined>('document.activeElement?.textContent')) === 'Keys') break;
    }
    assert.equal(await page.evaluate<string | undefined>('document.activeElement?.textContent'), 'Keys');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Keys', level: 1 }).waitFor();
  });

  it('signs out: the cookie no longer opens admin routes', async () => {
    const before = await browser.context.cookies(gateway.url);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin key').waitFor();
    const stale = await fetch(`${gateway.url}/admin/stats`, {
      headers: { cookie: `${before[0].name}=${before[0].value}` },
    });
    assert.equal(stale.status, 401);
  });
});

describe('admin web UI in Chromium (file-only gateway, like the demo)', () => {
  let simulator: OpenAiSimulator;
  let gateway: RunningGateway;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    simulator = new OpenAiSimulator({ apiKey: 'sk-sim' });
    gateway = await startGateway(gatewayDocument(await simulator.start(0), { auth: { enabled: false } }));
    browser = await launchBrowser();
    page = browser.page;
  });
  after(async () => {
    await browser?.close();
    await gateway?.close();
    await simulator?.stop();
  });

  it('lets a loopback caller in without a key when the gateway has none, and says what needs a database', async () => {
    await signIn(page, gateway.url, '');
    await open(page, 'Keys');
    await page.getByRole('heading', { name: 'Keys and teams need a database' }).waitFor();
    await screenshot(page, 'keys-no-database');
    await open(page, 'Usage');
    await page.getByRole('heading', { name: 'Usage reports need a database' }).waitFor();
    await open(page, 'Logs');
    await page.getByRole('heading', { name: 'Request logs need a database' }).waitFor();
    await open(page, 'Playground');
    await page.getByText('Auth is off on this gateway: no key is needed.').waitFor();
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await page.getByTestId('answer').filter({ hasText: /\w+/ }).waitFor();
    await open(page, 'Overview');
    await page.getByText('Per-key budgets need the').waitFor();
  });
});
