/** `npm run demo` as a new user meets it: it starts on its port, the requests it prints work, a taken port is one clear line. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { launchBrowser, screenshot } from './ui-browser.js';
import { freePort } from '../support/redis-instance.js';

function runDemo(port: number): { output: () => string; exited: Promise<[number | null]>; stop: () => void } {
  const child = spawn(process.execPath, ['dist/scripts/demo.js'], {
    env: { ...process.env, PORT: String(port), GATEWAY_CONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    output: () => output,
    exited: once(child, 'exit') as Promise<[number | null]>,
    stop: () => child.kill('SIGINT'),
  };
}

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not in time:\n${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('npm run demo', () => {
  it('serves the requests it prints', async () => {
    const port = await freePort();
    const demo = runDemo(port);
    try {
      await until(() => demo.output().includes('Press Ctrl-C'), 20_000, demo.output);
      const curls = [
        ...demo.output().matchAll(/curl -sN? (\S+) -H 'content-type: application\/json' \\\n\s+-d '([^']+)'/g),
      ];
      const paths = curls.map(([, url]) => new URL(url).pathname);
      for (const path of ['/v1/chat/completions', '/v1/messages', '/v1/responses'])
        assert.ok(paths.includes(path), path);
      // What each front answers with: a chat completion (or its stream), a Message, a Response.
      const shapes: Record<string, RegExp> = {
        '/v1/chat/completions': /"object":"chat\.completion|data: \[DONE\]/,
        '/v1/messages': /"type":"message"/,
        '/v1/responses': /"object":"response"/,
      };
      for (const [, url, body] of curls) {
        const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        assert.equal(response.status, 200, `${url} ${body}: ${await response.clone().text()}`);
        assert.match(await response.text(), shapes[new URL(url).pathname], url);
      }

      // The management plane on the embedded database: a key made through the admin API, the requests above in the log.
      const base = new URL(curls[0][1]).origin;
      const created = await fetch(`${base}/admin/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'demo-team-key', models: ['gpt-4o-mini'] }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      assert.match(((await created.json()) as { secret: string }).secret, /^sk-gw-/);
      const keys = (await (await fetch(`${base}/admin/keys`)).json()) as { data: Array<{ id: string }> };
      assert.ok(
        keys.data.some((key) => key.id === 'demo-team-key'),
        'listed, and the admin API still open on loopback',
      );
      await until(
        async () => {
          const log = (await (await fetch(`${base}/admin/request-log`)).json()) as { data: unknown[] };
          return log.data.length >= curls.length;
        },
        10_000,
        () => 'the requests above did not reach the request log',
      );

      // And in its admin UI, signed in from loopback with no key: the key in Keys, the requests in Logs and Usage.
      const browser = await launchBrowser();
      try {
        const { page } = browser;
        await page.goto(`${base}/ui/`);
        await page.getByRole('button', { name: 'Sign in' }).click();
        const nav = page.getByRole('navigation', { name: 'Screens' });
        await nav.getByRole('link', { name: 'Keys' }).click();
        await page.getByRole('cell', { name: 'demo-team-key' }).first().waitFor();
        await nav.getByRole('link', { name: 'Logs' }).click();
        await page.getByRole('cell', { name: 'gpt-4o-mini' }).first().waitFor();
        await screenshot(page, 'demo-logs');
        await nav.getByRole('link', { name: 'Usage' }).click();
        await page.getByRole('heading', { level: 1 }).first().waitFor();
        assert.equal(await page.getByText('need a database').count(), 0, 'the demo has one');
      } finally {
        await browser.close();
      }
    } finally {
      demo.stop();
      await demo.exited;
    }
  });

  it('on a taken port says which one and how to choose another, without a stack trace', async () => {
    const taken = createServer();
    taken.listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as { port: number }).port;
    try {
      const demo = runDemo(port);
      const [code] = await demo.exited;
      assert.equal(code, 1);
      assert.match(demo.output(), new RegExp(`port ${port} is in use .*set PORT=`));
      assert.doesNotMatch(demo.output(), /\n\s+at /, 'no stack trace');
    } finally {
      taken.close();
    }
  });
});
