import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { chooseEncoding, UiAssets } from './ui-assets.js';

describe('UI assets', () => {
  it('picks brotli, then gzip, honouring q=0', () => {
    assert.equal(chooseEncoding('gzip, deflate, br, zstd'), 'br');
    assert.equal(chooseEncoding('gzip'), 'gzip');
    assert.equal(chooseEncoding('br;q=0, gzip;q=0.5'), 'gzip');
    assert.equal(chooseEncoding('*'), 'br');
    assert.equal(chooseEncoding('identity'), 'identity');
    assert.equal(chooseEncoding(undefined), 'identity');
  });

  it('loads a build: hashed assets immutable, index revalidated, precompressed copies used or made', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ui-assets-'));
    try {
      mkdirSync(join(dir, 'assets'));
      mkdirSync(join(dir, '.vite'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><p>hi</p>');
      writeFileSync(join(dir, 'assets/index-abc.js'), 'console.log(1)');
      writeFileSync(join(dir, 'assets/index-abc.js.gz'), Buffer.from('not really gzip'));
      writeFileSync(join(dir, '.vite/manifest.json'), '{}');
      writeFileSync(join(dir, 'build-report.json'), '{}');
      const assets = UiAssets.load(dir);
      assert.equal(assets.built, true);
      assert.deepEqual(assets.names().sort(), ['assets/index-abc.js', 'index.html']);
      const index = assets.get('index.html')!;
      assert.equal(index.immutable, false);
      assert.equal(index.type, 'text/html; charset=utf-8');
      assert.equal(gunzipSync(index.gzip).toString(), '<!doctype html><p>hi</p>');
      assert.equal(brotliDecompressSync(index.brotli).toString(), '<!doctype html><p>hi</p>');
      const js = assets.get('assets/index-abc.js')!;
      assert.equal(js.immutable, true);
      assert.equal(js.gzip.toString(), 'not really gzip', 'the build’s own .gz is served as it is');
      assert.match(js.etag, /^"[\w-]{22}"$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is empty when the UI was not built', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ui-assets-'));
    try {
      assert.equal(UiAssets.load(dir).built, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
