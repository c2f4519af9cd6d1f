/**
 * Google Gemini simulator for provider tests, e2e tests and the demo. One base URL serves:
 * - the Gemini API (AI Studio, generativelanguage.googleapis.com): `POST /v1beta/models/{model}:generateContent`,
 *   `:streamGenerateContent` (`?alt=sse` for SSE, otherwise a streamed JSON array), `:embedContent`,
 *   `:batchEmbedContents`, `:countTokens`, `GET /v1beta/models[/{model}]`; auth by `x-goog-api-key` or `?key=`;
 * - Vertex AI (aiplatform.googleapis.com): `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:`
 *   `generateContent | streamGenerateContent | countTokens | embedContent`; auth by `Authorization: Bearer <token>`;
 * - Google's OAuth 2.0 token endpoint `POST /token` for the service-account JWT bearer grant (RS256 assertions are
 *   verified against the registered public keys; see `generateServiceAccountKey`).
 *
 * Answers are deterministic: `Hello from <model>: <last user text>`, or a function call when tools are declared,
 * shaped per model generation (2.5 or 3: function call ids, thought signatures, thought summaries, usage fields).
 * Triggers in the last user turn: `SIM_TOOL <name> <json args>` (one line per call; several lines = parallel
 * calls), `SIM_TEXT <text>`, `SIM_SAFETY`, `SIM_RECITATION`, `SIM_BLOCK_PROMPT`. Faults are queued with
 * `enqueueFault` or `POST /__sim/faults`.
 *
 * Documentation followed:
 * - https://ai.google.dev/api/generate-content (GenerateContentRequest/Response, Candidate, UsageMetadata)
 * - https://ai.google.dev/api/embeddings, https://ai.google.dev/api/tokens, https://ai.google.dev/api/models
 * - https://ai.google.dev/gemini-api/docs/thought-signatures (where signatures go, current-turn validation,
 *   the 400 wording, the `skip_thought_signature_validator` sentinel, streamed empty-text signature parts)
 * - https://ai.google.dev/gemini-api/docs/thinking and https://ai.google.dev/gemini-api/docs/gemini-3
 *   (thinkingBudget, thinkingLevel, includeThoughts, "cannot use both")
 * - https://ai.google.dev/gemini-api/docs/function-calling (modes AUTO/ANY/NONE/VALIDATED, allowedFunctionNames,
 *   Gemini 3 function call ids)
 * - https://ai.google.dev/gemini-api/docs/structured-output (responseMimeType, responseJsonSchema, responseSchema)
 * - https://ai.google.dev/gemini-api/docs/troubleshooting (error statuses)
 * - https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/overview (Vertex generateContent and
 *   streamGenerateContent), https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures, and
 *   https://docs.cloud.google.com/gemini-enterprise-agent-platform/reference/rest/v1beta1/projects.locations.publishers.models/embedContent
 *   (PredictionService.EmbedContent, also in v1)
 * - https://developers.google.com/identity/protocols/oauth2/service-account (JWT claims, token response)
 * Wire details not on those pages (error message texts, SSE `\r\n\r\n` framing, per-chunk usage) follow bodies
 * recorded from the real APIs in public test fixtures (e.g. vercel/ai packages/google/src/__fixtures__).
 */
import { createHash, createHmac, generateKeyPairSync, type KeyObject, verify as verifySignature } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortedOf, parseJson, readBody, writeJson } from './sim-http.js';
import { isArray, isObject, type Json } from './sim-json.js';

export type GeminiApi = 'gemini' | 'vertex';
export type GeminiOperation =
  | 'generateContent'
  | 'streamGenerateContent'
  | 'embedContent'
  | 'batchEmbedContents'
  | 'countTokens'
  | 'models'
  | 'token';

export interface GeminiSimulatorFault {
  /** Answer with this HTTP status and Google's error body for it (`{"error":{code,message,status,details}}`). */
  status?: number;
  /** Replaces the default `error.message`. */
  message?: string;
  /** Replaces the default `error.details`. */
  details?: unknown[];
  /** Sent as the whole body instead of Google's error body. */
  body?: unknown;
  /** 429: the `google.rpc.RetryInfo` `retryDelay` in seconds. Default 34 on the Gemini API, none on Vertex. */
  retryDelaySeconds?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Wait this long before sending headers; the answer is normal afterwards. */
  firstByteDelayMs?: number;
  /** Overrides the simulator's delay between stream chunks for this request. */
  chunkDelayMs?: number;
  /** Streams: destroy the socket after this many chunks. Otherwise: destroy it before answering. */
  dropAfterChunks?: number;
  /** Streams only: after this many chunks, pause for `stallMs` before going on. */
  stallAfterChunks?: number;
  stallMs?: number;
  /** Streams only: one content chunk, then an error object in the stream and the end of the response. */
  midStreamError?: boolean | { status?: number; message?: string };
  /** Never answer; the request ends only when the client hangs up or the simulator stops. */
  hang?: boolean;
  /** Operations the fault applies to. Default generateContent and streamGenerateContent. */
  operations?: GeminiOperation[];
  /** Only requests to this API consume the fault. Default both. */
  api?: GeminiApi;
  /** How many matching requests consume the fault. Default 1. */
  times?: number;
}

/** A service account the token endpoint knows: its email (the JWT `iss`) and the public half of its key. */
export interface ServiceAccountRegistration {
  clientEmail: string;
  publicKey: string | KeyObject;
  /** When set, a JWT whose header `kid` names another key is refused. */
  privateKeyId?: string;
}

/** The JSON key file Google issues for a service account. */
export interface ServiceAccountKeyFile {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

export interface GeneratedServiceAccountKey {
  keyFile: ServiceAccountKeyFile;
  /** SPKI PEM of the key pair, for `ServiceAccountRegistration.publicKey`. */
  publicKey: string;
}

export interface GeminiSimulatorOptions {
  /** The Gemini API key requests must carry. Default `gemini-sim-key`. */
  apiKey?: string;
  /** Identifies this instance in the `x-simulator` header; also seeds thought signatures. Default `gemini`. */
  name?: string;
  /** Delay between stream chunks. Default 0. */
  chunkDelayMs?: number;
  /** Service accounts whose JWT assertions the token endpoint accepts. */
  serviceAccounts?: ServiceAccountRegistration[];
  /** Lifetime of issued access tokens (`expires_in`). Default 3599, as Google's. */
  tokenLifetimeSeconds?: number;
  /** When set, Vertex requests for another project are refused with 403 PERMISSION_DENIED. */
  vertexProject?: string;
  /** Implicit caching reports a remembered prefix only from this many tokens (Google: 1024 Flash, 4096 Pro). Default 0. */
  cacheMinTokens?: number;
  /** Extra model ids that behave like a catalog model, e.g. `{ id: 'gemini-flash-latest', like: 'gemini-2.5-flash' }`. */
  extraModels?: Array<{ id: string; like: string }>;
  /** Clock for token expiry and JWT time checks, in milliseconds. Default `Date.now`. */
  clock?: () => number;
}

export interface GeminiRecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON (or the token request's form fields); the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  api?: GeminiApi | 'oauth';
  operation?: GeminiOperation;
  model?: string;
  /** Token requests: the decoded JWT header and claims of the assertion. */
  assertion?: { header: unknown; claims: unknown };
  /** True once the client closed the connection before the response finished. */
  hungUp: boolean;
}

export interface GeminiSimulatorStats {
  received: number;
  hungUp: number;
  inFlight: number;
  generateContent: number;
  streams: number;
  embeddings: number;
  countTokens: number;
  tokenRequests: number;
  tokensIssued: number;
  errors: number;
}

export interface GoogleErrorBody {
  error: { code: number; message: string; status: string; details?: unknown[] };
}

interface ModelSpec {
  id: string;
  displayName: string;
  kind: 'generate' | 'embed';
  generation: 2.5 | 3;
  /** always: cannot be turned off; on / off: the default when no budget is given. */
  thinking: 'always' | 'on' | 'off';
  levels: string[];
  inputTokenLimit: number;
  outputTokenLimit: number;
}

interface Route {
  api: GeminiApi;
  version: string;
  model: string;
  method: string;
  project?: string;
  location?: string;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  record: GeminiRecordedRequest;
  signal: AbortSignal;
  fault?: GeminiSimulatorFault;
  droppedByServer: boolean;
}

interface QueuedFault {
  fault: GeminiSimulatorFault;
  remaining: number;
}

interface AccessToken {
  clientEmail: string;
  scopes: string[];
  expiresAtMs: number;
}

class ApiError extends Error {
  constructor(readonly body: GoogleErrorBody) {
    super(body.error.message);
  }
}

interface ThinkingPlan {
  enabled: boolean;
  includeThoughts: boolean;
  thoughtsTokens: number;
}

interface CandidateAnswer {
  /** Thought summary text, shown only with includeThoughts. */
  thought?: string;
  text?: string;
  calls: Array<{ name: string; args: Json; id?: string }>;
  finishReason: string;
  finishMessage?: string;
  blocked?: 'SAFETY' | 'RECITATION';
  /** Token counts of the answer (thoughts excluded). */
  tokens: number;
}

interface Answer {
  candidates: CandidateAnswer[];
  promptBlocked: boolean;
  thinking: ThinkingPlan;
  usage: UsageCounts;
  /** Whether the text is JSON (structured output), which changes how it is streamed. */
  json: boolean;
}

interface UsageCounts {
  prompt: number;
  promptByModality: Map<string, number>;
  cached: number;
  candidates: number;
  thoughts: number;
}

const CONTROL_PREFIX = '/__sim/';
const TOKEN_PATH = '/token';
const GOOGLE_TOKEN_AUDIENCES = [
  'https://oauth2.googleapis.com/token',
  'https://www.googleapis.com/oauth2/v4/token',
  'https://accounts.google.com/o/oauth2/token',
];
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GENERATIVE_LANGUAGE_SCOPE = 'https://www.googleapis.com/auth/generative-language';
const MAX_JWT_LIFETIME_SECONDS = 3600;
const JWT_CLOCK_SKEW_SECONDS = 300;
const SKIP_SIGNATURES = new Set(['skip_thought_signature_validator', 'context_engineering_is_the_way_to_go']);
const SIGNATURE_PREFIX = Buffer.from('sim-thought-signature:');
const TOOL_ARGS: Json = { city: 'Paris' };
const MAX_ECHOED_CHARS = 200;
const TOKENS_PER_MESSAGE = 3;
const MIN_STREAM_PIECES = 3;
const EMBEDDING_DIMENSIONS = 3072;
const MAX_BATCH_EMBED_REQUESTS = 100;
const DEFAULT_PAGE_SIZE = 50;
const FUNCTION_CALL_FINISH_MESSAGE = 'Model generated function call(s).';
/** Thought tokens are THOUGHT_TOKENS_BASE times the level's factor (dynamic thinking counts as high). */
const THOUGHT_TOKENS_BASE = 18;
const THOUGHT_TOKENS_PER_LEVEL: Record<string, number> = { minimal: 1, low: 2, medium: 3, high: 4 };
const MEDIA_TOKENS: Array<{ prefix: string; modality: string; tokens: number }> = [
  { prefix: 'image/', modality: 'IMAGE', tokens: 258 },
  { prefix: 'video/', modality: 'VIDEO', tokens: 263 },
  { prefix: 'audio/', modality: 'AUDIO', tokens: 32 },
  { prefix: 'application/pdf', modality: 'DOCUMENT', tokens: 258 },
];

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const MODEL_CATALOG: ModelSpec[] = [
  generativeModel('gemini-2.5-pro', 'Gemini 2.5 Pro', 2.5, 'always'),
  generativeModel('gemini-2.5-flash', 'Gemini 2.5 Flash', 2.5, 'on'),
  generativeModel('gemini-2.5-flash-lite', 'Gemini 2.5 Flash-Lite', 2.5, 'off'),
  generativeModel('gemini-3-flash-preview', 'Gemini 3 Flash Preview', 3, 'always'),
  {
    ...generativeModel('gemini-3.1-pro-preview', 'Gemini 3.1 Pro Preview', 3, 'always'),
    levels: ['low', 'medium', 'high'],
  },
  {
    ...generativeModel('gemini-embedding-001', 'Gemini Embedding 001', 2.5, 'off'),
    kind: 'embed',
    inputTokenLimit: 2048,
    outputTokenLimit: 1,
  },
];

const GENERATE_REQUEST_FIELDS = [
  'model',
  'contents',
  'tools',
  'toolConfig',
  'safetySettings',
  'systemInstruction',
  'generationConfig',
  'cachedContent',
  'labels',
  'serviceTier',
  'store',
];
const GENERATION_CONFIG_FIELDS = [
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'responseModalities',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'enableEnhancedCivicAnswers',
  'speechConfig',
  'thinkingConfig',
  'imageConfig',
  'mediaResolution',
  'routingConfig',
  'audioTimestamp',
];
const THINKING_CONFIG_FIELDS = ['includeThoughts', 'thinkingBudget', 'thinkingLevel'];
const CONTENT_FIELDS = ['role', 'parts'];
const PART_FIELDS = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
  'thought',
  'thoughtSignature',
  'videoMetadata',
  'mediaResolution',
  'partMetadata',
];
const PART_DATA_FIELDS = [
  'text',
  'inlineData',
  'fileData',
  'functionCall',
  'functionResponse',
  'executableCode',
  'codeExecutionResult',
];
const FLOAT_FIELDS = ['temperature', 'topP', 'presencePenalty', 'frequencyPenalty'];
const INT_FIELDS = ['topK', 'maxOutputTokens', 'candidateCount', 'seed', 'logprobs'];
const HARM_CATEGORIES = [
  'HARM_CATEGORY_UNSPECIFIED',
  'HARM_CATEGORY_DEROGATORY',
  'HARM_CATEGORY_TOXICITY',
  'HARM_CATEGORY_VIOLENCE',
  'HARM_CATEGORY_SEXUAL',
  'HARM_CATEGORY_MEDICAL',
  'HARM_CATEGORY_DANGEROUS',
  'HARM_CATEGORY_HARASSMENT',
  'HARM_CATEGORY_HATE_SPEECH',
  'HARM_CATEGORY_SEXUALLY_EXPLICIT',
  'HARM_CATEGORY_DANGEROUS_CONTENT',
  'HARM_CATEGORY_CIVIC_INTEGRITY',
];
const HARM_THRESHOLDS = [
  'HARM_BLOCK_THRESHOLD_UNSPECIFIED',
  'BLOCK_LOW_AND_ABOVE',
  'BLOCK_MEDIUM_AND_ABOVE',
  'BLOCK_ONLY_HIGH',
  'BLOCK_NONE',
  'OFF',
];
const FUNCTION_CALLING_MODES = ['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED'];
const THINKING_LEVELS = ['THINKING_LEVEL_UNSPECIFIED', 'MINIMAL', 'LOW', 'MEDIUM', 'HIGH'];
const RATED_CATEGORIES = [
  'HARM_CATEGORY_SEXUALLY_EXPLICIT',
  'HARM_CATEGORY_HATE_SPEECH',
  'HARM_CATEGORY_HARASSMENT',
  'HARM_CATEGORY_DANGEROUS_CONTENT',
];

