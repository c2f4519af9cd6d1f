import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ClientSecretCredential, getBearerTokenProvider } from '@azure/identity';
import OpenAI, { AzureOpenAI } from 'openai';
import { AZURE_ENTRA_SIM_CERT } from './azure-entra-tls.js';
import { AzureOpenAiSimulator } from './azure-openai-simulator.js';
import { schemaErrors } from './openai-schemas.js';
import { arrayAt, at, numberAt, objectAt, stringAt } from './sim-json.js';

const API_KEY = 'azure-key-1';
const API_VERSION = '2024-10-21';
const SCOPE = 'https://cognitiveservices.azure.com/.default';
const TENANT = 'tenant-1';
const CLIENT = { clientId: 'client-1', clientSecret: 'secret-1' };

function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
}

/** A credential pointed at the simulator's Entra endpoint, trusting its certificate for this client only. */
function simCredential(authorityHost: string, clientSecret = CLIENT.clientSecret): ClientSecretCredential {
  return new ClientSecretCredential(TENANT, CLIENT.clientId, clientSecret, {
    authorityHost,
    disableInstanceDiscovery: true,
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'trust-entra-simulator',
          sendRequest: (request, next) => {
            request.tlsSettings = { ca: AZURE_ENTRA_SIM_CERT };
            return next(request);
          },
        },
      },
    ],
  });
}

