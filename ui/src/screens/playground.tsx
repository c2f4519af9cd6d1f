/**
 * A streamed chat through the gateway's own public API, on any front. It needs a gateway key unless auth is off:
 * paste one of yours (kept in this page's memory only), or, with a database, mint a playground key that expires in
 * an hour (POST /admin/keys, metadata.playground: true, limited to the chosen model).
 */
import { useRef, useState } from 'preact/hooks';
import { type Session, request } from '../api.js';
import { ErrorNote, useAsync } from '../components/common.js';
import { count, ms, usd } from '../format.js';
import { type Front, parseSse, readEvent, type StreamUsage, streamRequest } from '../stream.js';
import type { IssuedKey, ModelRouting } from '../types.js';

const SHOWN_HEADERS = /^(x-request-id|x-gateway-|x-ratelimit-|content-type|retry-after)/;
export const PLAYGROUND_KEY_TTL_MS = 60 * 60 * 1000;

interface Result {
  text: string;
  usage: StreamUsage;
  headers: [string, string][];
  status: number | null;
  elapsedMs: number | null;
  ttftMs: number | null;
  error: string | null;
}

const EMPTY: Result = { text: '', usage: {}, headers: [], status: null, elapsedMs: null, ttftMs: null, error: null };

export function Playground({ session }: { session: Session }) {
  const routing = useAsync(() => request<{ models: ModelRouting[] }>('/admin/routing'), []);
  const models = routing.data?.models.map((m) => m.model) ?? [];
  const [model, setModel] = useState('');
  const [front, setFront] = useState<Front>('chat');
  const [key, setKey] = useState('');
  const [minted, setMinted] = useState<string | null>(null);
  const [message, setMessage] = useState('Say hello in five words.');
  const [result, setResult] = useState<Result>(EMPTY);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  const chosen = model || models[0] || '';

  const mint = async () => {
    setError(null);
    try {
      const issued = await request<IssuedKey>('/admin/keys', {
        method: 'POST',
        body: {
          models: chosen ? [chosen] : undefined,
          expiresAt: new Date(Date.now() + PLAYGROUND_KEY_TTL_MS).toISOString(),
          metadata: { playground: true, by: session.keyId },
        },
      });
      setKey(issued.secret);
      setMinted(issued.key.id);
    } catch (caught) {
      setError(caught);
    }
  };

  const send = async (event: Event) => {
    event.preventDefault();
    const { path, body } = streamRequest(front, chosen, message);
    const controller = new AbortController();
    abort.current = controller;
    setBusy(true);
    setError(null);
    const started = performance.now();
    let current: Result = { ...EMPTY };
    setResult(current);
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (key.trim() !== '') {
        if (front === 'messages') headers['x-api-key'] = key.trim();
        else headers.authorization = `Bearer ${key.trim()}`;
      }
      if (front === 'messages') headers['anthropic-version'] = '2023-06-01';
      const response = await fetch(path, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: controller.signal,
        credentials: 'omit',
      });
      const shown = [...response.headers.entries()].filter(([name]) => SHOWN_HEADERS.test(name));
      current = { ...current, status: response.status, headers: shown };
      setResult(current);
      if (!response.ok || response.body === null) {
        const text = await response.text();
        let message = text;
        try {
          const parsed = JSON.parse(text) as { error?: { message?: string } };
          message = parsed.error?.message ?? text;
        } catch {
          // not JSON: shown as it came
        }
        current = { ...current, error: message, elapsedMs: performance.now() - started };
        setResult(current);
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parsed = parseSse(buffer + value);
        buffer = parsed.rest;
        for (const e of parsed.events) {
          const piece = readEvent(front, e);
          if (piece.text) {
            current = {
              ...current,
              text: current.text + piece.text,
              ttftMs: current.ttftMs ?? performance.now() - started,
            };
          }
          if (piece.usage) current = { ...current, usage: { ...current.usage, ...stripUndefined(piece.usage) } };
          if (piece.error) current = { ...current, error: piece.error };
        }
        setResult(current);
      }
      setResult({ ...current, elapsedMs: performance.now() - started });
    } catch (caught) {
      if (!controller.signal.aborted) setError(caught);
      setResult({ ...current, elapsedMs: performance.now() - started });
    } finally {
      setBusy(false);
      abort.current = null;
    }
  };

  const cost = result.headers.find(([name]) => name === 'x-gateway-cost')?.[1];
  return (
    <section aria-labelledby="playground-title">
      <h1 id="playground-title">Playground</h1>
      <form class="playground" onSubmit={(e) => void send(e)}>
        <div class="filters">
          <label>
            Model{' '}
            <select aria-label="Model" value={chosen} onChange={(e) => setModel(e.currentTarget.value)}>
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <label>
            Front{' '}
            <select aria-label="Front" value={front} onChange={(e) => setFront(e.currentTarget.value as Front)}>
              <option value="chat">Chat Completions (/v1/chat/completions)</option>
              <option value="responses">Responses (/v1/responses)</option>
              <option value="messages">Messages (/v1/messages)</option>
            </select>
          </label>
        </div>
        <div class="field">
          <label for="playground-key">Gateway key</label>
          <input
            id="playground-key"
            type="password"
            autoComplete="off"
            value={key}
            onInput={(e) => {
              setKey(e.currentTarget.value);
              setMinted(null);
            }}
            aria-describedby="playground-key-hint"
          />
          <small id="playground-key-hint" class="hint">
            {session.auth
              ? 'Paste one of your keys (kept in this page only), or mint a playground key.'
              : 'Auth is off on this gateway: no key is needed.'}
            {minted && ` Using playground key ${minted}, which expires in an hour.`}
          </small>
          {session.database && (
            <button type="button" onClick={() => void mint()}>
              Mint a 1-hour playground key
            </button>
          )}
        </div>
        <div class="field">
          <label for="playground-message">Message</label>
          <textarea
            id="playground-message"
            rows={3}
            value={message}
            onInput={(e) => setMessage(e.currentTarget.value)}
          />
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || chosen === ''}>
            {busy ? 'Streaming…' : 'Send'}
          </button>
          {busy && (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          )}
        </div>
      </form>
      <ErrorNote error={error ?? routing.error} />
      <section aria-labelledby="answer-title" class="card">
        <h2 id="answer-title">Answer</h2>
        <pre class="answer" aria-live="polite" data-testid="answer">
          {result.text}
        </pre>
        {result.error && (
          <p class="error" role="alert">
            {result.status ?? ''} {result.error}
          </p>
        )}
        <dl class="facts">
          <dt>Status</dt>
          <dd>{result.status ?? '—'}</dd>
          <dt>First token / total</dt>
          <dd>
            {ms(result.ttftMs)} / {ms(result.elapsedMs)}
          </dd>
          <dt>Tokens</dt>
          <dd>
            {count(result.usage.promptTokens)} prompt ({count(result.usage.cachedTokens)} cached) ·{' '}
            {count(result.usage.completionTokens)} completion ({count(result.usage.reasoningTokens)} reasoning)
          </dd>
          <dt>Cost</dt>
          <dd>{cost === undefined ? 'in Logs once the stream ends' : usd(Number(cost))}</dd>
        </dl>
        <h3>Headers</h3>
        <table class="headers">
          <tbody>
            {result.headers.map(([name, value]) => (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td>
                  <code>{value}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </section>
  );
}

function stripUndefined(usage: StreamUsage): StreamUsage {
  return Object.fromEntries(Object.entries(usage).filter(([, v]) => v !== undefined));
}
