/** The session cookie's name and attributes, and reading cookies from a request (no dependency for one cookie). */
import type { FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'llmgw_ui_session';

/** A cookie's value from a Cookie header; undefined when absent or empty. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    return value === '' ? undefined : value;
  }
  return undefined;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
}

/**
 * `Path=/` because the UI calls /admin/* with it; HttpOnly so page scripts never see it; SameSite=Strict so no
 * other site's page can make the browser send it.
 */
export function sessionCookie(value: string, options: CookieOptions): string {
  const attributes = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  attributes.push(`Max-Age=${options.maxAgeSeconds}`);
  if (options.secure) attributes.push('Secure');
  return attributes.join('; ');
}

export function clearedCookie(secure: boolean): string {
  return sessionCookie('', { maxAgeSeconds: 0, secure });
}

/** Whether the request presents a gateway key (then the key, never the cookie, decides). */
export function presentedKeyHeader(headers: FastifyRequest['headers']): boolean {
  return headers.authorization !== undefined || headers['x-api-key'] !== undefined;
}