describe('AzureOpenAiSimulator', () => {
  const sim = new AzureOpenAiSimulator({
    apiKey: API_KEY,
    deployments: { chat: 'gpt-4o-2024-08-06', embed: 'text-embedding-3-small', thinker: 'o4-mini' },
    entraClients: [CLIENT],
  });
  let endpoint = '';
  let authorityHost = '';

  const post = async (path: string, body: unknown, headers: Record<string, string> = { 'api-key': API_KEY }) => {
    const response = await fetch(`${endpoint}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const chatPath = (deployment = 'chat', version: string | null = API_VERSION) =>
    `/openai/deployments/${deployment}/chat/completions${version === null ? '' : `?api-version=${version}`}`;
  const user = (content: string) => ({ messages: [{ role: 'user', content }] });

  before(async () => {
    endpoint = await sim.start();
    authorityHost = await sim.startEntra();
  });
  after(() => sim.stop());
  beforeEach(() => sim.reset());

  it('answers a deployment with the model it serves, with prompt and completion filter annotations', async () => {
    const { status, headers, text } = await post(chatPath(), user('Hi there'));
    assert.equal(status, 200);
    assert.ok(headers.get('apim-request-id'));
    const completion = objectAt(JSON.parse(text));
    assert.equal(completion.model, 'gpt-4o-2024-08-06');
    assert.equal(at(completion, 'choices', 0, 'message', 'content'), 'Hello from gpt-4o-2024-08-06: Hi there');
    assert.deepEqual(at(completion, 'prompt_filter_results', 0, 'prompt_index'), 0);
    assert.deepEqual(at(completion, 'prompt_filter_results', 0, 'content_filter_results', 'jailbreak'), {
      filtered: false,
      detected: false,
    });
    assert.deepEqual(at(completion, 'choices', 0, 'content_filter_results', 'hate'), {
      filtered: false,
      severity: 'safe',
    });
    assert.equal(schemaErrors('CreateChatCompletionResponse', completion), '');
    assert.equal(sim.requests[0].query['api-version'], API_VERSION);
  });

  it('answers Azure OpenAI clients: the SDK AzureOpenAI class with a key', async () => {
    const client = new AzureOpenAI({
      endpoint,
      apiKey: API_KEY,
      apiVersion: API_VERSION,
      deployment: 'chat',
      maxRetries: 0,
    });
    const completion = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(completion.choices[0].message.content, 'Hello from gpt-4o-2024-08-06: Hi');
    assert.equal(sim.requests[0].headers['api-key'], API_KEY);
  });

  it('streams the prompt annotation chunk first, then chunks with content_filter_results', async () => {
    const { text } = await post(chatPath(), { ...user('one two'), stream: true });
    const data = sseData(text);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((line) => objectAt(JSON.parse(line)));
    assert.deepEqual(
      { id: chunks[0].id, object: chunks[0].object, model: chunks[0].model, choices: chunks[0].choices },
      { id: '', object: '', model: '', choices: [] },
    );
    assert.ok(chunks[0].prompt_filter_results);
    assert.ok(at(chunks[1], 'choices', 0, 'content_filter_results'));
    assert.equal(at(chunks.at(-1), 'choices', 0, 'finish_reason'), 'stop');
  });

  it('stops the answer with finish_reason content_filter on SIM_FILTER_OUTPUT', async () => {
    const filtered: unknown = JSON.parse((await post(chatPath(), user('Tell me\nSIM_FILTER_OUTPUT'))).text);
    assert.equal(at(filtered, 'choices', 0, 'finish_reason'), 'content_filter');
    assert.equal(at(filtered, 'choices', 0, 'message', 'content'), null);
    assert.deepEqual(at(filtered, 'choices', 0, 'content_filter_results', 'violence'), {
      filtered: true,
      severity: 'medium',
    });
    const { text } = await post(chatPath(), { ...user('a b c d e f\nSIM_FILTER_OUTPUT'), stream: true });
    const chunks = sseData(text)
      .slice(0, -1)
      .map((line): unknown => JSON.parse(line));
    const last = at(chunks.at(-1), 'choices', 0);
    assert.equal(at(last, 'finish_reason'), 'content_filter');
    assert.equal(at(last, 'content_filter_results', 'violence', 'filtered'), true);
  });

  it('refuses SIM_FILTER_PROMPT with the 400 content_filter error and its innererror', async () => {
    for (const stream of [false, true]) {
      const { status, text } = await post(chatPath(), { ...user('SIM_FILTER_PROMPT'), stream });
      assert.equal(status, 400);
      const error = objectAt(JSON.parse(text), 'error');
      assert.equal(error.code, 'content_filter');
      assert.equal(error.param, 'prompt');
      assert.equal(error.status, 400);
      assert.equal(at(error, 'innererror', 'code'), 'ResponsibleAIPolicyViolation');
      assert.deepEqual(at(error, 'innererror', 'content_filter_result', 'hate'), { filtered: true, severity: 'high' });
    }
  });

  it('answers a missing api-version, an unsupported one and an unknown deployment as Azure does', async () => {
    const missing = await post(chatPath('chat', null), user('Hi'));
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.text), { error: { code: '404', message: 'Resource not found' } });
    const unsupported = await post(chatPath('chat', 'banana'), user('Hi'));
    assert.equal(unsupported.status, 400);
    assert.deepEqual(JSON.parse(unsupported.text), {
      error: { code: 'BadRequest', message: 'API version not supported' },
    });
    const unknown = await post(chatPath('nope'), user('Hi'));
    assert.equal(unknown.status, 404);
    assert.equal(at(JSON.parse(unknown.text), 'error', 'code'), 'DeploymentNotFound');
  });

  it('judges reasoning_effort by the model the deployment serves', async () => {
    const reasoned = await post(chatPath('thinker'), { ...user('Hi'), reasoning_effort: 'low' });
    assert.equal(reasoned.status, 200, reasoned.text);
    assert.ok(numberAt(JSON.parse(reasoned.text), 'usage', 'completion_tokens_details', 'reasoning_tokens') > 0);
    assert.equal((await post(chatPath('chat'), { ...user('Hi'), reasoning_effort: 'low' })).status, 400);
  });

  it('serves embeddings for a deployment', async () => {
    const { status, text } = await post(`/openai/deployments/embed/embeddings?api-version=${API_VERSION}`, {
      input: ['alpha', 'beta'],
      dimensions: 4,
    });
    assert.equal(status, 200);
    const embeddings = objectAt(JSON.parse(text));
    assert.equal(embeddings.model, 'text-embedding-3-small');
    assert.equal(arrayAt(embeddings, 'data').length, 2);
    assert.equal(schemaErrors('CreateEmbeddingResponse', embeddings), '');
  });

  it('serves the v1 API: chat and responses with the deployment as model, through the plain OpenAI client', async () => {
    const client = new OpenAI({ baseURL: `${endpoint}/openai/v1/`, apiKey: API_KEY, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    assert.equal(completion.model, 'gpt-4o-2024-08-06');
    const response = await client.responses.create({ model: 'thinker', input: 'Hi', reasoning: { summary: 'auto' } });
    assert.equal(response.model, 'o4-mini');
    assert.deepEqual(
      response.output.map((item) => item.type),
      ['reasoning', 'message'],
    );
    assert.equal(schemaErrors('Response', response), '');
    assert.equal((await client.responses.retrieve(response.id)).id, response.id);
    const unknown = await post('/openai/v1/chat/completions', { model: 'nope', ...user('Hi') });
    assert.equal(at(JSON.parse(unknown.text), 'error', 'code'), 'DeploymentNotFound');
    const filtered = await post('/openai/v1/responses', { model: 'chat', input: 'x\nSIM_FILTER_OUTPUT' });
    assert.deepEqual(at(JSON.parse(filtered.text), 'incomplete_details'), { reason: 'content_filter' });
  });

  it('refuses a wrong key, a missing one and an unknown bearer token with Azure bodies', async () => {
    const wrongKey = await post(chatPath(), user('Hi'), { 'api-key': 'nope' });
    assert.equal(wrongKey.status, 401);
    assert.match(
      stringAt(JSON.parse(wrongKey.text), 'error', 'message'),
      /^Access denied due to invalid subscription key/,
    );
    const missing = await post(chatPath(), user('Hi'), {});
    assert.equal(missing.status, 401);
    const badToken = await post(chatPath(), user('Hi'), { authorization: 'Bearer forged' });
    assert.equal(badToken.status, 401);
    assert.match(stringAt(JSON.parse(badToken.text), 'message'), /^Unauthorized\. Access token is missing, invalid/);
  });

  it('issues Entra tokens to @azure/identity, accepts them, and refuses them once expired', async () => {
    const getToken = getBearerTokenProvider(simCredential(authorityHost), SCOPE);
    const token = await getToken();
    assert.equal(sim.entraTokenRequests, 1);
    assert.equal(sim.issuedTokens[0].clientId, CLIENT.clientId);
    assert.equal(sim.issuedTokens[0].scope, SCOPE);
    const accepted = await post(chatPath(), user('Hi'), { authorization: `Bearer ${token}` });
    assert.equal(accepted.status, 200);
    assert.equal(await getToken(), token, 'a token valid for an hour is served from the cache');
    assert.equal(sim.entraTokenRequests, 1);
    sim.expireTokens();
    assert.equal((await post(chatPath(), user('Hi'), { authorization: `Bearer ${token}` })).status, 401);
    await assert.rejects(simCredential(authorityHost, 'wrong').getToken(SCOPE), /AADSTS7000215/);
  });

  it('lets a test watch @azure/identity refresh short-lived tokens', async () => {
    sim.setTokenLifetime(120);
    try {
      const credential = simCredential(authorityHost);
      const before = sim.entraTokenRequests;
      const first = await credential.getToken(SCOPE);
      const second = await credential.getToken(SCOPE);
      assert.equal(sim.entraTokenRequests - before, 2, 'within the refresh window every call fetches a new token');
      assert.notEqual(first?.token, second?.token);
    } finally {
      sim.setTokenLifetime(3599);
    }
  });

  it('takes faults on deployment paths by default, with Azure 429 bodies', async () => {
    sim.enqueueFault({ status: 429, retryAfterSeconds: 1 });
    const limited = await post(chatPath(), user('Hi'));
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '1');
    assert.equal(at(JSON.parse(limited.text), 'error', 'code'), '429');
    assert.equal((await post(chatPath(), user('Hi'))).status, 200);
  });
});