const INVALID_CREDENTIALS_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const MISSING_CREDENTIALS_MESSAGE =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

export class GeminiSimulator {
  readonly name: string;
  readonly requests: GeminiRecordedRequest[] = [];
  apiKey: string;
  chunkDelayMs: number;
  tokenLifetimeSeconds: number;
  private readonly vertexProject?: string;
  private readonly cacheMinTokens: number;
  private readonly clock: () => number;
  private readonly models = new Map<string, ModelSpec>();
  private readonly serviceAccounts = new Map<string, ServiceAccountRegistration>();
  private readonly accessTokens = new Map<string, AccessToken>();
  private readonly cachedPrefixes = new Map<string, number>();
  private readonly faults: QueuedFault[] = [];
  private readonly signatureKey: Buffer;
  private server?: Server;
  private origin = '';
  private stopping = false;
  private counters: Omit<GeminiSimulatorStats, 'inFlight'> = emptyCounters();
  private inFlightCount = 0;
  private responseCounter = 0;
  private tokenCounter = 0;

  constructor(options: GeminiSimulatorOptions = {}) {
    this.name = options.name ?? 'gemini';
    this.apiKey = options.apiKey ?? 'gemini-sim-key';
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
    this.vertexProject = options.vertexProject;
    this.cacheMinTokens = options.cacheMinTokens ?? 0;
    this.clock = options.clock ?? Date.now;
    this.signatureKey = createHash('sha256').update(`gemini-simulator:${this.name}`).digest();
    for (const spec of MODEL_CATALOG) this.models.set(spec.id, spec);
    for (const extra of options.extraModels ?? []) {
      const like = this.models.get(extra.like);
      if (!like) throw new Error(`extraModels: unknown catalog model ${extra.like}`);
      this.models.set(extra.id, { ...like, id: extra.id });
    }
    for (const account of options.serviceAccounts ?? []) this.addServiceAccount(account);
  }

  /** Base URL of both APIs, e.g. `http://127.0.0.1:41234` (append `/v1beta` or `/v1/projects/...`). */
  get baseUrl(): string {
    return this.origin;
  }

  /** The OAuth token endpoint, for a key file's `token_uri`. */
  get tokenUrl(): string {
    return `${this.origin}${TOKEN_PATH}`;
  }

  /** `.../v1/projects/{project}/locations/{location}/publishers/google/models`; append `/{model}:{method}`. */
  vertexModelsUrl(project: string, location: string): string {
    return `${this.origin}/v1/projects/${project}/locations/${location}/publishers/google/models`;
  }

  stats(): GeminiSimulatorStats {
    return { ...this.counters, inFlight: this.inFlightCount };
  }

  get received(): number {
    return this.counters.received;
  }

  get hungUp(): number {
    return this.counters.hungUp;
  }

  /** Token endpoint requests, refused ones included. */
  get tokenRequests(): number {
    return this.counters.tokenRequests;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    this.origin = `http://${hostPart}:${(server.address() as AddressInfo).port}`;
    return this.origin;
  }

  /** Closes the server and every connection, hung requests included. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  enqueueFault(fault: GeminiSimulatorFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  addServiceAccount(account: ServiceAccountRegistration): void {
    this.serviceAccounts.set(account.clientEmail, account);
  }

  /** Generates a key whose `token_uri` is this simulator's token endpoint and registers its public key. */
  createServiceAccountKey(options: { projectId?: string; clientEmail?: string } = {}): ServiceAccountKeyFile {
    if (!this.origin) throw new Error('start the simulator before creating service account keys');
    const generated = generateServiceAccountKey({ ...options, tokenUri: this.tokenUrl });
    this.addServiceAccount({
      clientEmail: generated.keyFile.client_email,
      publicKey: generated.publicKey,
      privateKeyId: generated.keyFile.private_key_id,
    });
    return generated.keyFile;
  }

  /** Makes every issued access token expired, as if its lifetime had passed. */
  expireAccessTokens(): void {
    const past = this.clock() - 1;
    for (const token of this.accessTokens.values()) token.expiresAtMs = past;
  }

