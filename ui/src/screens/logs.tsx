/** The request log: filters, a table that pages by cursor, and one request's detail. */
import { useEffect, useState } from 'preact/hooks';
import { type Session, query, request } from '../api.js';
import { ErrorNote, NeedsDatabase } from '../components/common.js';
import { count, ms, time, usd } from '../format.js';
import type { ListPage, RequestLogEntry } from '../types.js';

interface Filters {
  key: string;
  model: string;
  status: string;
  from: string;
  to: string;
}

const EMPTY: Filters = { key: '', model: '', status: '', from: '', to: '' };
const iso = (local: string) => (local === '' ? undefined : new Date(`${local}:00Z`).toISOString());

function statusClass(status: number): string {
  if (status >= 500) return 'bad';
  if (status >= 400) return 'warn';
  return 'good';
}

/** A JSON body indented; anything else (a cut or a stream transcript) as it came. */
export function pretty(body: string | null | undefined): string {
  if (body === null || body === undefined || body === '') return '—';
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

/** Where the request's time went: upstream, the gateway's own overhead, and the rest (the client, queues). */
export function LatencySplit({ entry }: { entry: RequestLogEntry }) {
  const total = Math.max(entry.latencyMs, 1);
  const overhead = entry.overheadMs ?? 0;
  const upstream = Math.min(entry.upstreamMs, total);
  const other = Math.max(total - upstream - overhead, 0);
  const part = (value: number) => `${(value / total) * 100}%`;
  return (
    <div>
      <div
        class="split"
        role="img"
        aria-label={`upstream ${ms(upstream)}, gateway ${ms(overhead)}, other ${ms(other)}`}
      >
        <span class="split-upstream" style={{ width: part(upstream) }} />
        <span class="split-gateway" style={{ width: part(overhead) }} />
        <span class="split-other" style={{ width: part(other) }} />
      </div>
      <ul class="legend">
        <li>
          <span class="swatch split-upstream" /> upstream {ms(entry.upstreamMs)}
        </li>
        <li>
          <span class="swatch split-gateway" /> gateway overhead {ms(entry.overheadMs)}
        </li>
        <li>
          <span class="swatch split-other" /> other {ms(other)}
        </li>
        <li>time to first token {ms(entry.ttftMs)}</li>
      </ul>
    </div>
  );
}

export function LogDetail({ entry, onClose }: { entry: RequestLogEntry; onClose: () => void }) {
  const fallbackNote =
    entry.fallbacks > 0
      ? `${entry.fallbacks} fallback${entry.fallbacks > 1 ? 's' : ''}: asked for ${entry.model}, served by ${entry.servedModel ?? '—'}`
      : 'no fallback';
  return (
    <aside class="detail" aria-labelledby="detail-title">
      <div class="title-row">
        <h2 id="detail-title">Request {entry.requestId}</h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <dl class="facts">
        <dt>Time</dt>
        <dd>{time(entry.at)}</dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge ${statusClass(entry.status)}`}>{entry.status}</span> {entry.errorCode ?? ''}
        </dd>
        <dt>Key / team</dt>
        <dd>
          {entry.keyId ?? '—'} / {entry.teamId ?? '—'}
        </dd>
        <dt>Front</dt>
        <dd>
          {entry.front} ({entry.operation}
          {entry.stream ? ', stream' : ''})
        </dd>
        <dt>Cache</dt>
        <dd>{entry.cache ?? '—'}</dd>
        <dt>Trace</dt>
        <dd>{entry.traceId ?? '—'}</dd>
      </dl>
      <h3>Attempts and fallbacks</h3>
      <ol class="chain">
        <li>
          requested <strong>{entry.model}</strong>
        </li>
        <li>
          {entry.attempts} upstream attempt{entry.attempts === 1 ? '' : 's'}, {fallbackNote}
        </li>
        <li>
          last attempt: <strong>{entry.deployment ?? '—'}</strong> ({entry.provider ?? '—'}), upstream answered{' '}
          <span class={`badge ${statusClass(entry.status)}`}>{entry.status}</span>
        </li>
      </ol>
      <h3>Latency</h3>
      <p>Total {ms(entry.latencyMs)}</p>
      <LatencySplit entry={entry} />
      <h3>Tokens and cost</h3>
      <dl class="facts">
        <dt>Prompt</dt>
        <dd>
          {count(entry.tokens.prompt)} ({count(entry.tokens.cached)} cached, {count(entry.tokens.cacheWrite)} written to
          cache)
        </dd>
        <dt>Completion</dt>
        <dd>
          {count(entry.tokens.completion)} ({count(entry.tokens.reasoning)} reasoning)
          {entry.tokens.estimated ? ' — estimated' : ''}
        </dd>
        <dt>Cost</dt>
        <dd>{usd(entry.costUsd)}</dd>
      </dl>
      <h3>Bodies</h3>
      {entry.requestBody || entry.responseBody ? (
        <>
          <h4>Request</h4>
          <pre class="body" data-testid="request-body">
            {pretty(entry.requestBody)}
          </pre>
          <h4>Response</h4>
          <pre class="body" data-testid="response-body">
            {pretty(entry.responseBody)}
          </pre>
          <p class="hint">Redacted of credentials and cut to requestLog.maxBodyChars.</p>
        </>
      ) : (
        <p class="muted">
          Not logged for this request: bodies are kept only for keys with{' '}
          <strong>Log request and response bodies</strong> on (Keys, Edit), and never for others.
        </p>
      )}
    </aside>
  );
}

export function Logs({ session }: { session: Session }) {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<RequestLogEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState<RequestLogEntry | null>(null);

  const load = async (more: boolean) => {
    setLoading(true);
    setError(null);
    try {
      const page = await request<ListPage<RequestLogEntry>>(
        `/admin/request-log${query({
          limit: 50,
          cursor: more ? cursor : undefined,
          key: applied.key,
          model: applied.model,
          status: applied.status,
          from: iso(applied.from),
          to: iso(applied.to),
        })}`,
      );
      setRows(more ? [...rows, ...page.data] : page.data);
      setCursor(page.nextCursor);
    } catch (caught) {
      setError(caught);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    if (session.database) void load(false);
  }, [applied, session.database]);

  if (!session.database) return <NeedsDatabase title="Logs" what="Request logs" />;
  const set = (name: keyof Filters) => (e: { currentTarget: HTMLInputElement }) =>
    setFilters({ ...filters, [name]: e.currentTarget.value });
  return (
    <section aria-labelledby="logs-title">
      <div class="title-row">
        <h1 id="logs-title">Logs</h1>
        <button type="button" onClick={() => void load(false)}>
          Refresh
        </button>
      </div>
      <form
        class="filters"
        aria-label="Filter the request log"
        onSubmit={(e) => {
          e.preventDefault();
          setSelected(null);
          setApplied(filters);
        }}
      >
        <label>
          Key <input value={filters.key} onInput={set('key')} />
        </label>
        <label>
          Model <input value={filters.model} onInput={set('model')} />
        </label>
        <label>
          Status <input type="number" min={100} max={599} value={filters.status} onInput={set('status')} />
        </label>
        <label>
          From (UTC) <input type="datetime-local" value={filters.from} onInput={set('from')} />
        </label>
        <label>
          To (UTC) <input type="datetime-local" value={filters.to} onInput={set('to')} />
        </label>
        <button type="submit" class="primary">
          Apply
        </button>
        <button
          type="button"
          onClick={() => {
            setFilters(EMPTY);
            setApplied(EMPTY);
          }}
        >
          Clear
        </button>
      </form>
      <ErrorNote error={error} />
      <div class={selected ? 'with-detail' : ''}>
        <div class="table-wrap">
          <table class="clickable">
            <caption class="visually-hidden">Requests, newest first; choose one for its detail</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Key</th>
                <th scope="col">Model</th>
                <th scope="col">Deployment</th>
                <th scope="col">Status</th>
                <th scope="col">Latency</th>
                <th scope="col">Tokens</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {rows.length === 0 && (
                <tr>
                  <td colSpan={8} class="muted">
                    {loading ? 'Loading…' : 'No requests match.'}
                  </td>
                </tr>
              )}
              {rows.map((r) => (
                <tr key={r.id} aria-selected={selected?.id === r.id}>
                  <td>
                    <button type="button" class="link" onClick={() => setSelected(r)}>
                      {time(r.at)}
                    </button>
                  </td>
                  <td>{r.keyId ?? '—'}</td>
                  <td>{r.model}</td>
                  <td>{r.deployment ?? '—'}</td>
                  <td>
                    <span class={`badge ${statusClass(r.status)}`}>{r.status}</span>
                  </td>
                  <td>{ms(r.latencyMs)}</td>
                  <td>{count((r.tokens.prompt ?? 0) + (r.tokens.completion ?? 0))}</td>
                  <td>{usd(r.costUsd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {selected && <LogDetail entry={selected} onClose={() => setSelected(null)} />}
      </div>
      {cursor && (
        <button type="button" onClick={() => void load(true)} disabled={loading}>
          Load more
        </button>
      )}
    </section>
  );
}
