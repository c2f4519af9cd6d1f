/**
 * Builds the admin UI into dist/ui (served by the gateway at /ui, see src/ui/). After the bundle is written, every
 * file gets a .br and a .gz beside it (the gateway serves those as they are), and build-report.json records the
 * gzipped size of the JavaScript the first screen loads (the entry chunk and its static imports), which must stay
 * within the 200 KB budget (the build fails past it, and test/e2e/ui.e2e.spec.ts reads the report).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

const OUT_DIR = fileURLToPath(new URL('../dist/ui', import.meta.url));
export const FIRST_SCREEN_BUDGET_BYTES = 200 * 1024;

interface ManifestChunk {
  file: string;
  isEntry?: boolean;
  imports?: string[];
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

function precompress(): Plugin {
  return {
    name: 'llmgw-precompress',
    apply: 'build',
    closeBundle() {
      for (const path of files(OUT_DIR)) {
        if (/\.(br|gz)$/.test(path) || path.includes('/.vite/')) continue;
        const raw = readFileSync(path);
        writeFileSync(`${path}.gz`, gzipSync(raw, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
      const manifest = JSON.parse(readFileSync(join(OUT_DIR, '.vite/manifest.json'), 'utf8')) as Record<
        string,
        ManifestChunk
      >;
      const seen = new Set<string>();
      const visit = (key: string) => {
        const chunk = manifest[key];
        if (chunk === undefined || seen.has(chunk.file)) return;
        seen.add(chunk.file);
        for (const imported of chunk.imports ?? []) visit(imported);
      };
      for (const [key, chunk] of Object.entries(manifest)) if (chunk.isEntry) visit(key);
      const js = [...seen].filter((file) => file.endsWith('.js'));
      const gzipBytes = js.reduce((n, file) => n + gzipSync(readFileSync(join(OUT_DIR, file)), { level: 9 }).length, 0);
      const rawBytes = js.reduce((n, file) => n + statSync(join(OUT_DIR, file)).size, 0);
      const report = { firstScreenJs: js, firstScreenJsBytes: rawBytes, firstScreenJsGzipBytes: gzipBytes };
      writeFileSync(join(OUT_DIR, 'build-report.json'), `${JSON.stringify(report, null, 2)}\n`);
      const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
      process.stdout.write(
        `ui: first screen JS ${kb(rawBytes)}, ${kb(gzipBytes)} gzipped (budget ${kb(FIRST_SCREEN_BUDGET_BYTES)})\n`,
      );
      if (gzipBytes > FIRST_SCREEN_BUDGET_BYTES) throw new Error('ui: the first screen JS is over its budget');
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  plugins: [precompress()],
  // `npm run dev:ui`: the page from Vite, the API from a gateway on :8080 (`npm run demo`).
  server: {
    proxy: Object.fromEntries(
      ['/admin', '/ui/api', '/v1'].map((path) => [path, { target: 'http://127.0.0.1:8080', changeOrigin: false }]),
    ),
  },
  build: {
    outDir: OUT_DIR,
    emptyOutDir: true,
    manifest: true,
    target: 'es2022',
    sourcemap: false,
  },
});
