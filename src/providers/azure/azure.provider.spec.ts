import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildProvider } from '../../../test/support/providers.js';

const entry = (fields: Record<string, unknown>) => ({
  name: 'aoai',
  type: 'azure',
  baseUrl: 'https://resource.openai.azure.com',
  ...fields,
});

describe('azure provider configuration', () => {
  it('builds with an api key, with Entra ID, or with a credential header', async () => {
    for (const fields of [
      { apiKey: 'resource-key' },
      { options: { apiPath: 'v1', entra: { tenantId: 't', clientId: 'c', clientSecret: 'secret' } } },
      { options: { entra: {} } },
      { headers: { 'Ocp-Apim-Subscription-Key': 'apim-key-0123456789' } },
    ]) {
      const provider = await buildProvider(entry(fields));
      assert.equal(provider.type, 'azure');
      provider.close?.();
    }
  });

  it('stops start-up on ambiguous or missing credentials', async () => {
    await assert.rejects(buildProvider(entry({})), /needs apiKey \(the resource key\) or options\.entra/);
    await assert.rejects(
      buildProvider(entry({ apiKey: 'k', options: { entra: {} } })),
      /apiKey or options\.entra, not both/,
    );
  });

  it('stops start-up on invalid options', async () => {
    const problems: [Record<string, unknown>, RegExp][] = [
      [{ apiPath: 'v2' }, /options\.apiPath/],
      [{ apiVersion: '2024-10-21&x=1' }, /apiVersion may contain only/],
      [{ entra: { clientSecret: 'secret', clientId: 'c' } }, /options\.entra\.tenantId/],
      [{ entra: { authorityHost: 'http://login.example' } }, /options\.entra\.authorityHost/],
    ];
    for (const [options, problem] of problems) {
      await assert.rejects(buildProvider(entry({ apiKey: 'k', options })), problem);
    }
    await assert.rejects(
      buildProvider(entry({ options: { entra: { tenantId: 'not a tenant!', clientId: 'c', clientSecret: 's' } } })),
      /providers\.aoai\.options\.entra: .*tenant/i,
    );
    await assert.rejects(
      buildProvider(entry({ options: { entra: { caFile: '/no/such/ca.pem' } } })),
      /providers\.aoai\.options\.entra: ENOENT/,
    );
  });
});
