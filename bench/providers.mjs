// `npm run bench` (front `providers`): the gateway's own CPU per request on each provider, translation included,
// next to the openai passthrough. Every provider runs on its simulator (dist/test/simulators) in this process; the
// gateway runs alone in a child process pinned to core 0, and its CPU time (utime + stime from /proc) over a fixed
// number of requests is divided by that number, so the simulators' and the load's own costs do not count.
//   node bench/providers.mjs <out-dir> [requests per model, default 3000]
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { ProviderFleet } from '../dist/test/e2e/provider-fleet.js';

const OUT = process.argv[2] ?? join(tmpdir(), `bench-providers-${Date.now()}`);
const REQUESTS = Number(process.argv[3] ?? 3000);
const WARMUP = 1000;
const CONCURRENCY = 16;
const PORT = Number(process.env.BENCH_PROVIDERS_PORT ?? 3100);
const KEY = 'bench-key-0123456789abcdef';
const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const MODELS = ['gpt', 'azure', 'claude', 'bedrock', 'gemini', 'ernie'];
const LABELS = {
  gpt: 'openai (passthrough)',
  azure: 'azure',
  claude: 'anthropic',
  bedrock: 'bedrock (Converse)',
  gemini: 'gemini',
  ernie: 'ernie v1',
};

/** The gateway's CPU time so far, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

async function waitReady(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const response = await fetch(`${url}/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the gateway did not become ready');
}

async function run(pool, model, stream, count) {
  const body = JSON.stringify({
    model,
    messages: [{ role: 'user', content: 'Say hello to the benchmark.' }],
    max_tokens: 32,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  });
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const { statusCode, body: answer } = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body,
      });
      await answer.text();
      if (statusCode !== 200) failures++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  if (failures > 0) throw new Error(`${model}: ${failures} of ${count} requests failed`);
}

const fleet = new ProviderFleet();
await fleet.start();
mkdirSync(OUT, { recursive: true });
const configFile = join(OUT, 'providers-config.json');
writeFileSync(
  configFile,
  JSON.stringify(
    fleet.config({
      server: { port: PORT, host: '127.0.0.1' },
      auth: { keys: [{ id: 'bench', key: KEY }] },
      rateLimit: {
        enabled: true,
        global: { requestsPerMinute: 100000000, tokensPerMinute: 100000000000 },
        defaultPerKey: { requestsPerMinute: 100000000, tokensPerMinute: 100000000000 },
      },
    }),
  ),
);
const start = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).scripts.start;
const [, ...nodeArgs] = start.split(' ');
const gateway = spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], {
  cwd: new URL('..', import.meta.url).pathname,
  env: { ...process.env, GATEWAY_CONFIG: configFile },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const url = `http://127.0.0.1:${PORT}`;
const rows = [];
try {
  await waitReady(url);
  const pool = new Pool(url, { connections: CONCURRENCY });
  // Every path is compiled by the JIT before anything is measured, so the first provider is not charged for it.
  for (const model of MODELS) for (const stream of [false, true]) await run(pool, model, stream, WARMUP);
  for (const model of MODELS) {
    const row = { model };
    for (const stream of [false, true]) {
      const before = cpuSeconds(gateway.pid);
      await run(pool, model, stream, REQUESTS);
      row[stream ? 'stream' : 'nonstream'] = ((cpuSeconds(gateway.pid) - before) / REQUESTS) * 1e6;
    }
    rows.push(row);
    console.error(`${model}: ${row.nonstream.toFixed(0)} µs, stream ${row.stream.toFixed(0)} µs`);
  }
  await pool.close();
} finally {
  gateway.kill('SIGTERM');
  await new Promise((resolve) => gateway.once('exit', resolve));
  await fleet.stop();
}

const base = rows[0];
const lines = [
  `Gateway CPU per chat request by provider (${REQUESTS} requests each, c=${CONCURRENCY}, translation included)`,
  '',
  '| provider | non-stream µs/req | × openai | stream µs/req | × openai |',
  '| --- | --- | --- | --- | --- |',
  ...rows.map(
    (row) =>
      `| ${LABELS[row.model]} | ${row.nonstream.toFixed(0)} | ${(row.nonstream / base.nonstream).toFixed(2)} | ` +
      `${row.stream.toFixed(0)} | ${(row.stream / base.stream).toFixed(2)} |`,
  ),
  '',
];
writeFileSync(join(OUT, 'providers.md'), lines.join('\n'));
console.log(lines.join('\n'));
