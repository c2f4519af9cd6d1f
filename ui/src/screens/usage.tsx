/** Tokens and cost per day from the database's daily aggregates, by key, team or model; CSV export. */
import { useState } from 'preact/hooks';
import { type Session, query, request } from '../api.js';
import { Chart } from '../components/chart.js';
import { ErrorNote, NeedsDatabase, useAsync } from '../components/common.js';
import { count, day, daysBetween, toCsv, usd } from '../format.js';
import type { DailyUsage } from '../types.js';

type GroupBy = 'key' | 'team' | 'model';
const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#64748b'];

export const USAGE_CSV_HEADER = [
  'day',
  'group',
  'requests',
  'errors',
  'prompt_tokens',
  'cached_tokens',
  'cache_write_tokens',
  'reasoning_tokens',
  'completion_tokens',
  'cost_usd',
];

export function usageCsv(rows: DailyUsage[], groupBy: GroupBy): string {
  return toCsv(
    USAGE_CSV_HEADER,
    rows.map((r) => [
      r.day,
      r[groupBy] ?? '',
      r.requests,
      r.errors,
      r.promptTokens,
      r.cachedTokens,
      r.cacheWriteTokens,
      r.reasoningTokens,
      r.completionTokens,
      r.costUsd,
    ]),
  );
}

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1_000);
}

export function Usage({ session }: { session: Session }) {
  const now = new Date();
  const [from, setFrom] = useState(day(now, 6));
  const [to, setTo] = useState(day(now));
  const [groupBy, setGroupBy] = useState<GroupBy>('key');
  const [filter, setFilter] = useState('');
  const state = useAsync(
    async () =>
      session.database
        ? (await request<{ data: DailyUsage[] }>(`/admin/daily-usage${query({ from, to, groupBy })}`)).data
        : [],
    [from, to, groupBy],
  );
  if (!session.database) return <NeedsDatabase title="Usage" what="Usage reports" />;
  const rows = (state.data ?? []).filter((r) => filter === '' || (r[groupBy] ?? '').includes(filter));
  const days = from <= to ? daysBetween(from, to) : [];
  const x = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const totals = new Map<string, number>();
  for (const r of rows) totals.set(r[groupBy] ?? '', (totals.get(r[groupBy] ?? '') ?? 0) + r.costUsd);
  const groups = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  const shown = groups.slice(0, PALETTE.length - 1);
  const byDay = (pick: (r: DailyUsage) => number, only?: (r: DailyUsage) => boolean) =>
    days.map((d) => rows.filter((r) => r.day === d && (!only || only(r))).reduce((n, r) => n + pick(r), 0));
  const costSeries = [
    ...shown.map((g, i) => ({
      label: g === '' ? '(none)' : g,
      stroke: PALETTE[i],
      values: byDay(
        (r) => r.costUsd,
        (r) => (r[groupBy] ?? '') === g,
      ),
    })),
    ...(groups.length > shown.length
      ? [
          {
            label: 'others',
            stroke: PALETTE[PALETTE.length - 1],
            values: byDay(
              (r) => r.costUsd,
              (r) => !shown.includes(r[groupBy] ?? ''),
            ),
          },
        ]
      : []),
  ];
  const sum = (pick: (r: DailyUsage) => number) => rows.reduce((n, r) => n + pick(r), 0);
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Usage range and grouping">
        <label>
          From <input type="date" value={from} max={to} onInput={(e) => setFrom(e.currentTarget.value)} />
        </label>
        <label>
          To <input type="date" value={to} min={from} onInput={(e) => setTo(e.currentTarget.value)} />
        </label>
        <label>
          By{' '}
          <select aria-label="Group by" value={groupBy} onChange={(e) => setGroupBy(e.currentTarget.value as GroupBy)}>
            <option value="key">key</option>
            <option value="team">team</option>
            <option value="model">model</option>
          </select>
        </label>
        <label>
          Filter{' '}
          <input value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder={`${groupBy} contains`} />
        </label>
        <button
          type="button"
          onClick={() => download(`usage-${from}-${to}-by-${groupBy}.csv`, usageCsv(rows, groupBy))}
        >
          Export CSV
        </button>
      </form>
      <ErrorNote error={state.error} />
      <div class="tiles">
        <div class="tile">
          <div class="tile-label">Cost</div>
          <div class="tile-value" data-testid="usage-cost">
            {usd(sum((r) => r.costUsd))}
          </div>
        </div>
        <div class="tile">
          <div class="tile-label">Requests</div>
          <div class="tile-value">{count(sum((r) => r.requests))}</div>
        </div>
        <div class="tile">
          <div class="tile-label">Prompt tokens</div>
          <div class="tile-value">{count(sum((r) => r.promptTokens))}</div>
          <div class="tile-hint">{count(sum((r) => r.cachedTokens))} cached</div>
        </div>
        <div class="tile">
          <div class="tile-label">Completion tokens</div>
          <div class="tile-value">{count(sum((r) => r.completionTokens))}</div>
          <div class="tile-hint">{count(sum((r) => r.reasoningTokens))} reasoning</div>
        </div>
      </div>
      <div class="charts">
        <Chart title={`Cost per day by ${groupBy}`} x={x} unit="$" bars={days.length <= 2} series={costSeries} />
        <Chart
          title="Tokens per day"
          x={x}
          bars={days.length <= 2}
          series={[
            { label: 'prompt', stroke: PALETTE[0], values: byDay((r) => r.promptTokens) },
            { label: 'cached', stroke: PALETTE[1], values: byDay((r) => r.cachedTokens) },
            { label: 'reasoning', stroke: PALETTE[3], values: byDay((r) => r.reasoningTokens) },
            { label: 'completion', stroke: PALETTE[2], values: byDay((r) => r.completionTokens) },
          ]}
        />
      </div>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Daily usage rows</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">{groupBy}</th>
              <th scope="col">Requests</th>
              <th scope="col">Errors</th>
              <th scope="col">Prompt</th>
              <th scope="col">Cached</th>
              <th scope="col">Reasoning</th>
              <th scope="col">Completion</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={9} class="muted">
                  {state.loading ? 'Loading…' : 'No usage in this range.'}
                </td>
              </tr>
            )}
            {rows.map((r) => (
              <tr key={`${r.day}/${r[groupBy] ?? ''}`}>
                <td>{r.day}</td>
                <td>{r[groupBy] || '(none)'}</td>
                <td>{count(r.requests)}</td>
                <td>{count(r.errors)}</td>
                <td>{count(r.promptTokens)}</td>
                <td>{count(r.cachedTokens)}</td>
                <td>{count(r.reasoningTokens)}</td>
                <td>{count(r.completionTokens)}</td>
                <td>{usd(r.costUsd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="hint">
        Daily aggregates in UTC, written from the request log. By provider: group by model and see Providers for where
        each model is served.
      </p>
    </section>
  );
}
