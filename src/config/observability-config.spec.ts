import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, validateGatewayConfig } from './config-loader.js';

const provider = { name: 'openai', type: 'openai', baseUrl: 'https://api.openai.com/v1' };
const model = { name: 'gpt-4o-mini', deployments: [{ provider: 'openai', model: 'gpt-4o-mini' }] };

function problemsOf(document: Record<string, unknown>): string[] {
  try {
    validateGatewayConfig({ providers: [provider], models: [model], ...document });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('observability config', () => {
  it('logs requests and records no message text by default; models have no pricing', () => {
    const config = validateGatewayConfig({ providers: [provider], models: [model] });
    assert.equal(config.server.logRequests, true);
    assert.equal(config.observability.tracing.recordContent, false);
    assert.equal(config.models[0].pricing, undefined);
  });

  it('accepts model prices in USD per million tokens', () => {
    const config = validateGatewayConfig({
      providers: [provider],
      models: [{ ...model, pricing: { inputPerMillion: 0.15, outputPerMillion: 0.6 } }],
      observability: { tracing: { recordContent: true } },
    });
    // The optional cache rates are own properties left undefined (ES2022 class fields), so compare field by field.
    const pricing = config.models[0].pricing;
    assert.equal(pricing?.inputPerMillion, 0.15);
    assert.equal(pricing?.outputPerMillion, 0.6);
    assert.equal(pricing?.cachedInputPerMillion, undefined);
    assert.equal(pricing?.cacheWritePerMillion, undefined);
    assert.equal(config.observability.tracing.recordContent, true);
  });

  it('rejects negative, missing or non-numeric prices', () => {
    const problems = problemsOf({
      models: [
        { ...model, pricing: { inputPerMillion: -1, outputPerMillion: 1 } },
        { ...model, name: 'b', pricing: { inputPerMillion: 1 } },
        { ...model, name: 'c', pricing: { inputPerMillion: 'cheap', outputPerMillion: 1 } },
      ],
    });
    assert.ok(
      problems.some((p) => p.startsWith('models[0].pricing.inputPerMillion')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('models[1].pricing.outputPerMillion')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('models[2].pricing.inputPerMillion')),
      problems.join('\n'),
    );
  });
});
