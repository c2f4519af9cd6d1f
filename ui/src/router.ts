/** Hash routes (`#/keys`): no server fallback needed, and the gateway serves one index.html. */
import { useEffect, useState } from 'preact/hooks';

export const SCREENS = [
  { path: 'overview', title: 'Overview' },
  { path: 'keys', title: 'Keys' },
  { path: 'usage', title: 'Usage' },
  { path: 'logs', title: 'Logs' },
  { path: 'providers', title: 'Providers' },
  { path: 'playground', title: 'Playground' },
] as const;

export type ScreenPath = (typeof SCREENS)[number]['path'];

export function screenOf(hash: string): ScreenPath {
  const path = hash.replace(/^#\/?/, '').split('?')[0];
  return SCREENS.find((s) => s.path === path)?.path ?? 'overview';
}

export function useScreen(): ScreenPath {
  const [screen, setScreen] = useState<ScreenPath>(() => screenOf(location.hash));
  useEffect(() => {
    const onChange = () => setScreen(screenOf(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return screen;
}
