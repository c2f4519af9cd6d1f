/**
 * Azure OpenAI simulator: the data plane with deployments and `api-version`, the v1 API (`/openai/v1/...`, model =
 * deployment name), `api-key` or Entra ID bearer auth, a fake Entra ID token endpoint for client credentials, and
 * content filtering annotations and refusals. Everything else (answers, directives, faults, streams, recording)
 * is the OpenAI simulator's.
 *
 * Follows https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle (the v1 API, `api-version`
 * optional there), https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter,
 * .../concepts/content-filter-annotations and .../concepts/content-streaming (prompt_filter_results,
 * content_filter_results, finish_reason content_filter, the 400 content_filter error with innererror); error bodies
 * as Azure returns them in MicrosoftDocs/azure-docs#114602 (missing api-version), chatboxai/chatbox#646
 * (DeploymentNotFound), hotovo/aider-desk#460 (API version not supported), SciSharp/BotSharp#386 (invalid key)
 * and Azure-Samples/azure-search-openai-demo#458 (invalid or expired token). The Entra endpoint answers what
 * @azure/identity 4.13 (MSAL node 5.6) asks for: OpenID metadata whose issuer matches the authority, and the
 * client-credentials grant at `/{tenant}/oauth2/v2.0/token`.
 */
import { once } from 'node:events';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AZURE_ENTRA_SIM_CERT, AZURE_ENTRA_SIM_KEY } from './azure-entra-tls.js';
import { simId } from './openai-sim-common.js';
import { type Exchange, OpenAiSimulator } from './openai-simulator.js';
import type { SimError, VendorRefusal } from './openai-vendors.js';
import { type ParsedBody, readBody, writeJson } from './sim-http.js';
import { textOf } from './sim-json.js';

export interface AzureEntraClient {
  clientId: string;
  clientSecret: string;
}

export interface AzureOpenAiSimulatorOptions {
  /** Accepted in the `api-key` header. */
  apiKey?: string;
  /** Bearer tokens accepted as they are, besides those the fake Entra endpoint issues. */
  entraTokens?: string[];
  /** Deployment name → the model it serves (reported as `model`). Default: gpt-4o-mini and text-embedding-3-small. */
  deployments?: Record<string, string>;
  /** Dated API versions accepted; default: any `YYYY-MM-DD[-preview]` from 2022-12-01 on. */
  apiVersions?: string[];
  /** App registrations the fake Entra endpoint knows; with none, any client id and secret get a token. */
  entraClients?: AzureEntraClient[];
  /** Lifetime of issued tokens (`expires_in`). Default 3599 s, as Entra ID answers. */
  tokenLifetimeSeconds?: number;
  chunkDelayMs?: number;
  /** Identifies this instance in the `x-simulator` header. Default `azure`. */
  name?: string;
  promptCacheMinTokens?: number;
}

/** A token the fake Entra endpoint issued. */
export interface IssuedEntraToken {
  token: string;
  tenantId: string;
  clientId: string;
  scope: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const DEFAULT_DEPLOYMENTS: Record<string, string> = {
  'gpt-4o-mini': 'gpt-4o-mini-2024-07-18',
  'text-embedding-3-small': 'text-embedding-3-small',
};
const DEPLOYMENT_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;
const V1_PATH = /^\/openai\/v1\/(chat\/completions|embeddings|responses|models)$/;
const V1_RESPONSE_PATH = /^\/openai\/v1\/responses\/([^/]+)$/;
const TOKEN_PATH = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;
const OPENID_PATH = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;
const DATED_API_VERSION = /^(\d{4}-\d{2}-\d{2})(-preview)?$/;
const V1_API_VERSIONS = new Set(['v1', 'latest', 'preview']);
const DEFAULT_TOKEN_LIFETIME_SECONDS = 3599;
const COGNITIVE_SERVICES_AUDIENCE = 'https://cognitiveservices.azure.com';

const SAFE = { filtered: false, severity: 'safe' };
const NOT_DETECTED = { filtered: false, detected: false };
const SAFE_CATEGORIES = { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };

function azureError(code: string, message: string) {
  return { error: { code, message } };
}

export class AzureOpenAiSimulator extends OpenAiSimulator {
  readonly deployments: Readonly<Record<string, string>>;
  /** Tokens issued by the fake Entra endpoint, oldest first. */
  readonly issuedTokens: IssuedEntraToken[] = [];
  private readonly azureApiKey?: string;
  private readonly staticTokens: Set<string>;
  private readonly apiVersions?: Set<string>;
  private readonly entraClients?: AzureEntraClient[];
  private tokenLifetimeSeconds: number;
  private tokenRequestCount = 0;
  private entraServer?: HttpsServer;