  /** Clears faults, recorded requests, counters and remembered cache prefixes; issued tokens stay valid. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.cachedPrefixes.clear();
    this.counters = emptyCounters();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (url.pathname.startsWith(CONTROL_PREFIX)) {
      this.handleControl(req, res, url.pathname).catch((error: unknown) => {
        if (!res.headersSent) writeJson(res, 500, googleErrorBody(500, describe(error)));
      });
      return;
    }
    const controller = new AbortController();
    const record: GeminiRecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    const exchange: Exchange = { req, res, url, record, signal: controller.signal, droppedByServer: false };
    this.requests.push(record);
    this.counters.received++;
    this.inFlightCount++;
    res.on('close', () => {
      this.inFlightCount--;
      if (!res.writableFinished && !exchange.droppedByServer && !this.stopping) {
        record.hungUp = true;
        this.counters.hungUp++;
      }
      controller.abort();
    });
    this.handle(exchange).catch((error: unknown) => this.failExchange(exchange, error));
  }

  private async handle(exchange: Exchange): Promise<void> {
    const raw = await readBody(exchange.req);
    const { record } = exchange;
    if (record.path === TOKEN_PATH) return this.token(exchange, raw);

    const body = parseJson(raw);
    record.body = body.value;
    const route = parseRoute(record.path);
    const listing = route ? undefined : parseModelsPath(record.path);
    if (!route && !listing) return this.sendNotFoundPage(exchange);
    const api: GeminiApi = route?.api ?? 'gemini';
    record.api = api;
    record.model = route?.model ?? listing?.model;
    const operation = route ? operationOf(route) : 'models';
    record.operation = operation;
    const method = record.method;
    if (!operation || (route ? method !== 'POST' : method !== 'GET')) return this.sendNotFoundPage(exchange);

    const authProblem = api === 'vertex' ? this.vertexAuthError(exchange, route!) : this.geminiAuthError(exchange);
    if (authProblem) return this.sendError(exchange, authProblem);

    const streaming = operation === 'streamGenerateContent';
    const fault = this.takeFault(api, operation, streaming);
    if (fault && (await this.applyFault(exchange, fault, streaming, route))) return;

    if (!route) return this.listModels(exchange, listing!);
    if (!body.valid) {
      const message = 'Invalid JSON payload received. Unexpected token.';
      return this.sendError(exchange, invalidArgument(message, [{ description: message }]));
    }
    const spec = this.models.get(route.model);
    try {
      switch (operation) {
        case 'generateContent':
        case 'streamGenerateContent':
          return await this.generate(exchange, route, spec, body.value, streaming);
        case 'embedContent':
          return this.embedContent(exchange, route, spec, body.value);
        case 'batchEmbedContents':
          return this.batchEmbedContents(exchange, route, spec, body.value);
        case 'countTokens':
          return this.countTokens(exchange, route, spec, body.value);
      }
    } catch (error) {
      if (error instanceof ApiError) return this.sendError(exchange, error.body);
      throw error;
    }
  }

  private geminiAuthError(exchange: Exchange): GoogleErrorBody | undefined {
    const headerKey = exchange.req.headers['x-goog-api-key'];
    const key = typeof headerKey === 'string' ? headerKey : exchange.url.searchParams.get('key');
    const bearer = bearerToken(exchange.req);
    if (key !== null && key !== undefined) {
      if (key === this.apiKey) return undefined;
      const message = 'API key not valid. Please pass a valid API key.';
      return googleErrorBody(400, message, [
        errorInfo('API_KEY_INVALID', { service: 'generativelanguage.googleapis.com' }),
        { '@type': 'type.googleapis.com/google.rpc.LocalizedMessage', locale: 'en-US', message },
      ]);
    }
    if (bearer === undefined) {
      return googleErrorBody(
        403,
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      );
    }
    return this.accessTokenError(bearer, [GENERATIVE_LANGUAGE_SCOPE, CLOUD_PLATFORM_SCOPE], {
      service: 'generativelanguage.googleapis.com',
      method: `google.ai.generativelanguage.v1beta.${serviceMethodOf(exchange.record.operation)}`,
    });
  }

  private vertexAuthError(exchange: Exchange, route: Route): GoogleErrorBody | undefined {
    const bearer = bearerToken(exchange.req);
    const metadata = {
      service: 'aiplatform.googleapis.com',
      method: `google.cloud.aiplatform.${route.version}.PredictionService.${upperFirst(route.method)}`,
    };
    if (bearer === undefined) {
      if (exchange.req.headers['x-goog-api-key'] !== undefined || exchange.url.searchParams.has('key')) {
        return googleErrorBody(
          401,
          'API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication',
          [errorInfo('CREDENTIALS_MISSING', metadata)],
        );
      }
      return googleErrorBody(401, MISSING_CREDENTIALS_MESSAGE, [errorInfo('CREDENTIALS_MISSING', metadata)]);
    }
    const tokenError = this.accessTokenError(bearer, [CLOUD_PLATFORM_SCOPE], metadata);
    if (tokenError) return tokenError;
    if (this.vertexProject !== undefined && route.project !== this.vertexProject) {
      const resource = `//aiplatform.googleapis.com/projects/${route.project}/locations/${route.location}/publishers/google/models/${route.model}`;
      return googleErrorBody(
        403,
        `Permission 'aiplatform.endpoints.predict' denied on resource '${resource}' (or it may not exist).`,
        [
          errorInfo('IAM_PERMISSION_DENIED', {
            permission: 'aiplatform.endpoints.predict',
            resource: resource.slice(2),
          }),
        ],
      );
    }
    return undefined;
  }

  private accessTokenError(
    bearer: string,
    acceptedScopes: string[],
    metadata: Record<string, string>,
  ): GoogleErrorBody | undefined {
    const token = this.accessTokens.get(bearer);
    if (!token) {
      return googleErrorBody(401, INVALID_CREDENTIALS_MESSAGE, [errorInfo('ACCESS_TOKEN_TYPE_UNSUPPORTED', metadata)]);
    }
    if (token.expiresAtMs <= this.clock()) {
      return googleErrorBody(401, INVALID_CREDENTIALS_MESSAGE, [errorInfo('ACCESS_TOKEN_EXPIRED', metadata)]);
    }
    if (!token.scopes.some((scope) => acceptedScopes.includes(scope))) {
      return googleErrorBody(403, 'Request had insufficient authentication scopes.', [
        errorInfo('ACCESS_TOKEN_SCOPE_INSUFFICIENT', metadata),
      ]);
    }
    return undefined;
  }

  /** The first queued fault for this request; `api` undefined (token requests) matches faults for either API. */
  private takeFault(
    api: GeminiApi | undefined,
    operation: GeminiOperation,
    streaming: boolean,
  ): GeminiSimulatorFault | undefined {
    const index = this.faults.findIndex(({ fault }) => {
      const operations = fault.operations ?? ['generateContent', 'streamGenerateContent'];
      if (!operations.includes(operation)) return false;
      if (api !== undefined && fault.api !== undefined && fault.api !== api) return false;
      return streaming || (!fault.midStreamError && fault.stallAfterChunks === undefined);
    });
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  /** Applies the parts of a fault that act before the answer; returns true when the exchange is finished. */
  private async applyFault(
    exchange: Exchange,
    fault: GeminiSimulatorFault,
    streaming: boolean,
    route: Route | undefined,
  ): Promise<boolean> {
    exchange.fault = fault;
    if (fault.hang) {
      await abortedOf(exchange.signal);
      return true;
    }
    if (fault.firstByteDelayMs) await sleep(fault.firstByteDelayMs, undefined, { signal: exchange.signal });
    if (fault.status !== undefined) {
      if (fault.body !== undefined) {
        this.counters.errors++;
        this.sendJson(exchange, fault.status, fault.body);
      } else if (exchange.record.api === 'oauth') {
        this.sendOAuthError(exchange, fault.status, 'internal_failure', fault.message ?? 'Backend Error');
      } else {
        this.sendError(exchange, faultErrorBody(fault, exchange.record.api === 'vertex' ? 'vertex' : 'gemini', route));
      }
      return true;
    }
    if (!streaming && fault.dropAfterChunks !== undefined) {
      this.drop(exchange);
      return true;
    }
    return false;
  }

  private async generate(
    exchange: Exchange,
    route: Route,
    spec: ModelSpec | undefined,
    value: unknown,
    streaming: boolean,
  ): Promise<void> {
    if (!spec || spec.kind !== 'generate') throw new ApiError(modelNotFound(route, route.method));
    const request = validateGenerateRequest(route, spec, value);
    if (spec.generation === 3) {
      const problem = signatureProblem(request.contents, (part, signature) => this.signatureValid(part, signature));
      if (problem) throw new ApiError(googleErrorBody(400, problem));
    }
    const meta = this.responseMeta(route);
    const answer = this.answer(route, spec, request, meta.responseId);
    this.rememberPrefix(route, request);
    if (!streaming) {
      this.counters.generateContent++;
      return this.sendJson(exchange, 200, this.toResponse(route, spec, answer, meta));
    }
    this.counters.streams++;
    return this.stream(exchange, this.toStreamChunks(route, spec, answer, meta));
  }

  private answer(route: Route, spec: ModelSpec, request: GenerateRequest, responseId: string): Answer {
    const contents = request.contents;
    const last = contents.at(-1)!;
    const lastUserTurnText = last.role === 'user' ? partsText(last.parts, '\n') : '';
    const directives = parseDirectives(lastUserTurnText);
    const usage = this.promptUsage(route, request);
    const thinking = thinkingPlan(spec, request.generationConfig);
    const functionResponses =
      last.role === 'user' ? last.parts.filter((part) => isObject(field(part, 'functionResponse'))) : [];
    const jsonSchema = responseSchemaOf(request.generationConfig);
    const mimeType = stringField(request.generationConfig, 'responseMimeType');
    const candidateCount = numberField(request.generationConfig, 'candidateCount') ?? 1;

    if (directives.blockPrompt) {
      return { candidates: [], promptBlocked: true, thinking: { ...thinking, thoughtsTokens: 0 }, usage, json: false };
    }
    const candidates: CandidateAnswer[] = [];
    for (let index = 0; index < Math.max(1, candidateCount); index++) {
      candidates.push(
        this.candidateAnswer(route, spec, request, {
          directives,
          functionResponses,
          lastUserTurnText,
          thinking,
          jsonSchema,
          mimeType,
          index,
          responseId,
        }),
      );
    }
    usage.candidates = candidates.reduce((sum, candidate) => sum + candidate.tokens, 0);
    usage.thoughts = thinking.enabled ? thinking.thoughtsTokens * candidates.length : 0;
    const json = mimeType === 'application/json' && candidates.some((candidate) => candidate.text !== undefined);
    return { candidates, promptBlocked: false, thinking, usage, json };
  }

  private candidateAnswer(
    route: Route,
    spec: ModelSpec,
    request: GenerateRequest,
    context: {
      directives: Directives;
      functionResponses: Json[];
      lastUserTurnText: string;
      thinking: ThinkingPlan;
      jsonSchema: { schema: unknown } | undefined;
      mimeType: string | undefined;
      index: number;
      responseId: string;
    },
  ): CandidateAnswer {
    const { directives, functionResponses, thinking } = context;
    const lastUserText = lastUserTextOf(request.contents);
    const thought = thinking.enabled
      ? `**Considering the request**\n\nThe user wrote: "${lastUserText.slice(0, 60)}". I will answer directly.`
      : undefined;
    if (directives.safety) return { thought, calls: [], finishReason: 'SAFETY', blocked: 'SAFETY', tokens: 0 };
    if (directives.recitation) {
      return { thought, calls: [], finishReason: 'RECITATION', blocked: 'RECITATION', tokens: 0 };
    }

    const declared = declaredFunctions(request.tools);
    const callingConfig = objectField(objectField(request.raw, 'toolConfig'), 'functionCallingConfig');
    const mode = (stringField(callingConfig, 'mode') ?? 'AUTO').toUpperCase();
    const allowedNames = stringArrayField(callingConfig, 'allowedFunctionNames');
    const callable =
      (mode === 'ANY' || mode === 'VALIDATED') && allowedNames
        ? declared.filter((name) => allowedNames.includes(name))
        : declared;
    const mayCall = callable.length > 0 && mode !== 'NONE' && context.lastUserTurnText !== '';
    if (mayCall && functionResponses.length === 0) {
      const requested = directives.tools.filter((call) => callable.includes(call.name));
      const calls =
        requested.length > 0
          ? requested
          : directives.text !== undefined && mode !== 'ANY'
            ? []
            : [{ name: callable[0], args: { ...TOOL_ARGS } }];
      if (calls.length > 0) {
        const withIds = calls.map((call, position) =>
          spec.generation === 3 ? { ...call, id: functionCallId(context.responseId, context.index, position) } : call,
        );
        const tokens = withIds.reduce(
          (sum, call) => sum + countWords(JSON.stringify({ name: call.name, args: call.args })) + TOKENS_PER_MESSAGE,
          0,
        );
        return {
          thought,
          calls: withIds,
          finishReason: 'STOP',
          finishMessage: spec.generation === 3 && route.api === 'gemini' ? FUNCTION_CALL_FINISH_MESSAGE : undefined,
          tokens,
        };
      }
    }

    let text: string;
    if (directives.text !== undefined) text = directives.text;
    else if (functionResponses.length > 0) {
      const results = functionResponses.map((part) =>
        JSON.stringify(field(objectField(part, 'functionResponse'), 'response') ?? {}),
      );
      text = `Tool said: ${results.join('; ').slice(0, MAX_ECHOED_CHARS)}`;
    } else if (context.mimeType === 'application/json') {
      text = JSON.stringify(
        context.jsonSchema ? schemaInstance(context.jsonSchema.schema, lastUserText) : { answer: lastUserText },
      );
    } else if (context.mimeType === 'text/x.enum' && context.jsonSchema) {
      text = String(schemaInstance(context.jsonSchema.schema, lastUserText));
    } else text = `Hello from ${route.model}: ${lastUserText.slice(0, MAX_ECHOED_CHARS)}`;

    let finishReason = 'STOP';
    for (const sequence of stringArrayField(request.generationConfig, 'stopSequences') ?? []) {
      const at = text.indexOf(sequence);
      if (at >= 0) text = text.slice(0, at);
    }
    const maxOutputTokens = numberField(request.generationConfig, 'maxOutputTokens');
    if (maxOutputTokens !== undefined) {
      const budget = Math.max(0, maxOutputTokens - (thinking.enabled ? thinking.thoughtsTokens : 0));
      const words = splitWords(text);
      if (words.length > budget) {
        text = words.slice(0, budget).join('').trimEnd();
        finishReason = 'MAX_TOKENS';
      }
    }
    return { thought, text: text === '' ? undefined : text, calls: [], finishReason, tokens: countWords(text) };
  }

  private promptUsage(route: Route, request: GenerateRequest): UsageCounts {
    const byModality = new Map<string, number>();
    const add = (modality: string, tokens: number) =>
      byModality.set(modality, (byModality.get(modality) ?? 0) + tokens);
    if (request.systemInstruction) addContentTokens(request.systemInstruction.parts, add);
    for (const content of request.contents) addContentTokens(content.parts, add);
    const prompt = [...byModality.values()].reduce((sum, tokens) => sum + tokens, 0);
    return {
      prompt,
      promptByModality: byModality,
      cached: this.cachedTokens(route, request),
      candidates: 0,
      thoughts: 0,
    };
  }

  private cachedTokens(route: Route, request: GenerateRequest): number {
    let cached = 0;
    for (const boundary of prefixBoundaries(route, request)) {
      const tokens = this.cachedPrefixes.get(boundary.hash);
      if (tokens !== undefined) cached = tokens;
    }
    return cached >= this.cacheMinTokens ? cached : 0;
  }

  /** Implicit caching: remembers the prompt up to (not including) the last user turn. */
  private rememberPrefix(route: Route, request: GenerateRequest): void {
    const boundaries = prefixBoundaries(route, request);
    const prefix = boundaries[boundaries.length - 2];
    if (prefix && prefix.tokens > 0) this.cachedPrefixes.set(prefix.hash, prefix.tokens);
  }

  private responseMeta(route: Route): ResponseMeta {
    const counter = ++this.responseCounter;
    const responseId = createHash('sha256').update(`${this.name}:response:${counter}`).digest('base64url').slice(0, 23);
    return { responseId, modelVersion: route.model, createTime: new Date(this.clock()).toISOString() };
  }

  private signFunctionCall(call: { name: string; args: Json }): string {
    return this.sign(`call:${call.name}:${canonicalJson(call.args)}`);
  }

  private sign(payload: string): string {
    const mac = createHmac('sha256', this.signatureKey).update(payload).digest();
    return Buffer.concat([SIGNATURE_PREFIX, mac]).toString('base64');
  }

  private signatureValid(part: Json, signature: string): boolean {
    const call = objectField(part, 'functionCall');
    const name = stringField(call, 'name') ?? '';
    return signature === this.signFunctionCall({ name, args: objectField(call, 'args') ?? {} });
  }

  /** The model's parts for one candidate, with thought signatures where Gemini puts them. */
  private candidateParts(spec: ModelSpec, answer: Answer, candidate: CandidateAnswer): Json[] {
    const parts: Json[] = [];
    if (candidate.thought !== undefined && answer.thinking.includeThoughts) {
      parts.push({ text: candidate.thought, thought: true });
    }
    for (const call of candidate.calls) {
      parts.push({ functionCall: { name: call.name, args: call.args, ...(call.id ? { id: call.id } : {}) } });
    }
    if (candidate.text !== undefined) parts.push({ text: candidate.text });
    if (!answer.thinking.enabled || parts.length === 0) return parts;
    if (spec.generation === 3) {
      const target = candidate.calls.length > 0 ? parts.find((part) => part.functionCall) : parts.at(-1);
      if (target) {
        target.thoughtSignature = target.functionCall
          ? this.signFunctionCall(candidate.calls[0])
          : this.sign(`text:${String(target.text)}`);
      }
    } else if (candidate.calls.length > 0) {
      parts[0].thoughtSignature = parts[0].functionCall
        ? this.signFunctionCall(candidate.calls[0])
        : this.sign(`text:${String(parts[0].text)}`);
    }
    return parts;
  }

  private toResponse(route: Route, spec: ModelSpec, answer: Answer, meta: ResponseMeta): Json {
    const response: Json = {};
    if (answer.promptBlocked) response.promptFeedback = { blockReason: 'PROHIBITED_CONTENT' };
    else {
      response.candidates = answer.candidates.map((candidate, index) => {
        const parts = this.candidateParts(spec, answer, candidate);
        return candidateObject(route.api, index, parts.length > 0 ? parts : undefined, candidate, true);
      });
    }
    response.usageMetadata = usageMetadata(route.api, answer.usage, true);
    return withMeta(route.api, response, meta);
  }

  private toStreamChunks(route: Route, spec: ModelSpec, answer: Answer, meta: ResponseMeta): Json[] {
    if (answer.promptBlocked) {
      return [
        withMeta(
          route.api,
          {
            promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
            usageMetadata: usageMetadata(route.api, answer.usage, true),
          },
          meta,
        ),
      ];
    }
    const perCandidate = answer.candidates.map((candidate) => {
      const parts = this.candidateParts(spec, answer, candidate);
      return { candidate, pieces: streamPieces(spec, parts, answer.json, candidate.blocked !== undefined) };
    });
    const steps = Math.max(1, ...perCandidate.map(({ pieces }) => pieces.length));
    const chunks: Json[] = [];
    const emitted = answer.candidates.map(() => 0);
    for (let step = 0; step < steps; step++) {
      const last = step === steps - 1;
      const candidates: Json[] = [];
      perCandidate.forEach(({ candidate, pieces }, index) => {
        const piece = pieces[step];
        if (!piece && !last) return;
        if (typeof piece?.text === 'string' && !piece.thought) emitted[index] += countWords(piece.text);
        if (piece?.functionCall) emitted[index] = candidate.tokens;
        candidates.push(candidateObject(route.api, index, piece ? [piece] : undefined, candidate, last));
      });
      const usage: UsageCounts = {
        ...answer.usage,
        candidates: last ? answer.usage.candidates : emitted.reduce((sum, tokens) => sum + tokens, 0),
      };
      chunks.push(withMeta(route.api, { candidates, usageMetadata: usageMetadata(route.api, usage, last) }, meta));
    }
    return chunks;
  }

  private async stream(exchange: Exchange, chunks: Json[]): Promise<void> {
    const fault = exchange.fault ?? {};
    const sse = isSse(exchange);
    const { res, signal } = exchange;
    const delayMs = fault.chunkDelayMs ?? this.chunkDelayMs;
    res.writeHead(
      200,
      this.headers(exchange, sse ? 'text/event-stream' : 'application/json; charset=UTF-8', {
        'cache-control': 'no-cache',
      }),
    );
    res.flushHeaders();
    const frame = (chunk: unknown, index: number) =>
      sse
        ? `data: ${JSON.stringify(chunk)}\r\n\r\n`
        : `${index === 0 ? '[' : '\n,\r\n'}${JSON.stringify(chunk, null, 2)}`;
    const midStream = fault.midStreamError;
    const sent = midStream ? chunks.slice(0, 1) : chunks;
    for (const [index, chunk] of sent.entries()) {
      if (index === fault.dropAfterChunks) return this.drop(exchange);
      if (index > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
      if (index > 0 && index === fault.stallAfterChunks) await sleep(fault.stallMs ?? 0, undefined, { signal });
      await this.write(exchange, frame(chunk, index), index + 1 === fault.dropAfterChunks);
    }
    if (fault.dropAfterChunks !== undefined) return this.drop(exchange);
    if (midStream) {
      const options = typeof midStream === 'object' ? midStream : {};
      const status = options.status ?? 500;
      const api = exchange.record.api === 'vertex' ? 'vertex' : 'gemini';
      this.counters.errors++;
      const error = googleErrorBody(status, options.message ?? defaultFaultMessage(status, api));
      await this.write(exchange, frame(error, sent.length), false);
    }
    res.end(sse ? '' : '\n]');
  }

  /** Writes one frame; with `flush`, waits until it reached the socket so that a drop that follows keeps it. */
  private async write(exchange: Exchange, text: string, flush: boolean): Promise<void> {
    const { res, signal } = exchange;
    signal.throwIfAborted();
    if (flush) {
      await new Promise<void>((resolve) => {
        res.write(text, () => resolve());
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      signal.throwIfAborted();
    } else if (!res.write(text)) {
      await once(res, 'drain', { signal });
    }
  }

  private embedContent(exchange: Exchange, route: Route, spec: ModelSpec | undefined, value: unknown): void {
    if (!spec || spec.kind !== 'embed') throw new ApiError(modelNotFound(route, 'embedContent'));
    const request = requireObject(value);
    const { text, tokens } = embedInput(request, 'EmbedContentRequest');
    this.counters.embeddings++;
    const values = embeddingVector(
      text,
      stringField(request, 'taskType'),
      numberField(request, 'outputDimensionality'),
    );
    if (route.api === 'gemini') return this.sendJson(exchange, 200, { embedding: { values } });
    this.sendJson(exchange, 200, {
      embedding: { values },
      usageMetadata: { promptTokenCount: tokens, totalTokenCount: tokens },
    });
  }

  private batchEmbedContents(exchange: Exchange, route: Route, spec: ModelSpec | undefined, value: unknown): void {
    if (!spec || spec.kind !== 'embed') throw new ApiError(modelNotFound(route, 'batchEmbedContents'));
    const request = requireObject(value);
    const requests = field(request, 'requests');
    if (!isArray(requests) || requests.length === 0) {
      throw new ApiError(invalidArgument('* BatchEmbedContentsRequest.requests: requests is not specified\n'));
    }
    if (requests.length > MAX_BATCH_EMBED_REQUESTS) {
      throw new ApiError(
        invalidArgument('* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n'),
      );
    }
    const embeddings = requests.map((item, index) => {
      if (!isObject(item)) {
        throw new ApiError(invalidArgument(`* BatchEmbedContentsRequest.requests[${index}]: must be an object\n`));
      }
      const itemModel = stringField(item, 'model');
      if (itemModel !== undefined && itemModel !== `models/${route.model}`) {
        throw new ApiError(
          invalidArgument(
            `* BatchEmbedContentsRequest.requests[${index}].model: model in the request, ${itemModel}, does not match the model in the path, models/${route.model}.\n`,
          ),
        );
      }
      const { text } = embedInput(item, `BatchEmbedContentsRequest.requests[${index}]`);
      return {
        values: embeddingVector(text, stringField(item, 'taskType'), numberField(item, 'outputDimensionality')),
      };
    });
    this.counters.embeddings++;
    this.sendJson(exchange, 200, { embeddings });
  }

  private countTokens(exchange: Exchange, route: Route, spec: ModelSpec | undefined, value: unknown): void {
    if (!spec) throw new ApiError(modelNotFound(route, 'countTokens'));
    const request = requireObject(value);
    const inner = objectField(request, 'generateContentRequest');
    const generate = inner
      ? validateGenerateRequest(route, spec, inner)
      : validateGenerateRequest(route, spec, { contents: field(request, 'contents') });
    const byModality = new Map<string, number>();
    const add = (modality: string, tokens: number) =>
      byModality.set(modality, (byModality.get(modality) ?? 0) + tokens);
    if (generate.systemInstruction) addContentTokens(generate.systemInstruction.parts, add);
    for (const content of generate.contents) addContentTokens(content.parts, add);
    const totalTokens = [...byModality.values()].reduce((sum, tokens) => sum + tokens, 0);
    this.counters.countTokens++;
    const details = modalityDetails(byModality);
    if (route.api === 'gemini') return this.sendJson(exchange, 200, { totalTokens, promptTokensDetails: details });
    const characters = [generate.systemInstruction, ...generate.contents].reduce(
      (sum, content) => sum + (content ? partsText(content.parts).replace(/\s/g, '').length : 0),
      0,
    );
    this.sendJson(exchange, 200, { totalTokens, totalBillableCharacters: characters, promptTokensDetails: details });
  }

  private listModels(exchange: Exchange, listing: { version: string; model?: string }): void {
    if (listing.model !== undefined) {
      const spec = this.models.get(listing.model);
      if (!spec) {
        return this.sendError(
          exchange,
          googleErrorBody(404, `models/${listing.model} is not found for API version ${listing.version}.`),
        );
      }
      return this.sendJson(exchange, 200, modelResource(spec));
    }
    const all = [...this.models.values()];
    const pageSize = Math.min(1000, Number(exchange.url.searchParams.get('pageSize')) || DEFAULT_PAGE_SIZE);
    const token = exchange.url.searchParams.get('pageToken');
    const offset = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) || 0 : 0;
    const page = all.slice(offset, offset + pageSize);
    const next =
      offset + pageSize < all.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : undefined;
    this.sendJson(exchange, 200, { models: page.map(modelResource), ...(next ? { nextPageToken: next } : {}) });
  }

  private async token(exchange: Exchange, raw: string): Promise<void> {
    const { record, req } = exchange;
    record.api = 'oauth';
    record.operation = 'token';
    this.counters.tokenRequests++;
    const contentType = String(req.headers['content-type'] ?? '');
    const params = contentType.includes('application/json')
      ? stringRecord(parseJson(raw).value)
      : Object.fromEntries(new URLSearchParams(raw));
    record.body = params;
    if (record.method !== 'POST') return this.sendNotFoundPage(exchange);
    const fault = this.takeFault(undefined, 'token', false);
    if (fault && (await this.applyFault(exchange, fault, false, undefined))) return;

    const grantType = params.grant_type;
    if (!grantType) {
      return this.sendOAuthError(exchange, 400, 'invalid_request', 'Required parameter is missing: grant_type');
    }
    if (grantType !== JWT_BEARER_GRANT) {
      return this.sendOAuthError(exchange, 400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
    }
    const assertion = params.assertion;
    if (!assertion) {
      return this.sendOAuthError(exchange, 400, 'invalid_request', 'Required parameter is missing: assertion');
    }
    const decoded = decodeJwt(assertion);
    if (!decoded) return this.sendOAuthError(exchange, 400, 'invalid_grant', 'Invalid JWT Signature.');
    record.assertion = { header: decoded.header, claims: decoded.claims };
    const { header, claims } = decoded;
    const account = typeof claims.iss === 'string' ? this.serviceAccounts.get(claims.iss) : undefined;
    if (!account) return this.sendOAuthError(exchange, 400, 'invalid_grant', 'Invalid grant: account not found');
    const kidMismatch =
      header.kid !== undefined && account.privateKeyId !== undefined && header.kid !== account.privateKeyId;
    const signatureOk = header.alg === 'RS256' && !kidMismatch && rs256Valid(decoded, account.publicKey);
    if (!signatureOk) return this.sendOAuthError(exchange, 400, 'invalid_grant', 'Invalid JWT Signature.');
    if (typeof claims.aud !== 'string' || ![...GOOGLE_TOKEN_AUDIENCES, this.tokenUrl].includes(claims.aud)) {
      return this.sendOAuthError(exchange, 400, 'invalid_grant', 'Invalid JWT: Failed audience check.');
    }
    const now = Math.floor(this.clock() / 1000);
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp - iat > MAX_JWT_LIFETIME_SECONDS ||
      exp <= now ||
      iat > now + JWT_CLOCK_SKEW_SECONDS
    ) {
      return this.sendOAuthError(
        exchange,
        400,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    if (scopes.length === 0) {
      return this.sendOAuthError(exchange, 400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const counter = ++this.tokenCounter;
    const accessToken = `ya29.c.${createHash('sha256').update(`${this.name}:token:${counter}`).digest('base64url')}`;
    this.accessTokens.set(accessToken, {
      clientEmail: account.clientEmail,
      scopes,
      expiresAtMs: this.clock() + this.tokenLifetimeSeconds * 1000,
    });
    this.counters.tokensIssued++;
    this.sendJson(exchange, 200, {
      access_token: accessToken,
      expires_in: this.tokenLifetimeSeconds,
      token_type: 'Bearer',
    });
  }

  private async handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__sim/stats') return writeJson(res, 200, this.stats());
    if (route === 'POST /__sim/reset') {
      this.reset();
      return writeJson(res, 200, { reset: true });
    }
    if (route === 'POST /__sim/expire-tokens') {
      this.expireAccessTokens();
      return writeJson(res, 200, { expired: this.accessTokens.size });
    }
    if (route === 'POST /__sim/faults') {
      const body = parseJson(await readBody(req));
      const faults = isArray(body.value) ? body.value : [body.value];
      if (!body.valid || !faults.every(isObject)) {
        return writeJson(res, 400, googleErrorBody(400, 'Expected a fault object or an array of them.'));
      }
      for (const fault of faults) this.enqueueFault(fault);
      return writeJson(res, 200, { queued: this.faults.length });
    }
    writeJson(res, 404, googleErrorBody(404, `No control endpoint ${route}.`));
  }

  private failExchange(exchange: Exchange, error: unknown): void {
    // Aborted means the client hung up or the simulator stopped: nobody is left to answer.
    if (exchange.signal.aborted) return;
    if (exchange.res.headersSent) {
      exchange.res.destroy();
      return;
    }
    this.sendError(exchange, googleErrorBody(500, `Simulator failure: ${describe(error)}`));
  }

  private drop(exchange: Exchange): void {
    exchange.droppedByServer = true;
    exchange.res.destroy();
  }

  private headers(exchange: Exchange, contentType: string, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    return { 'content-type': contentType, 'x-simulator': this.name, ...extra, ...exchange.fault?.headers };
  }

  /** A Google error; streamed JSON-array requests get it wrapped in an array, as the API sends it. */
  private sendError(exchange: Exchange, body: GoogleErrorBody): void {
    this.counters.errors++;
    const asArray = exchange.record.operation === 'streamGenerateContent' && !isSse(exchange);
    this.sendJson(exchange, body.error.code, asArray ? [body] : body);
  }

  private sendOAuthError(exchange: Exchange, status: number, error: string, description: string): void {
    this.counters.errors++;
    this.sendJson(exchange, status, { error, error_description: description });
  }

  /** Google's front end answers unknown paths with an HTML page, not a JSON error. */
  private sendNotFoundPage(exchange: Exchange): void {
    this.counters.errors++;
    const html = `<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>${escapeHtml(exchange.record.path)}</code> was not found on this server.  <ins>That’s all we know.</ins>\n`;
    exchange.res.writeHead(
      404,
      this.headers(exchange, 'text/html; charset=UTF-8', { 'content-length': Buffer.byteLength(html) }),
    );
    exchange.res.end(html);
  }

  private sendJson(exchange: Exchange, status: number, body: unknown): void {
    const text = JSON.stringify(body, null, 2);
    exchange.res.writeHead(
      status,
      this.headers(exchange, 'application/json; charset=UTF-8', { 'content-length': Buffer.byteLength(text) }),
    );
    exchange.res.end(text);
  }
}

/** A throwaway service account key in Google's key file format (RSA 2048, PKCS#8 PEM). */
export function generateServiceAccountKey(options: {
  tokenUri: string;
  projectId?: string;
  clientEmail?: string;
}): GeneratedServiceAccountKey {
  const projectId = options.projectId ?? 'sim-project';
  const clientEmail = options.clientEmail ?? `gateway-test@${projectId}.iam.gserviceaccount.com`;
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const digest = createHash('sha256').update(publicKey).digest();
  const clientId = BigInt(`0x${digest.subarray(0, 9).toString('hex')}`)
    .toString()
    .padStart(21, '1')
    .slice(0, 21);
  return {
    publicKey,
    keyFile: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: digest.subarray(0, 20).toString('hex'),
      private_key: privateKey,
      client_email: clientEmail,
      client_id: clientId,
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: options.tokenUri,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(clientEmail)}`,
      universe_domain: 'googleapis.com',
    },
  };
}

interface ResponseMeta {
  responseId: string;
  modelVersion: string;
  createTime: string;
}

interface NormalizedContent {
  role: 'user' | 'model';
  parts: Json[];
  raw: Json;
}

interface GenerateRequest {
  raw: Json;
  contents: NormalizedContent[];
  systemInstruction?: NormalizedContent;
  generationConfig: Json;
  tools: unknown;
}

interface Directives {
  tools: Array<{ name: string; args: Json }>;
  text?: string;
  safety: boolean;
  recitation: boolean;
  blockPrompt: boolean;
}

function generativeModel(
  id: string,
  displayName: string,
  generation: 2.5 | 3,
  thinking: ModelSpec['thinking'],
): ModelSpec {
  return {
    id,
    displayName,
    kind: 'generate',
    generation,
    thinking,
    levels: ['minimal', 'low', 'medium', 'high'],
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
  };
}

/** Gemini 3 call ids look like `g1bmv6il`: eight lowercase letters and digits. */
function functionCallId(responseId: string, candidate: number, position: number): string {
  const digest = createHash('sha256').update(`call:${responseId}:${candidate}:${position}`).digest('hex');
  return BigInt(`0x${digest.slice(0, 12)}`)
    .toString(36)
    .padStart(8, '0')
    .slice(0, 8);
}

function emptyCounters(): Omit<GeminiSimulatorStats, 'inFlight'> {
  return {
    received: 0,
    hungUp: 0,
    generateContent: 0,
    streams: 0,
    embeddings: 0,
    countTokens: 0,
    tokenRequests: 0,
    tokensIssued: 0,
    errors: 0,
  };
}

function parseRoute(path: string): Route | undefined {
  const gemini = /^\/(v1beta|v1)\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (gemini) return { api: 'gemini', version: gemini[1], model: decodeURIComponent(gemini[2]), method: gemini[3] };
  const vertex =
    /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):([A-Za-z]+)$/.exec(
      path,
    );
  if (!vertex) return undefined;
  return {
    api: 'vertex',
    version: vertex[1],
    project: decodeURIComponent(vertex[2]),
    location: decodeURIComponent(vertex[3]),
    model: decodeURIComponent(vertex[4]),
    method: vertex[5],
  };
}

function parseModelsPath(path: string): { version: string; model?: string } | undefined {
  const match = /^\/(v1beta|v1)\/models(?:\/([^/:]+))?$/.exec(path);
  return match
    ? { version: match[1], model: match[2] === undefined ? undefined : decodeURIComponent(match[2]) }
    : undefined;
}

function operationOf(route: Route): GeminiOperation | undefined {
  const operations: GeminiOperation[] = ['generateContent', 'streamGenerateContent', 'embedContent', 'countTokens'];
  // Vertex embeds batches through :predict, which is not simulated.
  if (route.api === 'gemini') operations.push('batchEmbedContents');
  return operations.find((operation) => operation === route.method);
}

function serviceMethodOf(operation: GeminiOperation | undefined): string {
  if (operation === 'models' || operation === undefined) return 'ModelService.ListModels';
  return `GenerativeService.${upperFirst(operation)}`;
}

function isSse(exchange: Exchange): boolean {
  return exchange.url.searchParams.get('alt') === 'sse';
}

function bearerToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  const match = authorization ? /^Bearer\s+(.+)$/i.exec(authorization) : null;
  return match ? match[1].trim() : undefined;
}

function googleErrorBody(code: number, message: string, details?: unknown[]): GoogleErrorBody {
  const status = STATUS_NAMES[code] ?? (code >= 500 ? 'INTERNAL' : 'UNKNOWN');
  return { error: { code, message, status, ...(details ? { details } : {}) } };
}

function invalidArgument(
  message: string,
  violations?: Array<{ field?: string; description: string }>,
): GoogleErrorBody {
  const details = violations
    ? [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations }]
    : undefined;
  return googleErrorBody(400, message, details);
}

function errorInfo(reason: string, metadata: Record<string, string>): Json {
  return { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason, domain: 'googleapis.com', metadata };
}

function defaultFaultMessage(status: number, api: GeminiApi): string {
  const vertex = api === 'vertex';
  switch (status) {
    case 400:
      return 'Request contains an invalid argument.';
    case 401:
      return INVALID_CREDENTIALS_MESSAGE;
    case 403:
      return 'The caller does not have permission';
    case 404:
      return 'Requested entity was not found.';
    case 429:
      return vertex
        ? 'Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.'
        : 'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.';
    case 500:
      return vertex
        ? 'Internal error encountered.'
        : 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting';
    case 503:
      return vertex ? 'The service is currently unavailable.' : 'The model is overloaded. Please try again later.';
    case 504:
      return 'Deadline expired before operation could complete.';
    default:
      return status >= 500 ? 'Internal error encountered.' : 'Request contains an invalid argument.';
  }
}

function faultErrorBody(fault: GeminiSimulatorFault, api: GeminiApi, route: Route | undefined): GoogleErrorBody {
  const status = fault.status ?? 500;
  if (status === 404 && route && fault.message === undefined && fault.details === undefined) {
    return modelNotFound(route, route.method);
  }
  let details = fault.details;
  if (details === undefined && status === 429) {
    const delay = fault.retryDelaySeconds ?? (api === 'gemini' ? 34 : undefined);
    details = [
      ...(api === 'gemini'
        ? [
            {
              '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
              violations: [
                {
                  quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
                  quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier',
                },
              ],
            },
            {
              '@type': 'type.googleapis.com/google.rpc.Help',
              links: [
                {
                  description: 'Learn more about Gemini API quotas',
                  url: 'https://ai.google.dev/gemini-api/docs/rate-limits',
                },
              ],
            },
          ]
        : []),
      ...(delay !== undefined
        ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${delay}s` }]
        : []),
    ];
    if (details.length === 0) details = undefined;
  }
  return googleErrorBody(status, fault.message ?? defaultFaultMessage(status, api), details);
}

function modelNotFound(route: Route, method: string): GoogleErrorBody {
  if (route.api === 'vertex') {
    return googleErrorBody(
      404,
      `Publisher Model \`projects/${route.project}/locations/${route.location}/publishers/google/models/${route.model}\` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions`,
    );
  }
  return googleErrorBody(
    404,
    `models/${route.model} is not found for API version ${route.version}, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
  );
}

function modelResource(spec: ModelSpec): Json {
  const generate = spec.kind === 'generate';
  return {
    name: `models/${spec.id}`,
    version: '001',
    displayName: spec.displayName,
    description: `${spec.displayName} (simulated).`,
    inputTokenLimit: spec.inputTokenLimit,
    outputTokenLimit: spec.outputTokenLimit,
    supportedGenerationMethods: generate
      ? ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent']
      : ['embedContent', 'countTextTokens', 'countTokens', 'asyncBatchEmbedContent'],
    ...(generate ? { temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true } : {}),
  };
}

/** Reads a field by its JSON name or its proto (snake_case) name: Google's JSON parser accepts both. */
function field(value: unknown, name: string): unknown {
  if (!isObject(value)) return undefined;
  if (name in value) return value[name];
  return value[snakeCase(name)];
}

function objectField(value: unknown, name: string): Json | undefined {
  const found = field(value, name);
  return isObject(found) ? found : undefined;
}

function stringField(value: unknown, name: string): string | undefined {
  const found = field(value, name);
  return typeof found === 'string' ? found : undefined;
}

function numberField(value: unknown, name: string): number | undefined {
  const found = field(value, name);
  if (typeof found === 'number') return found;
  return typeof found === 'string' && found.trim() !== '' && Number.isFinite(Number(found)) ? Number(found) : undefined;
}

function stringArrayField(value: unknown, name: string): string[] | undefined {
  const found = field(value, name);
  return isArray(found) ? found.filter((item): item is string => typeof item === 'string') : undefined;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function camelCase(name: string): string {
  return name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function upperFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function protoPath(path: string): string {
  return snakeCase(path);
}

function unknownFieldError(value: Json, known: string[], at: string | undefined): GoogleErrorBody | undefined {
  const unknown = Object.keys(value).find((key) => !known.includes(camelCase(key)));
  if (unknown === undefined) return undefined;
  const message = `Invalid JSON payload received. Unknown name "${unknown}"${at ? ` at '${protoPath(at)}'` : ''}: Cannot find field.`;
  return invalidArgument(message, [{ ...(at ? { field: protoPath(at) } : {}), description: message }]);
}

function enumError(
  value: unknown,
  allowed: string[],
  at: string,
  typeName: string,
  api: GeminiApi,
): GoogleErrorBody | undefined {
  if (value === undefined || (typeof value === 'string' && allowed.includes(value.toUpperCase()))) return undefined;
  return messageTypeError(value, at, typeName, api);
}

/** The parser's error for a value that does not fit the field's message or enum type. */
function messageTypeError(value: unknown, at: string, typeName: string, api: GeminiApi): GoogleErrorBody {
  const pkg = api === 'vertex' ? 'google.cloud.aiplatform.v1' : 'google.ai.generativelanguage.v1beta';
  const message = `Invalid value at '${protoPath(at)}' (type.googleapis.com/${pkg}.${typeName}), ${JSON.stringify(value)}`;
  return invalidArgument(message, [{ field: protoPath(at), description: message }]);
}

function numberTypeError(value: unknown, at: string, type: 'TYPE_FLOAT' | 'TYPE_INT32'): GoogleErrorBody | undefined {
  if (value === undefined || typeof value === 'number') return undefined;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return undefined;
  const message = `Invalid value at '${protoPath(at)}' (${type}), ${JSON.stringify(value)}`;
  return invalidArgument(message, [{ field: protoPath(at), description: message }]);
}

function requireObject(value: unknown): Json {
  if (isObject(value)) return value;
  const message = 'Invalid JSON payload received. Unknown name "": Root element must be a message.';
  throw new ApiError(invalidArgument(message, [{ description: message }]));
}

/** The checks Google makes before generating, in the order its parser and validators make them. */
function validateGenerateRequest(route: Route, spec: ModelSpec, value: unknown): GenerateRequest {
  const fail = (body: GoogleErrorBody | undefined) => {
    if (body) throw new ApiError(body);
  };
  const request = requireObject(value);
  const { api } = route;
  fail(unknownFieldError(request, GENERATE_REQUEST_FIELDS, undefined));
  const generationConfig = field(request, 'generationConfig') ?? {};
  if (!isObject(generationConfig))
    fail(messageTypeError(generationConfig, 'generationConfig', 'GenerationConfig', api));
  const config = generationConfig as Json;
  fail(unknownFieldError(config, GENERATION_CONFIG_FIELDS, 'generationConfig'));
  for (const name of FLOAT_FIELDS) fail(numberTypeError(field(config, name), `generationConfig.${name}`, 'TYPE_FLOAT'));
  for (const name of INT_FIELDS) fail(numberTypeError(field(config, name), `generationConfig.${name}`, 'TYPE_INT32'));
  const thinkingConfig = objectField(config, 'thinkingConfig');
  if (thinkingConfig) {
    fail(unknownFieldError(thinkingConfig, THINKING_CONFIG_FIELDS, 'generationConfig.thinkingConfig'));
    fail(
      numberTypeError(
        field(thinkingConfig, 'thinkingBudget'),
        'generationConfig.thinkingConfig.thinkingBudget',
        'TYPE_INT32',
      ),
    );
    fail(
      enumError(
        field(thinkingConfig, 'thinkingLevel'),
        THINKING_LEVELS,
        'generationConfig.thinkingConfig.thinkingLevel',
        'GenerationConfig.ThinkingConfig.ThinkingLevel',
        api,
      ),
    );
  }
  const safetySettings = field(request, 'safetySettings');
  if (isArray(safetySettings)) {
    safetySettings.forEach((setting, index) => {
      fail(
        enumError(
          field(setting, 'category'),
          HARM_CATEGORIES,
          `safetySettings[${index}].category`,
          'HarmCategory',
          api,
        ),
      );
      fail(
        enumError(
          field(setting, 'threshold'),
          HARM_THRESHOLDS,
          `safetySettings[${index}].threshold`,
          'SafetySetting.HarmBlockThreshold',
          api,
        ),
      );
    });
  }
  const callingConfig = objectField(objectField(request, 'toolConfig'), 'functionCallingConfig');
  fail(
    enumError(
      field(callingConfig, 'mode'),
      FUNCTION_CALLING_MODES,
      'toolConfig.functionCallingConfig.mode',
      'FunctionCallingConfig.Mode',
      api,
    ),
  );

  const rawSystem = field(request, 'systemInstruction');
  if (rawSystem !== undefined && !isObject(rawSystem))
    fail(messageTypeError(rawSystem, 'systemInstruction', 'Content', api));
  const rawContents = field(request, 'contents');
  const emptyPromptMessage =
    api === 'vertex'
      ? 'Unable to submit request because it must include at least one parts field, which describes the prompt input. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini'
      : undefined;
  if (!isArray(rawContents) || rawContents.length === 0) {
    fail(invalidArgument(emptyPromptMessage ?? '* GenerateContentRequest.contents: contents is not specified\n'));
  }
  const contents = (rawContents as unknown[]).map((content, index) =>
    normalizeContent(content, `contents[${index}]`, api, emptyPromptMessage, false),
  );
  const systemInstruction = isObject(rawSystem)
    ? normalizeContent(rawSystem, 'systemInstruction', api, emptyPromptMessage, true)
    : undefined;

  const thinkingBudget = numberField(thinkingConfig, 'thinkingBudget');
  const thinkingLevel = stringField(thinkingConfig, 'thinkingLevel');
  if (thinkingBudget !== undefined && thinkingLevel !== undefined) {
    fail(invalidArgument('You can only set only one of thinking budget and thinking level.'));
  }
  if (
    thinkingLevel !== undefined &&
    !spec.levels.includes(thinkingLevel.toLowerCase()) &&
    thinkingLevel.toUpperCase() !== 'THINKING_LEVEL_UNSPECIFIED'
  ) {
    fail(
      invalidArgument(
        `Thinking level ${thinkingLevel.toUpperCase()} is not supported for this model. Please retry with other thinking level.`,
      ),
    );
  }
  if (thinkingBudget === 0 && spec.thinking === 'always' && spec.generation === 2.5) {
    fail(invalidArgument('Budget 0 is invalid. This model only works in thinking mode.'));
  }
  const penalty = [numberField(config, 'presencePenalty'), numberField(config, 'frequencyPenalty')].some(
    (value) => value !== undefined && value !== 0,
  );
  if (penalty && spec.generation === 2.5) fail(invalidArgument(`Penalty is not enabled for models/${spec.id}`));
  const mode = stringField(callingConfig, 'mode')?.toUpperCase();
  if (mode === 'ANY' && stringField(config, 'responseMimeType') === 'application/json') {
    fail(
      invalidArgument(
        "Forced function calling (ANY mode) with a response mime type: 'application/json' is unsupported",
      ),
    );
  }
  fail(functionTurnProblem(contents));
  return { raw: request, contents, systemInstruction, generationConfig: config, tools: field(request, 'tools') };
}

function normalizeContent(
  value: unknown,
  at: string,
  api: GeminiApi,
  emptyPromptMessage: string | undefined,
  system: boolean,
): NormalizedContent {
  const fail = (body: GoogleErrorBody | undefined) => {
    if (body) throw new ApiError(body);
  };
  if (!isObject(value)) {
    const message = `Invalid value at '${protoPath(at)}', ${JSON.stringify(value)}`;
    throw new ApiError(invalidArgument(message, [{ field: protoPath(at), description: message }]));
  }
  fail(unknownFieldError(value, CONTENT_FIELDS, at));
  const role = field(value, 'role');
  const effectiveRole = role === undefined || role === '' ? (api === 'gemini' || system ? 'user' : undefined) : role;
  if (!system && effectiveRole !== 'user' && effectiveRole !== 'model') {
    fail(invalidArgument('Please use a valid role: user, model.'));
  }
  const parts = field(value, 'parts');
  if (!isArray(parts) || parts.length === 0) {
    fail(
      invalidArgument(
        emptyPromptMessage ?? `* GenerateContentRequest.${at}.parts: contents.parts must not be empty.\n`,
      ),
    );
  }
  (parts as unknown[]).forEach((part, index) => {
    const partAt = `${at}.parts[${index}]`;
    if (!isObject(part)) {
      const message = `Invalid value at '${protoPath(partAt)}', ${JSON.stringify(part)}`;
      fail(invalidArgument(message, [{ field: protoPath(partAt), description: message }]));
      return;
    }
    fail(unknownFieldError(part, PART_FIELDS, partAt));
    const data = Object.keys(part).filter((key) => PART_DATA_FIELDS.includes(camelCase(key)));
    if (data.length === 0) {
      fail(
        invalidArgument(
          `* GenerateContentRequest.${partAt}.data: required oneof field 'data' must have one initialized field\n`,
        ),
      );
    }
    if (data.length > 1) {
      const message = `Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '${data[1]}'`;
      fail(invalidArgument(message, [{ field: protoPath(partAt), description: message }]));
    }
  });
  return { role: (effectiveRole ?? 'user') as 'user' | 'model', parts: parts as Json[], raw: value };
}

/** The turn-order rules Gemini enforces for function calls and responses (wording as the API sends it). */
function functionTurnProblem(contents: NormalizedContent[]): GoogleErrorBody | undefined {
  const calls = (content: NormalizedContent | undefined) =>
    content?.role === 'model' ? content.parts.filter((part) => isObject(field(part, 'functionCall'))).length : 0;
  for (const [index, content] of contents.entries()) {
    const previous = contents[index - 1];
    if (calls(content) > 0 && (previous === undefined || previous.role !== 'user')) {
      return invalidArgument(
        'Please ensure that function call turn comes immediately after a user turn or after a function response turn.',
      );
    }
    const responses =
      content.role === 'user' ? content.parts.filter((part) => isObject(field(part, 'functionResponse'))).length : 0;
    if (responses === 0) continue;
    if (calls(previous) === 0) {
      return invalidArgument('Please ensure that function response turn comes immediately after a function call turn.');
    }
    if (responses !== calls(previous)) {
      return invalidArgument(
        'Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.',
      );
    }
  }
  return undefined;
}

/**
 * Gemini 3 validates the current turn only: every step after the latest user message with standard content must
 * carry, on its first function call part, the signature the API issued for it.
 */
function signatureProblem(
  contents: NormalizedContent[],
  valid: (part: Json, signature: string) => boolean,
): string | undefined {
  let start = -1;
  for (let index = contents.length - 1; index >= 0; index--) {
    const content = contents[index];
    if (content.role === 'user' && content.parts.some((part) => field(part, 'functionResponse') === undefined)) {
      start = index;
      break;
    }
  }
  for (let index = start + 1; index < contents.length; index++) {
    const content = contents[index];
    if (content.role !== 'model') continue;
    const first = content.parts.find((part) => isObject(field(part, 'functionCall')));
    if (!first) continue;
    const signature = field(first, 'thoughtSignature');
    const name = stringField(objectField(first, 'functionCall'), 'name') ?? '';
    if (typeof signature !== 'string' || signature === '') {
      return `Function call \`${name}\` in the \`${index}.\` content block is missing a \`thought_signature\`.`;
    }
    if (!SKIP_SIGNATURES.has(signature) && !valid(first, signature)) return 'Corrupted thought signature.';
  }
  return undefined;
}

