#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package, so the hot
// path's cost can be attributed (our code vs fastify vs axios vs class-validator ...).
//   node bench/profile-summary.mjs <file.cpuprofile> [topN]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [topN]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfSamples = new Map();
for (const id of profile.samples) selfSamples.set(id, (selfSamples.get(id) ?? 0) + 1);
const total = profile.samples.length;

function packageOf(url) {
  if (!url) return '(native/gc/idle)';
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1];
  if (url.startsWith('node:')) return 'node core';
  if (url.includes('/dist/src/')) return 'gateway: ' + url.split('/dist/src/')[1].split('/')[0];
  return url;
}

const byFunction = new Map();
const byPackage = new Map();
for (const [id, count] of selfSamples) {
  const frame = byId.get(id).callFrame;
  const name = frame.functionName || '(anonymous)';
  if (name === '(idle)' || name === '(program)') continue;
  const key = `${name}  ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${frame.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + count);
  const pkg = name === '(garbage collector)' ? '(gc)' : packageOf(frame.url);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count);
}
const idle = [...selfSamples]
  .filter(([id]) => byId.get(id).callFrame.functionName === '(idle)')
  .reduce((a, [, c]) => a + c, 0);
const busy = total - idle;
const pct = (n) => `${((100 * n) / busy).toFixed(1).padStart(5)}%`;
console.log(
  `samples: ${total}, busy: ${busy} (${((100 * busy) / total).toFixed(1)}%)\n\nself time by package (of busy):`,
);
for (const [pkg, count] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${pct(count)}  ${pkg}`);
console.log('\nself time by function (of busy):');
for (const [fn, count] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${pct(count)}  ${fn}`);

// Inclusive time of the gateway's own functions (each counted once per sample, however deep it recurses):
// what a function costs with everything it calls, e.g. the rate limiter's check or the request log.
const parentOf = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const inclusive = new Map();
for (const [id, count] of selfSamples) {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parentOf.get(at)) {
    const frame = byId.get(at).callFrame;
    if (!frame.url.includes('/dist/src/')) continue;
    const key = `${frame.functionName || '(anonymous)'}  ${frame.url.split('/dist/')[1]}:${frame.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + count);
  }
}
console.log('\ninclusive time of gateway functions (of busy):');
for (const [fn, count] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(count)}  ${fn}`);
