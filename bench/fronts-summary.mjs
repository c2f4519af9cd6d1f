// The fronts side by side from one `npm run bench` run: for each front, the gateway's overhead over a direct call to
// the mock upstream of that protocol (non-streaming p50 at c=1 and c=64, stream TTFT p50 at c=1) and its CPU per
// request, next to chat's, with the targets (overhead p50 at c=1 within 0.2 ms of chat's, CPU within 1.3x; with the
// management plane on, both within 10 % of chat's).
//   node bench/fronts-summary.mjs bench/results/<run>     # prints a markdown table, writes fronts.md there
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const FRONTS = [
  { dir: 'chat', api: 'chat', label: 'chat `/v1/chat/completions` → chat' },
  // The management plane's target: overhead and CPU within 10 % of chat's without it.
  { dir: 'chat-db', api: 'chat', label: 'chat, database keys and request log on (PostgreSQL)', within: 0.1 },
  { dir: 'messages', api: 'messages', label: 'messages `/v1/messages` → Anthropic (passthrough)' },
  { dir: 'responses-native', api: 'responses', label: 'responses `/v1/responses` → native Responses (passthrough)' },
  { dir: 'responses-translated', api: 'responses', label: 'responses `/v1/responses` → chat (translated)' },
];

const run = process.argv[2];
if (!run) {
  console.error('usage: node bench/fronts-summary.mjs <results folder>');
  process.exit(2);
}

function load(front, target) {
  const file = join(run, front.dir, front.api === 'chat' ? `${target}.json` : `${target}.${front.api}.json`);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

const at = (rows, conc) => rows?.find((row) => row.conc === conc);
const fixed = (value, digits = 2) => (value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits));

const rows = [];
for (const front of FRONTS) {
  const ours = load(front, 'ours');
  const direct = load(front, 'direct');
  if (!ours || !direct) continue;
  const overhead = (conc) => at(ours.nonstream, conc)?.lat_ms.p50 - at(direct.nonstream, conc)?.lat_ms.p50;
  rows.push({
    front,
    c1: overhead(1),
    c64: overhead(64),
    ttft: at(ours.stream, 1)?.ttft_ms.p50 - at(direct.stream, 1)?.ttft_ms.p50,
    cpu1: at(ours.nonstream, 1)?.gw_cpu_us_per_req,
    cpu64: at(ours.nonstream, 64)?.gw_cpu_us_per_req,
    rps64: at(ours.nonstream, 64)?.rps,
    streamCpu: at(ours.stream, 64)?.gw_cpu_ms_per_stream,
  });
}
const chat = rows.find((row) => row.front.dir === 'chat');
const lines = [
  '| front | overhead p50 c=1 (ms) | overhead p50 c=64 (ms) | TTFT overhead p50 c=1 (ms) | CPU µs/req c=1 · c=64 | req/s c=64 | CPU ms/stream c=64 | vs chat: Δ p50 c=1 · CPU c=64 |',
  '|---|---:|---:|---:|---:|---:|---:|---|',
];
for (const row of rows) {
  let versus = '';
  if (chat && row !== chat) {
    const delta = row.c1 - chat.c1;
    const ratio = row.cpu64 / chat.cpu64;
    const within = row.front.within;
    const ok =
      within === undefined ? delta <= 0.2 && ratio <= 1.3 : row.c1 <= chat.c1 * (1 + within) && ratio <= 1 + within;
    const met = ok ? 'within target' : 'outside target';
    versus = `${delta >= 0 ? '+' : ''}${fixed(delta)} ms · ${fixed(ratio)}× (${met})`;
  }
  lines.push(
    `| ${row.front.label} | ${fixed(row.c1)} | ${fixed(row.c64)} | ${fixed(row.ttft)} | ${row.cpu1 ?? '–'} · ${row.cpu64 ?? '–'} | ${row.rps64 ?? '–'} | ${fixed(row.streamCpu, 3)} | ${versus} |`,
  );
}
const table = lines.join('\n');
writeFileSync(join(run, 'fronts.md'), `${table}\n`);
console.log(`\n### Fronts (overhead over a direct call to the mock upstream of each protocol)\n\n${table}\n`);