function thinkingPlan(spec: ModelSpec, config: Json): ThinkingPlan {
  const thinkingConfig = objectField(config, 'thinkingConfig');
  const budget = numberField(thinkingConfig, 'thinkingBudget');
  const level = stringField(thinkingConfig, 'thinkingLevel')?.toLowerCase();
  const includeThoughts = field(thinkingConfig, 'includeThoughts') === true;
  const enabled =
    spec.thinking === 'always' || (budget !== undefined ? budget !== 0 : level !== undefined || spec.thinking === 'on');
  let thoughtsTokens =
    THOUGHT_TOKENS_BASE * (THOUGHT_TOKENS_PER_LEVEL[level ?? 'high'] ?? THOUGHT_TOKENS_PER_LEVEL.high);
  if (budget !== undefined && budget > 0) thoughtsTokens = Math.min(thoughtsTokens, budget);
  // maxOutputTokens caps thinking and answer together.
  const maxOutputTokens = numberField(config, 'maxOutputTokens');
  if (maxOutputTokens !== undefined) thoughtsTokens = Math.min(thoughtsTokens, maxOutputTokens);
  return { enabled, includeThoughts: enabled && includeThoughts, thoughtsTokens: enabled ? thoughtsTokens : 0 };
}

function responseSchemaOf(config: Json): { schema: unknown } | undefined {
  const jsonSchema = field(config, 'responseJsonSchema');
  if (jsonSchema !== undefined) return { schema: jsonSchema };
  const schema = field(config, 'responseSchema');
  return schema !== undefined ? { schema } : undefined;
}

