import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { Cancellation } from '../../common/cancellation.js';
import { ProviderConfig } from '../../config/gateway-config.js';
import type { UpstreamClient, UpstreamRequest } from '../../upstream/upstream-client.js';
import type { LlmProvider } from '../llm-provider.js';
import type { ProviderRuntime, UpstreamSettings } from '../provider-runtime.js';
import { credentialsReference, GeminiOptions, geminiProviderFactory } from './gemini.provider.js';

const { privateKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const KEY_FILE = JSON.stringify({
  type: 'service_account',
  project_id: 'key-project',
  private_key: privateKey,
  client_email: 'gw@key-project.iam.gserviceaccount.com',
});

interface Recorded {
  settings: UpstreamSettings | undefined;
  requests: UpstreamRequest[];
}

/** A runtime whose secrets are the references themselves and whose transport records what it is asked. */
function fakeRuntime(): { runtime: ProviderRuntime; clients: Recorded[] } {
  const clients: Recorded[] = [];
  const runtime: ProviderRuntime = {
    credential: (reference) => Promise.resolve({ value: () => reference }),
    credentialsRejected: () => undefined,
    upstream: (_mapError, settings) => {
      const recorded: Recorded = { settings, requests: [] };
      clients.push(recorded);
      const client = {
        json: (request: UpstreamRequest) => {
          recorded.requests.push(request);
          const data = request.path.endsWith('/token')
            ? { access_token: 'ya29.fake-token-value', expires_in: 3600 }
            : { candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP' }] };
          return Promise.resolve({ status: 200, headers: {}, data, text: '' });
        },
        close: () => undefined,
      };
      return client as unknown as UpstreamClient;
    },
  };
  return { runtime, clients };
}

function config(baseUrl: string, apiKey?: string): ProviderConfig {
  return Object.assign(new ProviderConfig(), { name: 'g', type: 'gemini', baseUrl, apiKey });
}

function options(values: Partial<GeminiOptions>): GeminiOptions {
  return Object.assign(new GeminiOptions(), values);
}

async function chatPath(provider: LlmProvider, clients: Recorded[], model: string): Promise<string> {
  await provider.chat(
    { model, messages: [{ role: 'user', content: 'hi' }] },
    { cancellation: new Cancellation(), requestId: 'r' },
  );
  // The API's client is made last, after the token endpoint's.
  return clients.at(-1)!.requests.at(-1)!.path;
}

describe('geminiProviderFactory', () => {
  it('reads a bare path, a reference or inline JSON as the credentials secret', () => {
    assert.equal(credentialsReference('/run/secrets/sa.json'), 'file:/run/secrets/sa.json');
    assert.equal(credentialsReference('vault:secret/gcp#key'), 'vault:secret/gcp#key');
    assert.equal(credentialsReference('env:GOOGLE_KEY'), 'env:GOOGLE_KEY');
    assert.equal(credentialsReference(' {"type":"service_account"}'), ' {"type":"service_account"}');
  });

  it('builds Gemini API paths under models/ with the key in x-goog-api-key', async () => {
    const { runtime, clients } = fakeRuntime();
    const provider = await geminiProviderFactory.create(
      config('https://generativelanguage.googleapis.com', 'AIza-key'),
      options({}),
      runtime,
    );
    assert.equal(
      await chatPath(provider, clients, 'gemini-2.5-flash'),
      '/v1beta/models/gemini-2.5-flash:generateContent',
    );
    assert.equal(await chatPath(provider, clients, 'tunedModels/mine-1'), '/v1beta/tunedModels/mine-1:generateContent');
    assert.deepEqual(clients[0].settings?.authHeaders?.(), { 'x-goog-api-key': 'AIza-key' });
  });

  it('infers Vertex AI and the location from an aiplatform host, and the project from the key file', async () => {
    const regional = fakeRuntime();
    const provider = await geminiProviderFactory.create(
      config('https://europe-west4-aiplatform.googleapis.com'),
      options({ credentialsFile: KEY_FILE }),
      regional.runtime,
    );
    assert.equal(
      await chatPath(provider, regional.clients, 'gemini-2.5-pro'),
      '/v1/projects/key-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent',
    );
    const token = regional.clients[0];
    assert.equal(token.settings?.baseUrl, 'https://oauth2.googleapis.com/token');
    assert.equal(token.settings?.withoutConfiguredHeaders, true);
    assert.deepEqual(await regional.clients[1].settings?.signRequest?.({} as never), {
      authorization: 'Bearer ya29.fake-token-value',
    });

    const global = fakeRuntime();
    const globalProvider = await geminiProviderFactory.create(
      config('https://aiplatform.googleapis.com'),
      options({ credentialsFile: KEY_FILE, project: 'other', apiVersion: 'v1beta1' }),
      global.runtime,
    );
    assert.equal(
      await chatPath(globalProvider, global.clients, 'gemini-3-flash-preview'),
      '/v1beta1/projects/other/locations/global/publishers/google/models/gemini-3-flash-preview:generateContent',
    );
  });

  it('stops start-up on a configuration that cannot work', async () => {
    const refuses = (baseUrl: string, values: Partial<GeminiOptions>, pattern: RegExp, apiKey?: string) =>
      assert.rejects(
        async () => geminiProviderFactory.create(config(baseUrl, apiKey), options(values), fakeRuntime().runtime),
        pattern,
      );
    await refuses('https://generativelanguage.googleapis.com', {}, /needs apiKey, or options.credentialsFile/);
    await refuses('https://generativelanguage.googleapis.com/v1beta', {}, /leave the API version out/, 'k');
    await refuses(
      'https://us-central1-aiplatform.googleapis.com',
      { credentialsFile: KEY_FILE },
      /Vertex AI is called with OAuth/,
      'k',
    );
    await refuses(
      'https://us-central1-aiplatform.googleapis.com',
      { credentialsFile: KEY_FILE, location: 'europe-west4' },
      /location europe-west4 is served at https:\/\/europe-west4-aiplatform.googleapis.com/,
    );
    await refuses('http://127.0.0.1:8080', { api: 'vertex', credentialsFile: KEY_FILE }, /options.location: required/);
    await refuses(
      'https://aiplatform.googleapis.com',
      { credentialsFile: '{"type":"service_account","client_email":"a@b"}' },
      /credentialsFile: the service account key has no private_key/,
    );
    await refuses(
      'https://aiplatform.googleapis.com',
      { credentialsFile: KEY_FILE.replace('"project_id":"key-project",', '') },
      /options.project: required/,
    );
  });
});
