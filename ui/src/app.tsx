/** The shell: session check, sign-in, navigation, theme, and the current screen. */
import { useEffect, useState } from 'preact/hooks';
import { getSession, type Session, signOut, useSession } from './api.js';
import { ErrorNote } from './components/common.js';
import { SCREENS, type ScreenPath, useScreen } from './router.js';
import { Keys } from './screens/keys.js';
import { Logs } from './screens/logs.js';
import { Overview } from './screens/overview.js';
import { Playground } from './screens/playground.js';
import { Providers } from './screens/providers.js';
import { SignIn } from './screens/sign-in.js';
import { Usage } from './screens/usage.js';

type Theme = 'auto' | 'light' | 'dark';

function useTheme(): [Theme, (theme: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem('llmgw-theme') as Theme | null) ?? 'auto');
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem('llmgw-theme', theme);
  }, [theme]);
  return [theme, setTheme];
}

function Screen({ screen, session }: { screen: ScreenPath; session: Session }) {
  switch (screen) {
    case 'overview':
      return <Overview session={session} />;
    case 'keys':
      return <Keys session={session} />;
    case 'usage':
      return <Usage session={session} />;
    case 'logs':
      return <Logs session={session} />;
    case 'providers':
      return <Providers />;
    case 'playground':
      return <Playground session={session} />;
  }
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [theme, setTheme] = useTheme();
  const screen = useScreen();

  const adopt = (next: Session | null) => {
    if (next?.signedIn) useSession(next, () => setSession(null));
    setSession(next?.signedIn ? next : null);
  };
  useEffect(() => {
    getSession().then(adopt, (caught: unknown) => {
      setError(caught);
      setSession(null);
    });
  }, []);
  useEffect(() => {
    const title = SCREENS.find((s) => s.path === screen)?.title ?? '';
    document.title = `${title} · LLM gateway`;
  }, [screen]);

  if (session === undefined) return <p class="loading">Loading…</p>;
  if (session === null) {
    return (
      <>
        <ErrorNote error={error} />
        <SignIn onSignedIn={adopt} />
      </>
    );
  }
  const leave = async () => {
    await signOut().catch(() => undefined);
    setSession(null);
  };
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">LLM gateway</span>
        <nav aria-label="Screens">
          {SCREENS.map((s) => (
            <a key={s.path} href={`#/${s.path}`} aria-current={s.path === screen ? 'page' : undefined}>
              {s.title}
            </a>
          ))}
        </nav>
        <div class="session">
          <label class="theme">
            <span class="visually-hidden">Theme</span>
            <select value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)} aria-label="Theme">
              <option value="auto">Auto</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <span class="who" title="Signed in as">
            {session.keyId}
          </span>
          <button type="button" onClick={() => void leave()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Screen screen={screen} session={session} />
      </main>
    </div>
  );
}