/** A minimal value valid against a JSON Schema or an OpenAPI-style `responseSchema` (types in either case). */
function schemaInstance(schema: unknown, text: string): unknown {
  const root = isObject(schema) ? schema : {};
  const build = (node: unknown, depth: number): unknown => {
    if (!isObject(node) || depth > 12) return null;
    const ref = typeof node.$ref === 'string' ? node.$ref : undefined;
    if (ref?.startsWith('#/')) {
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((value, key) => (isObject(value) ? value[key] : undefined), root);
      return build(target, depth + 1);
    }
    if ('const' in node) return node.const;
    if (isArray(node.enum) && node.enum.length > 0) return node.enum[0];
    for (const key of ['anyOf', 'oneOf', 'allOf']) {
      const options = node[key];
      if (isArray(options) && options.length > 0) {
        const option = options.find((item) => !(isObject(item) && item.type === 'null')) ?? options[0];
        return build(option, depth + 1);
      }
    }
    const types = isArray(node.type) ? node.type : [node.type];
    const type =
      (
        types.find((item) => typeof item === 'string' && item.toLowerCase() !== 'null') as string | undefined
      )?.toLowerCase() ??
      (types.includes('null') ? 'null' : isObject(node.properties) ? 'object' : node.items ? 'array' : 'string');
    switch (type) {
      case 'object': {
        const properties = isObject(node.properties) ? node.properties : {};
        const required = isArray(node.required)
          ? node.required.filter((key): key is string => typeof key === 'string')
          : [];
        const ordering = isArray(node.propertyOrdering) ? node.propertyOrdering : Object.keys(properties);
        const keys = [
          ...ordering.filter((key): key is string => typeof key === 'string' && required.includes(key)),
          ...required.filter((key) => !ordering.includes(key)),
        ];
        return Object.fromEntries(keys.map((key) => [key, build(properties[key], depth + 1)]));
      }
      case 'array': {
        const prefix = isArray(node.prefixItems) ? node.prefixItems : [];
        const minItems = typeof node.minItems === 'number' ? node.minItems : 1;
        const maxItems = typeof node.maxItems === 'number' ? node.maxItems : Infinity;
        const count = Math.min(Math.max(minItems, prefix.length), maxItems);
        return Array.from({ length: count }, (_, index) => build(prefix[index] ?? node.items, depth + 1));
      }
      case 'integer':
      case 'number': {
        const minimum = typeof node.minimum === 'number' ? node.minimum : undefined;
        const exclusive = typeof node.exclusiveMinimum === 'number' ? node.exclusiveMinimum + 1 : undefined;
        const value = minimum ?? exclusive ?? 0;
        const maximum = typeof node.maximum === 'number' ? node.maximum : Infinity;
        const bounded = Math.min(value, maximum);
        return type === 'integer' ? Math.ceil(bounded) : bounded;
      }
      case 'boolean':
        return false;
      case 'null':
        return null;
      default:
        return stringInstance(node, text);
    }
  };
  return build(schema, 0);
}

