/** Keys and teams in the database: list with today's spend, create (secret shown once), edit, rotate, revoke. */
import { useState } from 'preact/hooks';
import { type Session, query, request } from '../api.js';
import { Confirm, CopyButton, Dialog, ErrorNote, NeedsDatabase, SpendBar, useAsync } from '../components/common.js';
import { day, listOrNull, numberOrNull, time, usd } from '../format.js';
import type { DailyUsage, IssuedKey, Key, ListPage, ModelRouting, Team } from '../types.js';

interface KeyForm {
  id: string;
  teamId: string;
  models: string;
  requestsPerMinute: string;
  tokensPerMinute: string;
  usdPerDay: string;
  usdPerMonth: string;
  tokensPerDay: string;
  expiresAt: string;
  logBodies: boolean;
}

const text = (value: number | null) => (value === null ? '' : String(value));

function formOf(key?: Key): KeyForm {
  return {
    id: key?.id ?? '',
    teamId: key?.teamId ?? '',
    models: key?.models?.join(', ') ?? '',
    requestsPerMinute: text(key?.limits.requestsPerMinute ?? null),
    tokensPerMinute: text(key?.limits.tokensPerMinute ?? null),
    usdPerDay: text(key?.budget.usdPerDay ?? null),
    usdPerMonth: text(key?.budget.usdPerMonth ?? null),
    tokensPerDay: text(key?.budget.tokensPerDay ?? null),
    expiresAt: key?.expiresAt?.slice(0, 16) ?? '',
    logBodies: key?.logBodies ?? false,
  };
}

/** The body of a create or update from the form (empty fields clear on update, are left out on create). */
export function keyBody(form: KeyForm, creating: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {
    teamId: form.teamId === '' ? null : form.teamId,
    models: listOrNull(form.models),
    limits: {
      requestsPerMinute: numberOrNull(form.requestsPerMinute),
      tokensPerMinute: numberOrNull(form.tokensPerMinute),
    },
    budget: {
      usdPerDay: numberOrNull(form.usdPerDay),
      usdPerMonth: numberOrNull(form.usdPerMonth),
      tokensPerDay: numberOrNull(form.tokensPerDay),
    },
    expiresAt: form.expiresAt === '' ? null : new Date(`${form.expiresAt}:00Z`).toISOString(),
    logBodies: form.logBodies,
  };
  if (!creating) return body;
  const created: Record<string, unknown> = { ...(form.id.trim() === '' ? {} : { id: form.id.trim() }) };
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === false) continue;
    if (typeof value === 'object' && !Array.isArray(value)) {
      const set = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
      if (Object.keys(set).length > 0) created[name] = set;
    } else created[name] = value;
  }
  return created;
}

function Field({
  id,
  label,
  value,
  onInput,
  type = 'text',
  hint,
  list,
}: {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  type?: 'text' | 'number' | 'datetime-local';
  hint?: string;
  list?: string;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        type={type}
        value={value}
        list={list}
        onInput={(e) => onInput(e.currentTarget.value)}
        aria-describedby={hint ? `${id}-hint` : undefined}
        step={type === 'number' ? 'any' : undefined}
      />
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
    </div>
  );
}

