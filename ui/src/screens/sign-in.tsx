/** Sign-in: an admin key, exchanged for the session cookie; the key itself is not kept by the page. */
import { useState } from 'preact/hooks';
import { type Session, signIn } from '../api.js';
import { ErrorNote } from '../components/common.js';

export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await signIn(key.trim());
      setKey('');
      onSignedIn(session);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">LLM gateway</h1>
        <p class="muted">Sign in with an admin key.</p>
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          name="admin-key"
          type="password"
          autoComplete="current-password"
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
          autoFocus
        />
        <p class="hint">
          A gateway with no keys at all (the demo) lets you in from this machine with the field left empty.
        </p>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