function stringInstance(node: Json, text: string): string {
  if (node.format === 'date-time') return '2025-01-01T00:00:00Z';
  if (node.format === 'date') return '2025-01-01';
  if (node.format === 'time') return '00:00:00';
  const minLength = typeof node.minLength === 'number' ? node.minLength : 0;
  const maxLength = typeof node.maxLength === 'number' ? node.maxLength : MAX_ECHOED_CHARS;
  const value = (text || 'text').slice(0, maxLength);
  return value.padEnd(minLength, '.');
}

function parseDirectives(text: string): Directives {
  const directives: Directives = { tools: [], safety: false, recitation: false, blockPrompt: false };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    const tool = /^SIM_TOOL\s+(\S+)\s+(\{.*\})\s*$/.exec(trimmed);
    if (tool) {
      const args = parseJson(tool[2]);
      if (args.valid && isObject(args.value)) directives.tools.push({ name: tool[1], args: args.value });
      continue;
    }
    const textDirective = /^SIM_TEXT\s(.*)$/.exec(trimmed);
    if (textDirective && directives.text === undefined) directives.text = textDirective[1];
    if (trimmed === 'SIM_SAFETY') directives.safety = true;
    if (trimmed === 'SIM_RECITATION') directives.recitation = true;
    if (trimmed === 'SIM_BLOCK_PROMPT') directives.blockPrompt = true;
  }
  return directives;
}

