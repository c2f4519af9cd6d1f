import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  describeSecretReference,
  parseSecretReference,
  readLocalSecret,
  SecretReferenceError,
} from './secret-reference.js';

describe('parseSecretReference', () => {
  it('reads vault:<mount>/<path>#<key> with the first segment as the mount', () => {
    assert.deepEqual(parseSecretReference('vault:secret/llm/openai#api_key'), {
      kind: 'vault',
      mount: 'secret',
      path: 'llm/openai',
      key: 'api_key',
    });
    assert.deepEqual(parseSecretReference('vault:kv/anthropic#key#2'), {
      kind: 'vault',
      mount: 'kv',
      path: 'anthropic',
      key: 'key#2',
    });
  });

  it('reads env: and file: references', () => {
    assert.deepEqual(parseSecretReference('env:OPENAI_API_KEY'), { kind: 'env', name: 'OPENAI_API_KEY' });
    assert.deepEqual(parseSecretReference('file:/run/secrets/openai'), { kind: 'file', path: '/run/secrets/openai' });
  });

  it('takes anything else as a literal', () => {
    assert.deepEqual(parseSecretReference('sk-live-123'), { kind: 'literal', value: 'sk-live-123' });
    assert.deepEqual(parseSecretReference('https://vault:8200'), { kind: 'literal', value: 'https://vault:8200' });
  });

  for (const bad of [
    'vault:secret/llm/openai',
    'vault:secret#api_key',
    'vault:secret/llm/openai#',
    'vault:/llm/openai#k',
    'vault:secret//openai#k',
    'vault:secret/../sys#k',
    'env:',
    'env:1ABC',
    'env:A-B',
    'file:',
  ]) {
    it(`rejects ${bad}`, () => {
      assert.throws(() => parseSecretReference(bad), SecretReferenceError);
    });
  }
});

describe('describeSecretReference', () => {
  it('names references but never a literal value', () => {
    assert.equal(
      describeSecretReference(parseSecretReference('vault:secret/llm/openai#api_key')),
      'vault:secret/llm/openai#api_key',
    );
    assert.equal(describeSecretReference(parseSecretReference('env:KEY')), 'env:KEY');
    assert.equal(describeSecretReference(parseSecretReference('file:/x')), 'file:/x');
    assert.equal(describeSecretReference(parseSecretReference('sk-live-123')), 'a literal value');
  });
});

describe('readLocalSecret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secret-reference-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads literals, environment variables and trimmed file content', () => {
    process.env.SECRET_REFERENCE_SPEC = 'from-env';
    writeFileSync(join(dir, 'key'), '  from-file\n');
    assert.equal(readLocalSecret({ kind: 'literal', value: 'x' }), 'x');
    assert.equal(readLocalSecret({ kind: 'env', name: 'SECRET_REFERENCE_SPEC' }), 'from-env');
    assert.equal(readLocalSecret({ kind: 'file', path: join(dir, 'key') }), 'from-file');
    delete process.env.SECRET_REFERENCE_SPEC;
  });

  it('rejects unset variables, missing and empty files, naming the reference', () => {
    writeFileSync(join(dir, 'empty'), '\n');
    assert.throws(() => readLocalSecret({ kind: 'env', name: 'SECRET_REFERENCE_SPEC_UNSET' }), {
      message: 'env:SECRET_REFERENCE_SPEC_UNSET: the value is not set or empty',
    });
    assert.throws(() => readLocalSecret({ kind: 'file', path: join(dir, 'missing') }), {
      message: `file:${join(dir, 'missing')}: cannot read the file (ENOENT)`,
    });
    assert.throws(() => readLocalSecret({ kind: 'file', path: join(dir, 'empty') }), /the value is empty/);
  });
});