  constructor(options: AzureOpenAiSimulatorOptions = {}) {
    super({
      name: options.name ?? 'azure',
      vendor: 'azure',
      ...(options.chunkDelayMs !== undefined && { chunkDelayMs: options.chunkDelayMs }),
      ...(options.promptCacheMinTokens !== undefined && { promptCacheMinTokens: options.promptCacheMinTokens }),
    });
    this.azureApiKey = options.apiKey;
    this.staticTokens = new Set(options.entraTokens ?? []);
    this.deployments = options.deployments ?? DEFAULT_DEPLOYMENTS;
    this.apiVersions = options.apiVersions && new Set(options.apiVersions);
    this.entraClients = options.entraClients;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  }

  /** Token requests the fake Entra endpoint answered (successful or not), on either listener. */
  get entraTokenRequests(): number {
    return this.tokenRequestCount;
  }

  /** Tokens issued from now on live this long. */
  setTokenLifetime(seconds: number): void {
    this.tokenLifetimeSeconds = seconds;
  }

  /** Every token issued so far stops being accepted (as if its lifetime had passed). */
  expireTokens(): void {
    for (const token of this.issuedTokens) token.expiresAt = 0;
  }

  /**
   * Serves the fake Entra ID endpoint over HTTPS with the certificate of azure-entra-tls.ts and returns its
   * authority host, e.g. `https://127.0.0.1:41235`. MSAL insists on https; pass the host as `authorityHost` with
   * `disableInstanceDiscovery: true` and trust AZURE_ENTRA_SIM_CERT in the credential's HTTP client.
   */
  async startEntra(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createHttpsServer({ cert: AZURE_ENTRA_SIM_CERT, key: AZURE_ENTRA_SIM_KEY }, (req, res) => {
      const origin = `https://${host.includes(':') ? `[${host}]` : host}:${(server.address() as AddressInfo).port}`;
      this.answerEntra(req, res, origin).catch(() => res.destroy());
    });
    server.listen(port, host);
    await once(server, 'listening');
    this.entraServer = server;
    const address = server.address() as AddressInfo;
    return `https://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  override async stop(): Promise<void> {
    const entra = this.entraServer;
    this.entraServer = undefined;
    if (entra) {
      const closed = new Promise<void>((resolve) => entra.close(() => resolve()));
      entra.closeAllConnections();
      await closed;
    }
    await super.stop();
  }

  /** The resource endpoint, e.g. `http://127.0.0.1:41234` (as `https://<resource>.openai.azure.com`). */
  protected override baseUrl(origin: string): string {
    return origin;
  }

  protected override isChatPath(path: string): boolean {
    return path.endsWith('/chat/completions');
  }

  protected override faultMatches(pattern: string, path: string): boolean {
    return path === pattern || path.endsWith(pattern.startsWith('/') ? pattern : `/${pattern}`);
  }

  protected override authRefusal(exchange: Exchange): VendorRefusal | undefined {
    if (TOKEN_PATH.test(exchange.path) || OPENID_PATH.test(exchange.path)) return undefined;
    const requiresAuth =
      this.azureApiKey !== undefined || this.staticTokens.size > 0 || this.entraClients !== undefined;
    if (!requiresAuth) return undefined;
    const key = exchange.req.headers['api-key'];
    if (key !== undefined) {
      if (key === this.azureApiKey) return undefined;
      return {
        status: 401,
        body: azureError(
          '401',
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        ),
      };
    }
    const authorization = exchange.req.headers.authorization;
    if (authorization === undefined) {
      return {
        status: 401,
        body: azureError(
          '401',
          'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.',
        ),
      };
    }
    const token = authorization.replace(/^Bearer\s+/i, '');
    // The v1 API takes the key as a bearer token too, so that the plain OpenAI client works with a key.
    if (exchange.path.startsWith('/openai/v1/') && token === this.azureApiKey) return undefined;
    if (
      this.staticTokens.has(token) ||
      this.issuedTokens.some((issued) => issued.token === token && issued.expiresAt > Date.now())
    ) {
      return undefined;
    }
    return {
      status: 401,
      body: {
        statusCode: 401,
        message: `Unauthorized. Access token is missing, invalid, audience is incorrect (${COGNITIVE_SERVICES_AUDIENCE}), or have expired.`,
      },
    };
  }

  protected override async route(exchange: Exchange, body: ParsedBody): Promise<void> {
    const { method } = exchange.record;
    const path = exchange.path;
    if (TOKEN_PATH.test(path) || OPENID_PATH.test(path)) {
      const host = exchange.req.headers.host ?? '127.0.0.1';
      return this.entraAnswer(exchange.res, method, path, textOf(exchange.record.body ?? ''), `http://${host}`);
    }
    const deploymentRoute = DEPLOYMENT_PATH.exec(path);
    if (deploymentRoute && method === 'POST') {
      const version = exchange.query.get('api-version');
      if (version === null) return this.sendJson(exchange, 404, azureError('404', 'Resource not found'));
      if (!this.acceptsDatedVersion(version))
        return this.sendJson(exchange, 400, azureError('BadRequest', 'API version not supported'));
      const model = this.deployments[decodeURIComponent(deploymentRoute[1])];
      if (model === undefined) return this.sendJson(exchange, 404, this.deploymentNotFound());
      if (deploymentRoute[2] === 'embeddings') return this.embeddings(exchange, body, { model });
      return this.chat(exchange, body, { model });
    }
    const v1Route = V1_PATH.exec(path);
    const v1Response = V1_RESPONSE_PATH.exec(path);
    if (v1Route || v1Response) {
      const version = exchange.query.get('api-version');
      if (version !== null && !V1_API_VERSIONS.has(version)) {
        return this.sendJson(exchange, 400, azureError('BadRequest', 'API version not supported'));
      }
    }
    if (v1Response && (method === 'GET' || method === 'DELETE')) {
      return this.storedResponse(exchange, decodeURIComponent(v1Response[1]));
    }
    if (v1Route?.[1] === 'models' && method === 'GET') {
      const data = Object.keys(this.deployments).map((id) => ({ id, object: 'model', created: 0, owned_by: 'system' }));
      return this.sendJson(exchange, 200, { object: 'list', data });
    }
    if (v1Route && method === 'POST') {
      const requested =
        body.valid && typeof (body.value as { model?: unknown })?.model === 'string'
          ? String((body.value as { model: string }).model)
          : undefined;
      const model = requested === undefined ? undefined : this.deployments[requested];
      if (requested !== undefined && model === undefined)
        return this.sendJson(exchange, 404, this.deploymentNotFound());
      const context = model === undefined ? {} : { model };
      if (v1Route[1] === 'chat/completions') return this.chat(exchange, body, context);
      if (v1Route[1] === 'embeddings') return this.embeddings(exchange, body, context);
      return this.responses(exchange, body, context);
    }
    this.sendJson(exchange, 404, azureError('404', 'Resource not found'));
  }

  protected override refusal(error: SimError): VendorRefusal {
    if (error.status === 429) {
      return {
        status: 429,
        body: azureError(
          '429',
          'Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 20 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.',
        ),
      };
    }
    return super.refusal(error);
  }

  protected override get contentFilter(): boolean {
    return true;
  }

  protected override promptFilterRefusal(): unknown {
    return {
      error: {
        message:
          "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        type: null,
        param: 'prompt',
        code: 'content_filter',
        status: 400,
        innererror: {
          code: 'ResponsibleAIPolicyViolation',
          content_filter_result: {
            ...SAFE_CATEGORIES,
            hate: { filtered: true, severity: 'high' },
            jailbreak: NOT_DETECTED,
          },
        },
      },
    };
  }

  protected override completionExtras(): Record<string, unknown> {
    return { prompt_filter_results: promptFilterResults() };
  }

  protected override choiceExtras(filtered: boolean): Record<string, unknown> {
    return {
      content_filter_results: filtered
        ? { ...SAFE_CATEGORIES, violence: { filtered: true, severity: 'medium' } }
        : { ...SAFE_CATEGORIES, protected_material_code: NOT_DETECTED, protected_material_text: NOT_DETECTED },
    };
  }

  /** Azure's prompt annotation chunk: empty id, model and object, no choices. */
  protected override leadingChunks(): Record<string, unknown>[] {
    return [{ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: promptFilterResults() }];
  }

  protected override headers(
    exchange: Exchange,
    contentType: string,
    extra: OutgoingHttpHeaders = {},
  ): OutgoingHttpHeaders {
    return {
      ...super.headers(exchange, contentType, extra),
      'apim-request-id': exchange.requestId,
      'x-ms-region': 'Sweden Central',
    };
  }

  private deploymentNotFound() {
    return azureError(
      'DeploymentNotFound',
      'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
    );
  }

  private acceptsDatedVersion(version: string): boolean {
    if (this.apiVersions) return this.apiVersions.has(version);
    const dated = DATED_API_VERSION.exec(version);
    return dated !== null && dated[1] >= '2022-12-01';
  }

  private async answerEntra(req: IncomingMessage, res: ServerResponse, origin: string): Promise<void> {
    const text = await readBody(req);
    const path = new URL(req.url ?? '/', origin).pathname;
    this.entraAnswer(res, req.method ?? 'GET', path, text, origin);
  }

  /** The OpenID metadata MSAL reads and the client-credentials token grant. */
  private entraAnswer(res: ServerResponse, method: string, path: string, form: string, origin: string): void {
    const metadata = OPENID_PATH.exec(path);
    if (metadata && method === 'GET') {
      const tenant = metadata[1];
      return writeJson(res, 200, {
        token_endpoint: `${origin}/${tenant}/oauth2/v2.0/token`,
        authorization_endpoint: `${origin}/${tenant}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${origin}/${tenant}/oauth2/v2.0/logout`,
        jwks_uri: `${origin}/${tenant}/discovery/v2.0/keys`,
        issuer: `${origin}/${tenant}/v2.0`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      });
    }
    const token = TOKEN_PATH.exec(path);
    if (!token || method !== 'POST')
      return writeJson(res, 404, { error: 'not_found', error_description: `No route for ${method} ${path}` });
    this.tokenRequestCount++;
    const params = new URLSearchParams(form);
    const clientId = params.get('client_id') ?? '';
    const tenantId = token[1];
    if (params.get('grant_type') !== 'client_credentials') {
      return writeJson(
        res,
        400,
        entraError(
          'unsupported_grant_type',
          70003,
          `The app requested an unsupported grant type '${params.get('grant_type') ?? ''}'.`,
        ),
      );
    }
    const client = this.entraClients?.find((known) => known.clientId === clientId);
    if (this.entraClients && !client) {
      return writeJson(
        res,
        400,
        entraError(
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
        ),
      );
    }
    if (client && params.get('client_secret') !== client.clientSecret) {
      return writeJson(
        res,
        401,
        entraError(
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        ),
      );
    }
    const scope = params.get('scope') ?? `${COGNITIVE_SERVICES_AUDIENCE}/.default`;
    const lifetime = this.tokenLifetimeSeconds;
    const issuedAt = Math.floor(Date.now() / 1000);
    const accessToken = fakeJwt({
      aud: scope.replace(/\/\.default$/, ''),
      iss: `${origin}/${tenantId}/v2.0`,
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + lifetime,
      appid: clientId,
      tid: tenantId,
      uti: simId(`${this.name}:token:${this.tokenRequestCount}`, 22),
    });
    this.issuedTokens.push({ token: accessToken, tenantId, clientId, scope, expiresAt: Date.now() + lifetime * 1000 });
    writeJson(res, 200, {
      token_type: 'Bearer',
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: accessToken,
    });
  }
}

function promptFilterResults() {
  return [{ prompt_index: 0, content_filter_results: { ...SAFE_CATEGORIES, jailbreak: NOT_DETECTED } }];
}

function entraError(error: string, code: number, description: string) {
  const traceId = simId(`${error}:${code}`, 32);
  return {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${traceId} Timestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: traceId,
    correlation_id: traceId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

function fakeJwt(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ typ: 'JWT', alg: 'RS256', kid: 'sim' })}.${encode(payload)}`;
  return `${unsigned}.${simId(unsigned, 86)}`;
}