function declaredFunctions(tools: unknown): string[] {
  if (!isArray(tools)) return [];
  return tools.flatMap((tool) => {
    const declarations = field(tool, 'functionDeclarations');
    return isArray(declarations)
      ? declarations.flatMap((declaration) => {
          const name = stringField(declaration, 'name');
          return name ? [name] : [];
        })
      : [];
  });
}

/** Text of the non-thought text parts. */
function partsText(parts: Json[], separator = ' '): string {
  return parts
    .flatMap((part) => (typeof part.text === 'string' && part.thought !== true ? [part.text] : []))
    .join(separator);
}

function lastUserTextOf(contents: NormalizedContent[]): string {
  for (let index = contents.length - 1; index >= 0; index--) {
    const content = contents[index];
    if (content.role !== 'user') continue;
    const text = partsText(content.parts);
    if (text !== '') return text;
  }
  return '';
}

/** Words per text part, Google's per-item media counts, and the per-message constant (as TEXT). */
function addContentTokens(parts: Json[], add: (modality: string, tokens: number) => void): void {
  add('TEXT', TOKENS_PER_MESSAGE);
  for (const part of parts) {
    if (part.thought === true) continue;
    if (typeof part.text === 'string') add('TEXT', countWords(part.text));
    const call = field(part, 'functionCall');
    if (call !== undefined) add('TEXT', countWords(JSON.stringify(call)));
    const response = field(part, 'functionResponse');
    if (response !== undefined) add('TEXT', countWords(JSON.stringify(field(response, 'response') ?? {})));
    const media = objectField(part, 'inlineData') ?? objectField(part, 'fileData');
    if (media) {
      const mimeType = stringField(media, 'mimeType') ?? '';
      const kind = MEDIA_TOKENS.find((entry) => mimeType.startsWith(entry.prefix));
      if (kind) add(kind.modality, kind.tokens);
      else if (mimeType.startsWith('text/') && typeof media.data === 'string') {
        add('TEXT', countWords(Buffer.from(media.data, 'base64').toString('utf8')));
      } else add('TEXT', 1);
    }
  }
}