function KeyEditor({
  editing,
  teams,
  models,
  onDone,
  onCancel,
}: {
  editing: Key | null;
  teams: Team[];
  models: string[];
  onDone: (issued?: IssuedKey) => void;
  onCancel: () => void;
}) {
  const [form, setForm] = useState<KeyForm>(() => formOf(editing ?? undefined));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: Exclude<keyof KeyForm, 'logBodies'>) => (value: string) => setForm({ ...form, [name]: value });
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (editing) {
        await request<Key>(`/admin/keys/${encodeURIComponent(editing.id)}`, {
          method: 'PATCH',
          body: keyBody(form, false),
        });
        onDone();
      } else {
        onDone(await request<IssuedKey>('/admin/keys', { method: 'POST', body: keyBody(form, true) }));
      }
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} class="form-grid">
      {!editing && <Field id="key-id" label="Id" value={form.id} onInput={set('id')} hint="Generated when empty." />}
      <div class="field">
        <label for="key-team">Team</label>
        <select id="key-team" value={form.teamId} onChange={(e) => set('teamId')(e.currentTarget.value)}>
          <option value="">No team</option>
          {teams.map((t) => (
            <option key={t.id} value={t.id}>
              {t.name} ({t.id})
            </option>
          ))}
        </select>
      </div>
      <Field
        id="key-models"
        label="Models"
        value={form.models}
        onInput={set('models')}
        hint={`Comma-separated; empty: every model. Known: ${models.join(', ')}`}
      />
      <Field
        id="key-rpm"
        label="Requests per minute"
        type="number"
        value={form.requestsPerMinute}
        onInput={set('requestsPerMinute')}
      />
      <Field
        id="key-tpm"
        label="Tokens per minute"
        type="number"
        value={form.tokensPerMinute}
        onInput={set('tokensPerMinute')}
      />
      <Field
        id="key-usd-day"
        label="Budget, USD per day"
        type="number"
        value={form.usdPerDay}
        onInput={set('usdPerDay')}
      />
      <Field
        id="key-usd-month"
        label="Budget, USD per month"
        type="number"
        value={form.usdPerMonth}
        onInput={set('usdPerMonth')}
      />
      <Field
        id="key-tokens-day"
        label="Budget, tokens per day"
        type="number"
        value={form.tokensPerDay}
        onInput={set('tokensPerDay')}
      />
      <Field
        id="key-expires"
        label="Expires (UTC)"
        type="datetime-local"
        value={form.expiresAt}
        onInput={set('expiresAt')}
      />
      <div class="field">
        <label class="check">
          <input
            type="checkbox"
            checked={form.logBodies}
            onChange={(e) => setForm({ ...form, logBodies: e.currentTarget.checked })}
            aria-describedby="key-bodies-hint"
          />{' '}
          Log request and response bodies
        </label>
        <small id="key-bodies-hint" class="hint">
          Kept in the request log for this key only, redacted of credentials and cut to requestLog.maxBodyChars.
        </small>
      </div>
      <ErrorNote error={error} />
      <div class="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={busy}>
          {editing ? 'Save' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

function Secret({ issued, onClose }: { issued: IssuedKey; onClose: () => void }) {
  return (
    <Dialog title={`Secret of ${issued.key.id}`} open onClose={onClose}>
      <p>
        Copy it now: it is <strong>shown only once</strong> and the gateway keeps only its hash.
      </p>
      <p class="secret">
        <code data-testid="secret">{issued.secret}</code>
      </p>
      <div class="actions">
        <CopyButton text={issued.secret} label="Copy secret" />
        <button type="button" class="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

function Teams({ teams, reload }: { teams: Team[]; reload: () => void }) {
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const [usdPerDay, setUsdPerDay] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [removing, setRemoving] = useState<Team | null>(null);
  const create = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const budget = numberOrNull(usdPerDay);
      await request<Team>('/admin/teams', {
        method: 'POST',
        body: {
          id: id.trim(),
          name: name.trim() || id.trim(),
          ...(budget === null ? {} : { budget: { usdPerDay: budget } }),
        },
      });
      setId('');
      setName('');
      setUsdPerDay('');
      reload();
    } catch (caught) {
      setError(caught);
    }
  };
  const remove = async (team: Team) => {
    setRemoving(null);
    try {
      await request(`/admin/teams/${encodeURIComponent(team.id)}`, { method: 'DELETE' });
      reload();
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section aria-labelledby="teams-title">
      <h2 id="teams-title">Teams</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Name</th>
              <th scope="col">Models</th>
              <th scope="col">USD/day</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {teams.map((t) => (
              <tr key={t.id}>
                <td>{t.id}</td>
                <td>{t.name}</td>
                <td>{t.models?.join(', ') ?? 'all'}</td>
                <td>{usd(t.budget.usdPerDay)}</td>
                <td>
                  <button type="button" class="danger small" onClick={() => setRemoving(t)}>
                    Delete<span class="visually-hidden"> team {t.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form class="inline-form" onSubmit={(e) => void create(e)} aria-label="New team">
        <label>
          Team id <input value={id} onInput={(e) => setId(e.currentTarget.value)} required />
        </label>
        <label>
          Name <input value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          USD per day{' '}
          <input type="number" step="any" value={usdPerDay} onInput={(e) => setUsdPerDay(e.currentTarget.value)} />
        </label>
        <button type="submit">Add team</button>
      </form>
      <ErrorNote error={error} />
      <Confirm
        title="Delete team"
        message={`Delete team ${removing?.id ?? ''}? A team that still has keys cannot be deleted.`}
        action="Delete team"
        open={removing !== null}
        onConfirm={() => removing && void remove(removing)}
        onClose={() => setRemoving(null)}
      />
    </section>
  );
}

export function Keys({ session }: { session: Session }) {
  const [showRevoked, setShowRevoked] = useState(false);
  const [editing, setEditing] = useState<Key | null | 'new'>(null);
  const [issued, setIssued] = useState<IssuedKey | null>(null);
  const [confirm, setConfirm] = useState<{ key: Key; action: 'rotate' | 'revoke' } | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const today = day(new Date());
  const state = useAsync(async () => {
    if (!session.database) return undefined;
    const [keys, teams, usage, routing] = await Promise.all([
      request<ListPage<Key>>(`/admin/keys${query({ limit: 500, revoked: showRevoked ? 'true' : undefined })}`),
      request<ListPage<Team>>('/admin/teams?limit=500'),
      request<{ data: DailyUsage[] }>(`/admin/daily-usage${query({ from: today, to: today, groupBy: 'key' })}`),
      request<{ models: ModelRouting[] }>('/admin/routing'),
    ]);
    return { keys: keys.data, teams: teams.data, usage: usage.data, models: routing.models.map((m) => m.model) };
  }, [showRevoked, today]);
  if (!session.database) return <NeedsDatabase title="Keys" what="Keys and teams" />;
  const data = state.data;
  const spent = new Map((data?.usage ?? []).map((u) => [u.key ?? '', u.costUsd]));
  const act = async () => {
    if (!confirm) return;
    const { key, action } = confirm;
    setConfirm(null);
    setActionError(null);
    try {
      const path = `/admin/keys/${encodeURIComponent(key.id)}/${action}`;
      if (action === 'rotate') setIssued(await request<IssuedKey>(path, { method: 'POST', body: {} }));
      else await request<Key>(path, { method: 'POST' });
      state.reload();
    } catch (caught) {
      setActionError(caught);
    }
  };
  return (
    <section aria-labelledby="keys-title">
      <div class="title-row">
        <h1 id="keys-title">Keys</h1>
        <button type="button" class="primary" onClick={() => setEditing('new')}>
          New key
        </button>
      </div>
      <label class="check">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.currentTarget.checked)} /> Show
        revoked keys
      </label>
      <ErrorNote error={state.error ?? actionError} />
      {data && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Prefix</th>
                <th scope="col">Team</th>
                <th scope="col">Models</th>
                <th scope="col">Limits</th>
                <th scope="col">Spent today</th>
                <th scope="col">Daily budget</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.keys.length === 0 && (
                <tr>
                  <td colSpan={9} class="muted">
                    No keys yet.
                  </td>
                </tr>
              )}
              {data.keys.map((k) => (
                <tr key={k.id}>
                  <td>{k.id}</td>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.teamId ?? '—'}</td>
                  <td>{k.models?.join(', ') ?? 'all'}</td>
                  <td>
                    {k.limits.requestsPerMinute ?? '∞'} rpm · {k.limits.tokensPerMinute ?? '∞'} tpm
                  </td>
                  <td>{usd(spent.get(k.id) ?? 0)}</td>
                  <td>
                    <SpendBar
                      used={spent.get(k.id) ?? 0}
                      limit={k.budget.usdPerDay}
                      label={`${k.id} daily budget used`}
                    />
                  </td>
                  <td>
                    {k.revokedAt ? (
                      <span class="badge bad">revoked</span>
                    ) : k.expiresAt && Date.parse(k.expiresAt) < Date.now() ? (
                      <span class="badge warn">expired</span>
                    ) : (
                      <span class="badge good">active</span>
                    )}
                    {k.logBodies && <span class="badge warn"> bodies logged</span>}
                    {k.previousSecretValidUntil && (
                      <small class="hint"> old secret until {time(k.previousSecretValidUntil)}</small>
                    )}
                  </td>
                  <td class="row-actions">
                    {!k.revokedAt && (
                      <>
                        <button type="button" class="small" onClick={() => setEditing(k)}>
                          Edit<span class="visually-hidden"> {k.id}</span>
                        </button>
                        <button type="button" class="small" onClick={() => setConfirm({ key: k, action: 'rotate' })}>
                          Rotate<span class="visually-hidden"> {k.id}</span>
                        </button>
                        <button
                          type="button"
                          class="small danger"
                          onClick={() => setConfirm({ key: k, action: 'revoke' })}
                        >
                          Revoke<span class="visually-hidden"> {k.id}</span>
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && <Teams teams={data.teams} reload={state.reload} />}
      <Dialog
        title={editing === 'new' ? 'New key' : `Edit ${editing?.id ?? ''}`}
        open={editing !== null}
        onClose={() => setEditing(null)}
      >
        {editing !== null && data && (
          <KeyEditor
            editing={editing === 'new' ? null : editing}
            teams={data.teams}
            models={data.models}
            onCancel={() => setEditing(null)}
            onDone={(created) => {
              setEditing(null);
              if (created) setIssued(created);
              state.reload();
            }}
          />
        )}
      </Dialog>
      {issued && <Secret issued={issued} onClose={() => setIssued(null)} />}
      <Confirm
        title={confirm?.action === 'rotate' ? 'Rotate key' : 'Revoke key'}
        message={
          confirm?.action === 'rotate'
            ? `Rotate ${confirm.key.id}? A new secret is issued; the old one keeps working for the grace period.`
            : `Revoke ${confirm?.key.id ?? ''}? Requests with it are refused from now on. This cannot be undone.`
        }
        action={confirm?.action === 'rotate' ? 'Rotate' : 'Revoke'}
        open={confirm !== null}
        onConfirm={() => void act()}
        onClose={() => setConfirm(null)}
      />
    </section>
  );
}
