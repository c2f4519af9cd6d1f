/**
 * The built UI (Vite's output, `dist/ui`), read into memory once at start-up: a few hundred kilobytes. Each file is
 * kept raw and precompressed (the `.br` and `.gz` files the build writes beside it; compressed here once when the
 * build left none), and answered with the best encoding the request accepts, an ETag, and cache headers: hashed
 * files under `assets/` are immutable for a year, everything else (index.html) is revalidated on every load.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export interface UiAsset {
  readonly type: string;
  readonly etag: string;
  readonly immutable: boolean;
  readonly raw: Buffer;
  readonly gzip: Buffer;
  readonly brotli: Buffer;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Where `npm run build` puts the UI, seen from this file compiled to dist/src/ui/. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

function walk(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...walk(path));
    else files.push(path);
  }
  return files;
}

export class UiAssets {
  private readonly files = new Map<string, UiAsset>();

  /** An empty set when the directory has no index.html (the UI was not built). */
  static load(dir: string = DEFAULT_UI_DIR): UiAssets {
    const assets = new UiAssets();
    if (!existsSync(join(dir, 'index.html'))) return assets;
    for (const path of walk(dir)) {
      const name = relative(dir, path).split(sep).join('/');
      const type = TYPES[extname(name)];
      // Only what a browser loads: not the precompressed copies, the build manifest or source maps.
      if (type === undefined || name.startsWith('.vite/') || name === 'build-report.json') continue;
      const raw = readFileSync(path);
      assets.files.set(name, {
        type,
        etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
        immutable: name.startsWith('assets/'),
        raw,
        gzip: existsSync(`${path}.gz`) ? readFileSync(`${path}.gz`) : gzipSync(raw, { level: 9 }),
        brotli: existsSync(`${path}.br`)
          ? readFileSync(`${path}.br`)
          : brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
      });
    }
    return assets;
  }

  get built(): boolean {
    return this.files.has('index.html');
  }

  get(name: string): UiAsset | undefined {
    return this.files.get(name);
  }

  names(): string[] {
    return [...this.files.keys()];
  }
}

export type Encoding = 'br' | 'gzip' | 'identity';

/** The best encoding an Accept-Encoding header takes (q=0 refuses one). */
export function chooseEncoding(header: string | undefined): Encoding {
  if (header === undefined) return 'identity';
  const accepted = new Map<string, number>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(name.trim(), q === undefined ? 1 : Number(q.slice(2)) || 0);
  }
  const weight = (name: string) => accepted.get(name) ?? accepted.get('*') ?? 0;
  if (weight('br') > 0) return 'br';
  if (weight('gzip') > 0) return 'gzip';
  return 'identity';
}
