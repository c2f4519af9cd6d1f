/**
 * config/gateway.example.yaml is the reference of every field: this spec walks the config classes (and every
 * provider type's options class) and fails when a field is missing from it, so a new field cannot be forgotten.
 * Both shipped starting points start as documented.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PROVIDER_FACTORIES } from '../providers/provider-factories.js';
import { loadGatewayConfig } from './config-loader.js';
import { fieldsOf } from './config-schema.js';
import { GatewayConfig } from './gateway-config.js';

type Constructor = new () => object;

/** Every field path below `cls` (`server.timeouts.headersMs`); lists and maps are walked through their element. */
function fieldPaths(cls: Constructor, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [name, field] of fieldsOf(cls)) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    paths.push(path);
    if (field.nested) paths.push(...fieldPaths(field.nested.of(), path));
  }
  return paths;
}

describe('config/gateway.example.yaml', () => {
  const text = readFileSync('config/gateway.example.yaml', 'utf8');
  const mentions = (name: string) => new RegExp(`(^|[\\s{,#])${name}:`, 'm').test(text);

  it('mentions every field of the config, at every level', () => {
    const missing = fieldPaths(GatewayConfig).filter((path) => !mentions(path.split('.').at(-1)!));
    assert.deepEqual(missing, [], `add these to config/gateway.example.yaml: ${missing.join(', ')}`);
  });

  it("mentions every option of every provider type, and each type's name", () => {
    for (const factory of PROVIDER_FACTORIES) {
      assert.match(text, new RegExp(`type: ${factory.type}\\b`), `an example provider of type ${factory.type}`);
      if (!factory.optionsClass) continue;
      const missing = fieldPaths(factory.optionsClass as Constructor).filter(
        (path) => !mentions(path.split('.').at(-1)!),
      );
      assert.deepEqual(missing, [], `${factory.type} options missing from the example: ${missing.join(', ')}`);
    }
  });

  it('starts copied as is, with only the client key set', () => {
    const config = loadGatewayConfig({
      GATEWAY_CONFIG: 'config/gateway.example.yaml',
      GATEWAY_API_KEY: 'k'.repeat(32),
    });
    assert.ok(config.auth.keys.length > 0, 'it has a client key, so it does not answer 401 to everything');
  });
});

describe('config/gateway.minimal.yaml', () => {
  it('starts with OPENAI_API_KEY and GATEWAY_API_KEY', () => {
    const config = loadGatewayConfig({
      GATEWAY_CONFIG: 'config/gateway.minimal.yaml',
      OPENAI_API_KEY: 'sk-test',
      GATEWAY_API_KEY: 'k'.repeat(32),
    });
    assert.equal(config.providers.length, 1);
    assert.equal(config.models[0].name, 'gpt-4o-mini');
    assert.equal(config.auth.keys[0].key, 'k'.repeat(32));
  });
});
