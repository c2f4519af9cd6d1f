#!/usr/bin/env node
// Memory-leak check: drives the gateway with mixed streaming / non-streaming traffic at a fixed rate for a
// fixed time, samples the gateway's RSS every second, and compares the RSS after warm-up with the RSS at the
// end. Starts its own mock upstream (the shared bench's) and gateway (config/bench.yaml); all traffic goes to
// 127.0.0.1 and stops by itself.
//   node bench/soak.mjs [--minutes 10] [--rate 200] [--stream-share 0.3] [--warmup-s 60]
// Exit code 1 when RSS grew by 10 % or more after warm-up.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HARNESS = process.env.BENCH_HARNESS ?? path.join(ROOT, '..', 'shared', 'bench');
const args = Object.fromEntries(
  process.argv
    .slice(2)
    .reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const minutes = Number(args.minutes ?? 10);
const rate = Number(args.rate ?? 200);
const streamShare = Number(args['stream-share'] ?? 0.3);
const warmupS = Number(args['warmup-s'] ?? 60);
const key = process.env.BENCH_API_KEY ?? 'bench-key-0123456789abcdef';
const UP_PORT = 18080;
const GW_PORT = 3000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function rssMb(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  } catch {
    return NaN;
  }
}

function request(stream) {
  return new Promise((resolve) => {
    const body = JSON.stringify({
      model: 'gpt-4o-mini',
      stream,
      messages: [{ role: 'user', content: 'soak test' }],
    });
    const req = http.request(
      {
        host: '127.0.0.1',
        port: GW_PORT,
        path: '/v1/chat/completions',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${key}`,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let tail = '';
        res.on('data', (chunk) => {
          tail = (tail + chunk.toString()).slice(-64);
        });
        res.on('end', () => resolve(res.statusCode === 200 && (!stream || tail.includes('[DONE]'))));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.setTimeout(30_000, () => req.destroy());
    req.end(body);
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/health/live' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`port ${port} did not open`);
}

async function main() {
  const upstream = spawn(process.execPath, [path.join(HARNESS, 'upstream.mjs'), '--port', String(UP_PORT)], {
    stdio: 'ignore',
  });
  // What `npm start` runs: its node flags, then the entry point.
  const startArgs = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
    .scripts.start.split(' ')
    .slice(1);
  const gateway = spawn(process.execPath, startArgs, {
    cwd: ROOT,
    env: {
      ...process.env,
      GATEWAY_CONFIG: 'config/bench.yaml',
      PORT: String(GW_PORT),
      UPSTREAM_BASE_URL: `http://127.0.0.1:${UP_PORT}/v1`,
    },
    stdio: 'ignore',
  });
  const stopAll = () => {
    gateway.kill('SIGTERM');
    upstream.kill('SIGTERM');
  };
  process.on('exit', stopAll);
  await waitForPort(GW_PORT);
  const endAt = Date.now() + minutes * 60_000;
  const warmupEnd = Date.now() + warmupS * 1_000;
  const samples = [];
  let sent = 0;
  let failed = 0;
  let inFlight = 0;
  const sampler = setInterval(() => samples.push({ t: Date.now(), rss: rssMb(gateway.pid) }), 1_000);
  const intervalMs = 1_000 / rate;
  let next = Date.now();
  while (Date.now() < endAt) {
    next += intervalMs;
    const stream = Math.random() < streamShare;
    sent++;
    inFlight++;
    request(stream).then((ok) => {
      inFlight--;
      if (!ok) failed++;
    });
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  while (inFlight > 0) await sleep(50);
  clearInterval(sampler);
  const afterWarmup = samples.filter((s) => s.t >= warmupEnd);
  const base = afterWarmup.slice(0, 10).reduce((a, s) => a + s.rss, 0) / Math.min(10, afterWarmup.length);
  const last = afterWarmup.slice(-10).reduce((a, s) => a + s.rss, 0) / Math.min(10, afterWarmup.length);
  const peak = Math.max(...samples.map((s) => s.rss));
  const growth = ((last - base) / base) * 100;
  const result = {
    minutes,
    ratePerSecond: rate,
    streamShare,
    requests: sent,
    failed,
    rssAfterWarmupMb: Math.round(base * 10) / 10,
    rssEndMb: Math.round(last * 10) / 10,
    rssPeakMb: Math.round(peak * 10) / 10,
    growthPercent: Math.round(growth * 10) / 10,
  };
  console.log(JSON.stringify(result, null, 2));
  stopAll();
  process.exit(growth < 10 && failed === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
