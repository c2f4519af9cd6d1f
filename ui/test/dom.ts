/** A DOM for component tests under node's test runner (happy-dom); imported first by every UI spec. */
import { GlobalRegistrator } from '@happy-dom/global-registrator';

if (typeof (globalThis as { document?: unknown }).document === 'undefined') {
  GlobalRegistrator.register({ url: 'http://127.0.0.1/ui/', width: 1280, height: 900 });
}

/** Lets effects and promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

/** Replaces fetch with a function of (path, init). */
export function mockFetch(answer: (path: string, init: RequestInit | undefined) => unknown) {
  const calls: { path: string; init: RequestInit | undefined }[] = [];
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = typeof input === 'string' ? input : input instanceof URL ? input.pathname + input.search : input.url;
    calls.push({ path, init });
    const body = await answer(path, init);
    if (body instanceof Response) return body;
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return calls;
}

export function input(element: Element | null, value: string): void {
  const field = element as HTMLInputElement;
  field.value = value;
  field.dispatchEvent(new Event('input', { bubbles: true }));
}
