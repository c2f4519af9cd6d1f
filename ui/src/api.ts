/**
 * The admin API, as the UI calls it: same origin, the session cookie (sent by the browser), and the session's CSRF
 * token on every request that changes something. Errors come back in the gateway's OpenAI shape.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

export interface Session {
  signedIn: boolean;
  keyId: string | null;
  csrfToken: string | null;
  expiresAt: string | null;
  database: boolean;
  auth: boolean;
}

let csrfToken: string | null = null;
/** Called when a request finds the session gone (401 on an admin route): the app shows sign-in again. */
let onSignedOut: () => void = () => undefined;

export function useSession(session: Session, signedOut: () => void): void {
  csrfToken = session.csrfToken;
  onSignedOut = signedOut;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  headers?: Record<string, string>;
}

async function errorOf(response: Response): Promise<ApiError> {
  try {
    const body = (await response.json()) as { error?: { message?: string; code?: string; param?: string } };
    const error = body.error ?? {};
    return new ApiError(response.status, error.message ?? response.statusText, error.code ?? null, error.param ?? null);
  } catch {
    return new ApiError(response.status, `${response.status} ${response.statusText}`);
  }
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && path.startsWith('/admin/')) onSignedOut();
    throw error;
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const getSession = () => request<Session>('/ui/api/session');

/** Exchanges an admin key for the session cookie; an empty key works only on a keyless gateway, from loopback. */
export async function signIn(key: string): Promise<Session> {
  const response = await fetch('/ui/api/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: key === '' ? {} : { authorization: `Bearer ${key}` },
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as Session;
}

export const signOut = () => request<void>('/ui/api/session', { method: 'DELETE' });

/** A query string from the set fields only. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
