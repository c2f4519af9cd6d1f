/** Small shared pieces: loading and error states, the database notice, spend bars, confirmation dialogs. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';

export function ErrorNote({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : 'Something failed.';
  const code = error instanceof ApiError && error.code ? ` (${error.code})` : '';
  return (
    <p class="error" role="alert">
      {message}
      {code}
    </p>
  );
}

export function NeedsDatabase({ title, what }: { title: string; what: string }) {
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">{title}</h1>
      <div class="notice" role="status">
        <h2>{what} need a database</h2>
        <p>
          This gateway runs on its config file alone. Keys, teams, usage and the request log live in PostgreSQL: add a{' '}
          <code>database</code> section to the config (<code>database: {'{ url: ${DATABASE_URL} }'}</code>) and restart.
          The Overview, Providers and Playground work without it.
        </p>
      </div>
    </section>
  );
}

/** A bar for spend against a budget; over budget shows red. */
export function SpendBar({ used, limit, label }: { used: number; limit: number | null; label: string }) {
  if (limit === null || limit <= 0) return <span class="muted">no budget</span>;
  const ratio = used / limit;
  const width = `${Math.min(ratio, 1) * 100}%`;
  return (
    <span class="spend">
      <span
        class={`bar ${ratio >= 1 ? 'over' : ratio >= 0.8 ? 'near' : ''}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={used}
      >
        <span style={{ width }} />
      </span>
      <span class="spend-text">{ratio > 0 && ratio < 0.01 ? '<1' : Math.round(ratio * 100)}%</span>
    </span>
  );
}

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads with `load`, again when `deps` change or `reload` is called, and every `refreshMs` when set. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (caught: unknown) => {
        if (!live) return;
        setError(caught);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (refreshMs === undefined) return;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs, reload]);
  return { data, error, loading, reload };
}

/** A modal dialog (the platform's <dialog>: focus is trapped, Escape closes it). */
export function Dialog({
  title,
  open,
  onClose,
  children,
}: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-label={title} onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <h2>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

/** Asks before a destructive action. */
export function Confirm({
  title,
  message,
  action,
  open,
  onConfirm,
  onClose,
}: {
  title: string;
  message: string;
  action: string;
  open: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  return (
    <Dialog title={title} open={open} onClose={onClose}>
      <p>{message}</p>
      <div class="actions">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={onConfirm}>
          {action}
        </button>
      </div>
    </Dialog>
  );
}

/** Copies text, with a fallback that selects it for the user where the clipboard API is not allowed. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
    } catch {
      setDone(false);
    }
  };
  return (
    <button type="button" onClick={() => void copy()} aria-live="polite">
      {done ? 'Copied' : label}
    </button>
  );
}

export function Tile({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="tile">
      <div class="tile-label">{label}</div>
      <div class="tile-value">{value}</div>
      {hint && <div class="tile-hint">{hint}</div>}
    </div>
  );
}