function modalityDetails(byModality: Map<string, number>): Json[] {
  return [...byModality.entries()]
    .filter(([, tokens]) => tokens > 0)
    .map(([modality, tokenCount]) => ({ modality, tokenCount }));
}

/** Prompt prefixes at each cache boundary: after system instruction and tools, then after each content. */
function prefixBoundaries(route: Route, request: GenerateRequest): Array<{ hash: string; tokens: number }> {
  let hash = createHash('sha256')
    .update(
      `${route.api}:${route.model}:${canonicalJson(request.systemInstruction?.raw ?? null)}:${canonicalJson(request.tools ?? null)}`,
    )
    .digest('hex');
  let tokens = 0;
  const count = (parts: Json[]) => {
    let sum = 0;
    addContentTokens(parts, (_, value) => (sum += value));
    return sum;
  };
  if (request.systemInstruction) tokens += count(request.systemInstruction.parts);
  const boundaries = [{ hash, tokens }];
  for (const content of request.contents) {
    hash = createHash('sha256')
      .update(`${hash}:${canonicalJson(content.raw)}`)
      .digest('hex');
    tokens += count(content.parts);
    boundaries.push({ hash, tokens });
  }
  return boundaries;
}

function usageMetadata(api: GeminiApi, usage: UsageCounts, complete: boolean): Json {
  if (api === 'vertex' && !complete) return { trafficType: 'ON_DEMAND' };
  const total = usage.prompt + usage.candidates + usage.thoughts;
  // Proto3 JSON leaves out zero counts.
  const metadata: Json = { promptTokenCount: usage.prompt };
  if (usage.candidates > 0) metadata.candidatesTokenCount = usage.candidates;
  metadata.totalTokenCount = total;
  if (usage.cached > 0) metadata.cachedContentTokenCount = usage.cached;
  if (api === 'vertex') metadata.trafficType = 'ON_DEMAND';
  metadata.promptTokensDetails = modalityDetails(usage.promptByModality);
  if (api === 'vertex' && usage.candidates > 0) {
    metadata.candidatesTokensDetails = [{ modality: 'TEXT', tokenCount: usage.candidates }];
  }
  if (usage.cached > 0) metadata.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: usage.cached }];
  if (usage.thoughts > 0) metadata.thoughtsTokenCount = usage.thoughts;
  if (api === 'gemini') metadata.serviceTier = 'standard';
  return metadata;
}

function withMeta(api: GeminiApi, response: Json, meta: ResponseMeta): Json {
  return api === 'vertex'
    ? { ...response, modelVersion: meta.modelVersion, createTime: meta.createTime, responseId: meta.responseId }
    : { ...response, modelVersion: meta.modelVersion, responseId: meta.responseId };
}

function safetyRatings(api: GeminiApi): Json[] {
  return RATED_CATEGORIES.map((category) => {
    const blocked = category === 'HARM_CATEGORY_DANGEROUS_CONTENT';
    const rating: Json = { category, probability: blocked ? 'HIGH' : 'NEGLIGIBLE' };
    if (api === 'vertex') {
      Object.assign(rating, {
        probabilityScore: blocked ? 0.92 : 0.02,
        severity: blocked ? 'HARM_SEVERITY_HIGH' : 'HARM_SEVERITY_NEGLIGIBLE',
        severityScore: blocked ? 0.87 : 0.01,
      });
    }
    if (blocked) rating.blocked = true;
    return rating;
  });
}

/** One candidate object; `final` adds the finish reason and what comes with it. */
function candidateObject(
  api: GeminiApi,
  index: number,
  parts: Json[] | undefined,
  candidate: CandidateAnswer,
  final: boolean,
): Json {
  const result: Json = {};
  if (parts) result.content = api === 'vertex' ? { role: 'model', parts } : { parts, role: 'model' };
  else if (final && !candidate.blocked) result.content = { role: 'model' };
  if (final) result.finishReason = candidate.finishReason;
  if (api === 'gemini') result.index = index;
  if (!final) return result;
  if (candidate.finishMessage) result.finishMessage = candidate.finishMessage;
  if (candidate.blocked === 'SAFETY') result.safetyRatings = safetyRatings(api);
  if (candidate.blocked === 'RECITATION') {
    const source = { startIndex: 0, endIndex: 120, uri: 'https://example.com/recited-source' };
    result.citationMetadata = api === 'vertex' ? { citations: [source] } : { citationSources: [source] };
  }
  return result;
}

/**
 * The parts of one candidate as streamed: thought and answer text in word-sized pieces, each function call
 * whole; Gemini 3 ends with an empty text part that carries a text answer's signature.
 */
function streamPieces(spec: ModelSpec, parts: Json[], json: boolean, blocked: boolean): Json[] {
  const pieces: Json[] = [];
  let trailingSignature: string | undefined;
  for (const part of parts) {
    if (typeof part.text !== 'string') {
      pieces.push(part);
      continue;
    }
    const texts = json && part.thought !== true ? splitEvenly(part.text) : splitForStream(part.text);
    const signature = typeof part.thoughtSignature === 'string' ? part.thoughtSignature : undefined;
    texts.forEach((text, index) => {
      const piece: Json = part.thought === true ? { text, thought: true } : { text };
      const lastPiece = index === texts.length - 1;
      if (signature && lastPiece) {
        if (spec.generation === 3 && part.thought !== true) trailingSignature = signature;
        else piece.thoughtSignature = signature;
      }
      pieces.push(piece);
    });
  }
  if (spec.generation === 3 && !blocked) {
    pieces.push(trailingSignature ? { text: '', thoughtSignature: trailingSignature } : { text: '' });
  }
  return pieces;
}

function embedInput(request: Json, messageName: string): { text: string; tokens: number } {
  const content = field(request, 'content');
  if (!isObject(content)) throw new ApiError(invalidArgument(`* ${messageName}.content: content is not specified\n`));
  const parts = field(content, 'parts');
  if (!isArray(parts) || parts.length === 0) {
    throw new ApiError(invalidArgument(`* ${messageName}.content.parts: contents.parts must not be empty.\n`));
  }
  const text = partsText(parts.filter(isObject));
  return { text, tokens: countWords(text) };
}

/**
 * A unit vector at the model's full 3072 dimensions, from SHA-256 of task type and text; `outputDimensionality`
 * truncates it without renormalizing, as Gemini does (only the full size is normalized).
 */
function embeddingVector(
  text: string,
  taskType: string | undefined,
  outputDimensionality: number | undefined,
): number[] {
  const raw: number[] = [];
  for (let block = 0; raw.length < EMBEDDING_DIMENSIONS; block++) {
    const digest = createHash('sha256')
      .update(`${block}:${taskType ?? ''}:${text}`)
      .digest();
    for (let offset = 0; offset < digest.length && raw.length < EMBEDDING_DIMENSIONS; offset += 2) {
      raw.push((digest.readUInt16LE(offset) / 0xffff) * 2 - 1);
    }
  }
  const norm = Math.hypot(...raw) || 1;
  const unit = raw.map((value) => Math.fround(value / norm));
  const size =
    outputDimensionality && outputDimensionality > 0
      ? Math.min(outputDimensionality, EMBEDDING_DIMENSIONS)
      : EMBEDDING_DIMENSIONS;
  return unit.slice(0, size);
}

function decodeJwt(
  assertion: string,
): { header: Json; claims: Json; signedPart: string; signature: Buffer } | undefined {
  const segments = assertion.split('.');
  if (segments.length !== 3) return undefined;
  const header = parseJson(Buffer.from(segments[0], 'base64url').toString('utf8'));
  const claims = parseJson(Buffer.from(segments[1], 'base64url').toString('utf8'));
  if (!header.valid || !claims.valid || !isObject(header.value) || !isObject(claims.value)) return undefined;
  return {
    header: header.value,
    claims: claims.value,
    signedPart: `${segments[0]}.${segments[1]}`,
    signature: Buffer.from(segments[2], 'base64url'),
  };
}

function rs256Valid(decoded: { signedPart: string; signature: Buffer }, publicKey: string | KeyObject): boolean {
  try {
    return verifySignature('sha256', Buffer.from(decoded.signedPart), publicKey, decoded.signature);
  } catch {
    return false;
  }
}

function stringRecord(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

function canonicalJson(value: unknown): string {
  if (isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** Word-sized pieces (leading whitespace kept with the first) whose concatenation is exactly `text`. */
function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/gy) ?? [];
}

/** At least MIN_STREAM_PIECES non-empty pieces (when the text is long enough) whose concatenation is `text`. */
function splitForStream(text: string): string[] {
  const words = splitWords(text);
  if (words.length >= MIN_STREAM_PIECES || text.length < MIN_STREAM_PIECES) return words.length > 0 ? words : [text];
  return splitEvenly(text);
}

function splitEvenly(text: string): string[] {
  if (text.length < MIN_STREAM_PIECES) return [text];
  const size = Math.ceil(text.length / MIN_STREAM_PIECES);
  const pieces: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) pieces.push(text.slice(offset, offset + size));
  return pieces;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (char) => `&#${char.charCodeAt(0)};`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
