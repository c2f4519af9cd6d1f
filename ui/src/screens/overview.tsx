/** Live figures of this replica (GET /admin/stats every 3 s), and today's spend against the keys' daily budgets. */
import { type Session, query, request } from '../api.js';
import { Chart } from '../components/chart.js';
import { ErrorNote, SpendBar, Tile, useAsync } from '../components/common.js';
import { count, day, ms, percent, usd } from '../format.js';
import type { DailyUsage, Key, ListPage, Stats, StatsPoint } from '../types.js';

export const OVERVIEW_REFRESH_MS = 3_000;

function SpendToday({ stats }: { stats: Stats }) {
  const today = day(new Date());
  const spend = useAsync(
    async () => {
      const [usage, keys] = await Promise.all([
        request<{ data: DailyUsage[] }>(`/admin/daily-usage${query({ from: today, to: today, groupBy: 'key' })}`),
        request<ListPage<Key>>('/admin/keys?limit=500'),
      ]);
      return { usage: usage.data, keys: keys.data };
    },
    [today],
    15_000,
  );
  if (spend.error) return <ErrorNote error={spend.error} />;
  if (!spend.data) return <p class="muted">Loading spend…</p>;
  const byKey = new Map(spend.data.usage.map((u) => [u.key ?? '', u.costUsd]));
  const total = spend.data.usage.reduce((n, u) => n + u.costUsd, 0);
  const budgeted = spend.data.keys.filter((k) => k.budget.usdPerDay !== null);
  return (
    <>
      <p>
        All keys, today (UTC, every replica): <strong>{usd(total)}</strong>; this replica since the start of the day:{' '}
        {usd(stats.today.costUsd)}.
      </p>
      {budgeted.length === 0 ? (
        <p class="muted">No key has a daily USD budget.</p>
      ) : (
        <table>
          <caption class="visually-hidden">Spend today against daily budgets</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Spent</th>
              <th scope="col">Budget</th>
              <th scope="col">Used</th>
            </tr>
          </thead>
          <tbody>
            {budgeted.map((k) => (
              <tr key={k.id}>
                <td>{k.id}</td>
                <td>{usd(byKey.get(k.id) ?? 0)}</td>
                <td>{usd(k.budget.usdPerDay)}</td>
                <td>
                  <SpendBar
                    used={byKey.get(k.id) ?? 0}
                    limit={k.budget.usdPerDay}
                    label={`${k.id} daily budget used`}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function Overview({ session }: { session: Session }) {
  const stats = useAsync(() => request<Stats>('/admin/stats'), [], OVERVIEW_REFRESH_MS);
  const data = stats.data;
  if (!data) return stats.error ? <ErrorNote error={stats.error} /> : <p class="loading">Loading…</p>;
  const series = data.series;
  const x = series.map((p) => p.t / 1000);
  const end = Date.parse(data.now) / 1000;
  const xRange: [number, number] = [end - 600, end];
  // The tiles: the last minute (the newest interval alone is often still empty).
  const recent = series.filter((p) => p.t >= (end - 60) * 1000);
  const span = recent.length > 0 ? Math.max(end - (recent[0].t / 1000 - data.intervalMs / 1000), 1) : 1;
  const answered = recent.reduce((n, p) => n + p.requestsPerSecond * (data.intervalMs / 1000), 0);
  const errorsTotal = recent.reduce(
    (n, p) => n + p.errors.client_error + p.errors.rate_limited + p.errors.server_error,
    0,
  );
  const closed = recent.reduce((n, p) => n + p.errors.client_closed, 0);
  const latest = (pick: (p: StatsPoint) => number | null) => {
    for (let i = recent.length - 1; i >= 0; i--) {
      const value = pick(recent[i]);
      if (value !== null) return value;
    }
    return null;
  };
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <p class="muted">
        This replica, live: one point per {data.intervalMs / 1000} s over the last ten minutes, refreshed every{' '}
        {OVERVIEW_REFRESH_MS / 1000} s.
      </p>
      <ErrorNote error={stats.error} />
      <div class="tiles">
        <Tile label="Requests/s" value={count(answered / span)} hint="last minute" />
        <Tile
          label="Error rate"
          value={percent(answered - closed > 0 ? errorsTotal / (answered - closed) : 0)}
          hint={`${Math.round(errorsTotal)} errors in the last minute`}
        />
        <Tile
          label="Overhead p50 / p95"
          value={`${ms(latest((p) => p.overheadP50Ms))} / ${ms(latest((p) => p.overheadP95Ms))}`}
        />
        <Tile label="TTFT p50 / p95" value={`${ms(latest((p) => p.ttftP50Ms))} / ${ms(latest((p) => p.ttftP95Ms))}`} />
        <Tile label="Cache hit ratio" value={percent(latest((p) => p.cacheHitRatio))} />
        <Tile label="Open streams" value={String(data.openStreams)} hint={`${data.inFlight} requests in flight`} />
        <Tile label="Spend today" value={usd(data.today.costUsd)} hint={`${count(data.today.requests)} requests`} />
      </div>
      <div class="charts">
        <Chart
          xRange={xRange}
          title="Requests per second and error rate"
          x={x}
          unit="/s"
          rightUnit="%"
          series={[
            { label: 'requests/s', stroke: 'var(--accent)', values: series.map((p) => p.requestsPerSecond) },
            { label: 'error %', stroke: 'var(--bad)', values: series.map((p) => p.errorRate * 100), right: true },
          ]}
        />
        <Chart
          xRange={xRange}
          title="Errors by kind (per interval)"
          x={x}
          series={[
            { label: '4xx', stroke: '#d97706', values: series.map((p) => p.errors.client_error) },
            { label: '429', stroke: '#7c3aed', values: series.map((p) => p.errors.rate_limited) },
            { label: '5xx', stroke: 'var(--bad)', values: series.map((p) => p.errors.server_error) },
            { label: 'client left', stroke: '#64748b', values: series.map((p) => p.errors.client_closed) },
          ]}
        />
        <Chart
          xRange={xRange}
          title="Gateway overhead"
          x={x}
          unit=" ms"
          series={[
            { label: 'p50', stroke: 'var(--accent)', values: series.map((p) => p.overheadP50Ms) },
            { label: 'p95', stroke: '#d97706', values: series.map((p) => p.overheadP95Ms) },
          ]}
        />
        <Chart
          xRange={xRange}
          title="Time to first token"
          x={x}
          unit=" ms"
          series={[
            { label: 'p50', stroke: 'var(--accent)', values: series.map((p) => p.ttftP50Ms) },
            { label: 'p95', stroke: '#d97706', values: series.map((p) => p.ttftP95Ms) },
          ]}
        />
        <Chart
          xRange={xRange}
          title="Cache hit ratio"
          x={x}
          unit="%"
          series={[
            {
              label: 'hit %',
              stroke: 'var(--good)',
              values: series.map((p) => (p.cacheHitRatio === null ? null : p.cacheHitRatio * 100)),
            },
          ]}
        />
      </div>
      <h2>Upstream errors since start</h2>
      {Object.values(data.upstreamErrors).every((n) => n === 0) ? (
        <p class="muted">None.</p>
      ) : (
        <ul class="inline-list">
          {Object.entries(data.upstreamErrors)
            .filter(([, n]) => n > 0)
            .map(([kind, n]) => (
              <li key={kind}>
                {kind}: <strong>{n}</strong>
              </li>
            ))}
        </ul>
      )}
      <h2>Spend today against budgets</h2>
      {session.database ? (
        <SpendToday stats={data} />
      ) : (
        <p class="muted">
          This replica since the start of the day: {usd(data.today.costUsd)}. Per-key budgets need the{' '}
          <code>database</code> section.
        </p>
      )}
    </section>
  );
}
