/**
 * Amazon Bedrock Runtime simulator for the gateway's `bedrock` provider: real HTTP, SigV4, the binary AWS event stream.
 *
 * One server answers:
 * - `POST /model/{modelId}/converse` and `POST /model/{modelId}/converse-stream` (`application/vnd.amazon.eventstream`);
 * - `POST /model/{modelId}/invoke` for Titan Text Embeddings (G1, V2) and Cohere Embed v3 bodies;
 * - `GET /creds`, an ECS/EKS container-credentials endpoint, and `POST /` `Action=AssumeRoleWithWebIdentity` (STS);
 * - `/__sim/faults`, `/__sim/reset`, `/__sim/stats` for control from another process.
 * Every Bedrock request must carry a SigV4 `Authorization` (service `bedrock`, the configured region) made with one of
 * the configured or issued credential sets; the signature is recomputed from the bytes that arrived.
 *
 * Answers are deterministic. In the last user turn, `SIM_TOOL <name> <json>` calls that tool (when offered),
 * `SIM_TEXT <text>` answers exactly that text, `SIM_REDACTED_THINKING` makes Claude's reasoning a redactedContent
 * block, `SIM_GUARDRAIL` and `SIM_CONTENT_FILTERED` end with those stop reasons. Otherwise: forced tool choice or
 * offered tools → a toolUse with `{"city":"Paris"}`; after tool results → `Tool said: <results>`; else
 * `Hello from <modelId>: <last user text>`. Claude with `thinking` enabled reasons first, with a signature the next
 * turn must return unchanged. cachePoint blocks are cache boundaries: prefixes served before are reported as read.
 *
 * Documentation followed:
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html
 * - https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/troubleshooting-api-error-codes.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
 * - https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html
 * - https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 * - https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html (event stream message framing)
 * - https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
 * - https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
 * - the service model, boto/botocore `botocore/data/bedrock-runtime/2023-09-30/service-2.json` (error statuses)
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
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
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import { abortedOf, parseJson, writeJson } from './sim-http.js';
import { minimalJsonInstance } from './openai-sim-common.js';
import { isArray, isObject, type Json, textOf } from './sim-json.js';

export type BedrockOperation = 'converse' | 'converse-stream' | 'invoke';

export interface BedrockCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry it in `x-amz-security-token`. */
  sessionToken?: string;
  /** Epoch ms from which requests signed with this set are refused with ExpiredTokenException. */
  expiresAt?: number;
}

export interface BedrockSimulatorFault {
  /** Answer with this status; the error type defaults to the one Bedrock uses for it (429 → ThrottlingException). */
  status?: number;
  /** `x-amzn-ErrorType` name, e.g. `ModelNotReadyException`; its status is used when `status` is not given. */
  errorType?: string;
  message?: string;
  /** Sent as the JSON body instead of `{"message": …}`. */
  body?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Wait this long before answering; the answer is normal afterwards unless another field says otherwise. */
  firstByteDelayMs?: number;
  /** Never answer; the request ends only when the client hangs up or the simulator stops. */
  hang?: boolean;
  /** Destroy the connection instead of answering (ConverseStream: see `dropAfterEvents`). */
  dropConnection?: boolean;
  /** ConverseStream: destroy the connection after this many frames. */
  dropAfterEvents?: number;
  /** ConverseStream: end with an exception frame of this `:exception-type`, e.g. `throttlingException`. */
  streamException?: string;
  /** Frames sent before the exception frame. Default: up to and including the second contentBlockDelta. */
  exceptionAfterEvents?: number;
  /** Overrides the simulator's delay between frames. */
  chunkDelayMs?: number;
  /** Overrides the simulator's number of socket writes per frame. */
  splitFrames?: number;
  /** Operations the fault applies to. Default: all three; `[]` targets the container and STS endpoints instead. */
  operations?: BedrockOperation[];
  /** How many matching requests consume the fault. Default 1. */
  times?: number;
}

export interface BedrockSimulatorOptions {
  /** The region requests must be signed for. Default `us-east-1`. */
  region?: string;
  /** Credential sets accepted from the start. Default: one long-term key, {@link DEFAULT_BEDROCK_CREDENTIALS}. */
  credentials?: BedrockCredentials[];
  /** Delay between stream frames. Default 0. */
  chunkDelayMs?: number;
  /** Socket writes per stream frame (≥ 2 splits every frame, the first cut inside the prelude). Default 1. */
  splitFrames?: number;
  /** Add the `p` padding field AWS puts in every event payload. Default true. */
  padding?: boolean;
  /** `metrics.latencyMs` reported. Default 250. */
  latencyMs?: number;
  /** Prefixes shorter than this are not cached (Bedrock needs 1 024 for most Claude models). Default 0. */
  minCacheTokens?: number;
  /** Claude 3.7 / 4.x refuse on-demand ids and need an inference profile id, as on Bedrock. Default true. */
  requireInferenceProfile?: boolean;
  /** ConverseStream: report the model's own validation errors as a validationException frame after HTTP 200. */
  modelErrorsInStream?: boolean;
  /** Path of the container-credentials endpoint. Default `/creds`. */
  containerCredentialsPath?: string;
  /** When set, the container endpoint requires exactly this `Authorization` header. */
  containerAuthorizationToken?: string;
  /** Lifetime of container credentials. Default 6 hours. */
  containerCredentialsLifetimeMs?: number;
  /** Lifetime of STS credentials, overriding the request's DurationSeconds (default 3 600 s). */
  stsCredentialsLifetimeMs?: number;
  /** When set, AssumeRoleWithWebIdentity accepts only these tokens. */
  webIdentityTokens?: string[];
  /** The simulator's clock, for signature skew and credential expiry. Default `Date.now`. */
  now?: () => number;
}

export interface RecordedBedrockRequest {
  method: string;
  /** The raw path as sent, model id still percent-encoded. */
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
  hungUp: boolean;
  operation?: BedrockOperation;
  /** The decoded model id. */
  modelId?: string;
  /** The access key whose signature verified; undefined when the request was refused before. */
  accessKeyId?: string;
  status?: number;
  /** The `x-amzn-ErrorType` name of an error answer. */
  errorType?: string;
}

export interface RecordedCredentialRequest {
  kind: 'container' | 'sts';
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** STS: the form fields. */
  params?: Record<string, string>;
  status: number;
  issuedAccessKeyId?: string;
}

export interface BedrockSimulatorStats {
  received: number;
  hungUp: number;
  inFlight: number;
  converse: number;
  converseStream: number;
  invoke: number;
  errors: number;
  authFailures: number;
  containerCredentialCalls: number;
  stsCalls: number;
}

export const DEFAULT_BEDROCK_CREDENTIALS: BedrockCredentials = {
  accessKeyId: 'AKIASIMULATOR0000001',
  secretAccessKey: 'sim/SecretAccessKey/0000000000000000000000',
};

const CONTROL_PREFIX = '/__sim/';
const SERVICE = 'bedrock';
const BEDROCK_ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.bedrock/';
const CORAL_ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.coral.service/';
const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const MAX_SKEW_MS = 15 * 60_000;
const PAD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const TOKENS_PER_MESSAGE = 3;
const MAX_ECHOED_CHARS = 200;
const DEFAULT_MAX_TOKENS = 4096;
const MIN_STREAM_PIECES = 3;
const TOOL_INPUT_FRAGMENT_CHARS = 5;
const DEFAULT_TOOL_INPUT = { city: 'Paris' };
const MIN_THINKING_BUDGET = 1024;
const GUARDRAIL_MESSAGE = 'Sorry, the model cannot answer this question.';
const THINKING_KEY = 'bedrock-simulator-thinking-signature-key';
const REDACTED_PREFIX = Buffer.from('SIMREDACTED1');
const EXTENDED_THINKING_DOCS = 'https://docs.claude.com/en/docs/build-with-claude/extended-thinking';
const MODEL_ERRORS_PREFIX = 'The model returned the following errors: ';
const INVALID_TOKEN = 'The security token included in the request is invalid.';
const GEO_PREFIXES = new Set(['us', 'eu', 'apac', 'global', 'jp', 'au', 'ca', 'us-gov']);
const VENDORS = new Set([
  'amazon',
  'anthropic',
  'meta',
  'mistral',
  'cohere',
  'ai21',
  'deepseek',
  'openai',
  'qwen',
  'writer',
  'twelvelabs',
  'stability',
]);
const IMAGE_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp']);
const DOCUMENT_FORMATS = new Set(['pdf', 'csv', 'doc', 'docx', 'xls', 'xlsx', 'html', 'txt', 'md']);
const CONTENT_BLOCK_KEYS = [
  'text',
  'image',
  'document',
  'video',
  'toolUse',
  'toolResult',
  'guardContent',
  'cachePoint',
  'reasoningContent',
  'citationsContent',
];
const COHERE_INPUT_TYPES = new Set(['search_document', 'search_query', 'classification', 'clustering', 'image']);
const COHERE_EMBEDDING_TYPES = new Set(['float', 'int8', 'uint8', 'binary', 'ubinary']);
const COHERE_DIMENSIONS = 1024;
const TITAN_V1_DIMENSIONS = 1536;
const TITAN_V2_DIMENSIONS = new Set([256, 512, 1024]);

/** Status and default message of each Bedrock Runtime error (statuses from the service model). */
const ERRORS: Record<string, { status: number; message: string }> = {
  AccessDeniedException: { status: 403, message: "You don't have access to the model with the specified model ID." },
  InternalServerException: {
    status: 500,
    message: 'The server encountered an internal error. Try your request again.',
  },
  ModelErrorException: {
    status: 424,
    message: 'The system encountered an unexpected error during processing. Try your request again.',
  },
  ModelNotReadyException: {
    status: 429,
    message: 'Model is not ready for inference. Wait and try your request again.',
  },
  ModelStreamErrorException: { status: 424, message: 'The model stream encountered an error. Try your request again.' },
  ModelTimeoutException: {
    status: 408,
    message: 'Model has timed out in processing the request. Try your request again.',
  },
  ResourceNotFoundException: {
    status: 404,
    message: 'Could not resolve the foundation model from the provided model identifier.',
  },
  ServiceQuotaExceededException: { status: 400, message: 'Your request exceeds the service quota for your account.' },
  ServiceUnavailableException: { status: 503, message: 'Bedrock is unable to process your request.' },
  ThrottlingException: { status: 429, message: 'Too many requests, please wait before trying again.' },
  ValidationException: { status: 400, message: 'Malformed input request, please reformat your input and try again.' },
};

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  424: 'ModelErrorException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

type StopReason =
  'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'guardrail_intervened' | 'content_filtered';

/** An error answer: HTTP status, `x-amzn-ErrorType` name and namespace, JSON body. */
interface ErrorAnswer {
  status: number;
  type: string;
  body: Json;
  /** The auth layer's errors carry the coral.service namespace, the service's the bedrock one. */
  namespace: string;
  /** Raised by the model behind Converse rather than by Bedrock itself. */
  fromModel?: boolean;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedBedrockRequest;
  signal: AbortSignal;
  requestId: string;
  fault?: BedrockSimulatorFault;
  droppedByServer: boolean;
}

interface QueuedFault {
  fault: BedrockSimulatorFault;
  remaining: number;
}

interface HangUpWaiter {
  atLeast: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface ModelInfo {
  id: string;
  /** The model id without ARN, geography prefix or version: `anthropic.claude-sonnet-4-20250514-v1:0`. */
  base: string;
  vendor: string;
  inferenceProfile: boolean;
  claude: boolean;
  thinking: boolean;
  caching: boolean;
  embedding?: 'titan-v1' | 'titan-v2' | 'cohere';
}

type OutputBlock =
  | { kind: 'reasoning'; text: string; signature: string }
  | { kind: 'redacted'; data: string }
  | { kind: 'text'; text: string }
  | { kind: 'toolUse'; toolUseId: string; name: string; input: unknown };

interface TokenUsage {
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

interface ConverseAnswer {
  content: OutputBlock[];
  stopReason: StopReason;
  stopSequence: string | null;
  usage: TokenUsage;
  additionalModelResponseFields?: Json;
}

interface CacheBoundary {
  hash: string;
  tokens: number;
}

interface CachePlan {
  boundaries: CacheBoundary[];
  totalTokens: number;
  hasCachePoint: boolean;
}

interface Directives {
  tool?: { name: string; input: Json };
  text?: string;
  redactedThinking: boolean;
  guardrail: boolean;
  contentFiltered: boolean;
}

type AuthResult = { ok: true; accessKeyId: string } | { ok: false; error: ErrorAnswer };

export class BedrockSimulator {
  readonly requests: RecordedBedrockRequest[] = [];
  readonly credentialRequests: RecordedCredentialRequest[] = [];
  readonly region: string;
  chunkDelayMs: number;
  splitFrames: number;
  private readonly padding: boolean;
  private readonly latencyMs: number;
  private readonly minCacheTokens: number;
  private readonly requireInferenceProfile: boolean;
  private readonly modelErrorsInStream: boolean;
  private readonly containerCredentialsPath: string;
  private readonly containerAuthorizationToken?: string;
  private readonly containerCredentialsLifetimeMs: number;
  private readonly stsCredentialsLifetimeMs?: number;
  private readonly webIdentityTokens?: Set<string>;
  private readonly now: () => number;
  private readonly credentials = new Map<string, BedrockCredentials>();
  private readonly cachedPrefixes = new Set<string>();
  private readonly faults: QueuedFault[] = [];
  private readonly hangUpWaiters = new Set<HangUpWaiter>();
  private readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  private server?: Server;
  private stopping = false;
  private counts = emptyCounts();
  private requestCounter = 0;
  private answerCounter = 0;
  private streamCounter = 0;
  private issuedCounter = 0;

  constructor(options: BedrockSimulatorOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.chunkDelayMs = options.chunkDelayMs ?? 0;
    this.splitFrames = options.splitFrames ?? 1;
    this.padding = options.padding ?? true;
    this.latencyMs = options.latencyMs ?? 250;
    this.minCacheTokens = options.minCacheTokens ?? 0;
    this.requireInferenceProfile = options.requireInferenceProfile ?? true;
    this.modelErrorsInStream = options.modelErrorsInStream ?? false;
    this.containerCredentialsPath = options.containerCredentialsPath ?? '/creds';
    this.containerAuthorizationToken = options.containerAuthorizationToken;
    this.containerCredentialsLifetimeMs = options.containerCredentialsLifetimeMs ?? 6 * 3_600_000;
    this.stsCredentialsLifetimeMs = options.stsCredentialsLifetimeMs;
    this.webIdentityTokens = options.webIdentityTokens ? new Set(options.webIdentityTokens) : undefined;
    this.now = options.now ?? Date.now;
    for (const set of options.credentials ?? [DEFAULT_BEDROCK_CREDENTIALS]) this.addCredentials(set);
  }

  get received(): number {
    return this.counts.received;
  }

  /** Requests whose client closed the connection before the response finished. */
  get hungUp(): number {
    return this.counts.hungUp;
  }

  stats(): BedrockSimulatorStats {
    return { ...this.counts };
  }

  /** Starts listening and returns the base URL (the Bedrock Runtime endpoint), e.g. `http://127.0.0.1:41234`. */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    this.server = server;
    this.stopping = false;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return `http://${hostPart}:${(server.address() as AddressInfo).port}`;
  }

  /** Closes the server and every connection, hung requests included; pending hang-up waits are rejected. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.stopping = true;
    for (const waiter of this.hangUpWaiters) waiter.reject(new Error('bedrock simulator stopped'));
    this.hangUpWaiters.clear();
    const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    server.closeAllConnections();
    await closed;
  }

  /** Accepts this credential set from now on, next to the others (a rotation overlaps old and new keys). */
  addCredentials(credentials: BedrockCredentials): void {
    this.credentials.set(credentials.accessKeyId, { ...credentials });
  }

  /** Refuses the key from now on as unknown (UnrecognizedClientException). */
  revokeCredentials(accessKeyId: string): void {
    this.credentials.delete(accessKeyId);
  }

  /** Makes the key's session expired from now on (ExpiredTokenException). */
  expireCredentials(accessKeyId: string): void {
    const set = this.credentials.get(accessKeyId);
    if (set) set.expiresAt = this.now();
  }

  /** Queues a fault for the next matching request(s), first in first out. */
  enqueueFault(fault: BedrockSimulatorFault): void {
    this.faults.push({ fault, remaining: fault.times ?? 1 });
  }

  /** Forgets every cached prompt prefix. */
  clearCache(): void {
    this.cachedPrefixes.clear();
  }

  /** Clears faults, recorded requests, counters and the prompt cache; credential sets stay. */
  reset(): void {
    this.faults.length = 0;
    this.requests.length = 0;
    this.credentialRequests.length = 0;
    this.cachedPrefixes.clear();
    const inFlight = this.counts.inFlight;
    this.counts = { ...emptyCounts(), inFlight };
  }

  /** Resolves once `hungUp` (counted since the last reset) reaches `atLeast`; rejects after `timeoutMs`. */
  waitForHangUp(timeoutMs = 2_000, atLeast = 1): Promise<void> {
    if (this.counts.hungUp >= atLeast) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.hangUpWaiters.delete(waiter);
        reject(new Error(`bedrock simulator: no client hang-up within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: HangUpWaiter = {
        atLeast,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.hangUpWaiters.add(waiter);
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const query = queryAt < 0 ? '' : url.slice(queryAt + 1);
    const fail = (error: unknown) => {
      if (!res.headersSent) writeJson(res, 500, { message: `Simulator failure: ${describe(error)}` });
      else res.destroy();
    };
    if (path.startsWith(CONTROL_PREFIX)) {
      this.handleControl(req, res, path).catch(fail);
      return;
    }
    if (req.method === 'GET' && path === this.containerCredentialsPath) {
      this.handleContainerCredentials(req, res, path);
      return;
    }
    if (req.method === 'POST' && path === '/') {
      this.handleSts(req, res).catch(fail);
      return;
    }
    const controller = new AbortController();
    const record: RecordedBedrockRequest = {
      method: req.method ?? 'GET',
      path,
      query,
      headers: req.headers,
      body: undefined,
      hungUp: false,
    };
    const exchange: Exchange = {
      req,
      res,
      record,
      signal: controller.signal,
      requestId: uuidFrom(`request:${++this.requestCounter}`),
      droppedByServer: false,
    };
    this.requests.push(record);
    this.counts.received++;
    this.counts.inFlight++;
    res.on('close', () => {
      this.counts.inFlight--;
      if (!res.writableFinished && !exchange.droppedByServer && !this.stopping) {
        record.hungUp = true;
        this.noteHangUp();
      }
      // Ends pending delays, hangs and drain waits of this request.
      controller.abort();
    });
    this.handle(exchange).catch((error: unknown) => {
      // Aborted means the client hung up or the simulator stopped: nobody is left to answer.
      if (exchange.signal.aborted) return;
      if (exchange.res.headersSent) exchange.res.destroy();
      else this.sendError(exchange, serviceError('InternalServerException', `Simulator failure: ${describe(error)}`));
    });
  }

  private noteHangUp(): void {
    this.counts.hungUp++;
    for (const waiter of this.hangUpWaiters) {
      if (this.counts.hungUp < waiter.atLeast) continue;
      this.hangUpWaiters.delete(waiter);
      waiter.resolve();
    }
  }

  private async handle(exchange: Exchange): Promise<void> {
    const { req, record } = exchange;
    const raw = await readRaw(req);
    const parsed = parseJson(raw.toString('utf8'));
    record.body = parsed.value;

    const auth = this.authorize(req, record, raw);
    if (!auth.ok) {
      this.counts.authFailures++;
      return this.sendError(exchange, auth.error);
    }
    record.accessKeyId = auth.accessKeyId;

    const route = /^\/model\/([^/]+)\/(converse|converse-stream|invoke)$/.exec(record.path);
    if (record.method !== 'POST' || !route) {
      return this.sendError(exchange, {
        status: 404,
        type: 'UnknownOperationException',
        body: {},
        namespace: CORAL_ERROR_NAMESPACE,
      });
    }
    const operation = route[2] as BedrockOperation;
    record.operation = operation;
    const modelId = safeDecode(route[1]);
    record.modelId = modelId;

    const fault = this.takeFault(operation);
    if (fault) {
      exchange.fault = fault;
      if (fault.hang) return abortedOf(exchange.signal);
      if (fault.firstByteDelayMs) await sleep(fault.firstByteDelayMs, undefined, { signal: exchange.signal });
      if (fault.status !== undefined || fault.errorType !== undefined) {
        return this.sendError(exchange, faultError(fault));
      }
      if (fault.dropConnection && operation !== 'converse-stream') {
        exchange.droppedByServer = true;
        req.socket.destroy();
        return;
      }
    }

    const model = modelInfo(modelId);
    if (!model) {
      return this.sendError(exchange, serviceError('ValidationException', 'The provided model identifier is invalid.'));
    }
    if (!parsed.valid) {
      return this.sendError(exchange, {
        status: 400,
        type: 'SerializationException',
        body: { Message: 'Unexpected character in the request body: it is not valid JSON.' },
        namespace: CORAL_ERROR_NAMESPACE,
      });
    }
    if (operation === 'invoke') return this.invoke(exchange, model, parsed.value);
    return this.converse(exchange, model, parsed.value, operation === 'converse-stream');
  }

  private takeFault(operation: BedrockOperation): BedrockSimulatorFault | undefined {
    const index = this.faults.findIndex(({ fault }) => {
      const streamOnly =
        fault.streamException !== undefined ||
        fault.dropAfterEvents !== undefined ||
        fault.exceptionAfterEvents !== undefined;
      if (streamOnly && operation !== 'converse-stream') return false;
      return (fault.operations ?? ['converse', 'converse-stream', 'invoke']).includes(operation);
    });
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  // ---- SigV4 ----

  private authorize(req: IncomingMessage, record: RecordedBedrockRequest, body: Buffer): AuthResult {
    const refuse = (status: number, type: string, message: string, key = 'message'): AuthResult => ({
      ok: false,
      error: { status, type, body: { [key]: message }, namespace: CORAL_ERROR_NAMESPACE },
    });
    const authorization = headerValue(req.headers.authorization);
    if (authorization === undefined) {
      return refuse(403, 'AccessDeniedException', 'Authorization header is missing', 'Message');
    }
    const match = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authorization);
    const fields = new Map<string, string>();
    for (const part of (match?.[1] ?? '').split(/,\s*/)) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const amzDate = headerValue(req.headers['x-amz-date']);
    const missing = [
      fields.has('Credential') ? '' : "Authorization header requires 'Credential' parameter.",
      fields.has('Signature') ? '' : "Authorization header requires 'Signature' parameter.",
      fields.has('SignedHeaders') ? '' : "Authorization header requires 'SignedHeaders' parameter.",
      amzDate ? '' : "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    ].filter(Boolean);
    if (!match || missing.length > 0) {
      return refuse(400, 'IncompleteSignatureException', `${missing.join(' ')} Authorization=${authorization}`.trim());
    }
    const [accessKeyId, scopeDate, scopeRegion, scopeService, terminator, ...rest] = fields
      .get('Credential')!
      .split('/');
    if (rest.length > 0 || terminator === undefined) {
      return refuse(
        400,
        'IncompleteSignatureException',
        `Credential should have five parts: ${fields.get('Credential')}`,
      );
    }
    const credentials = this.credentials.get(accessKeyId);
    if (!credentials) return refuse(403, 'UnrecognizedClientException', INVALID_TOKEN);
    const sessionToken = headerValue(req.headers['x-amz-security-token']);
    if (sessionToken !== credentials.sessionToken) return refuse(403, 'UnrecognizedClientException', INVALID_TOKEN);
    if (credentials.expiresAt !== undefined && this.now() >= credentials.expiresAt) {
      return refuse(403, 'ExpiredTokenException', 'The security token included in the request is expired');
    }

    const signatureError = (message: string) => refuse(403, 'InvalidSignatureException', message);
    const requestTime = parseAmzDate(amzDate!);
    if (requestTime === undefined) return signatureError(`Invalid X-Amz-Date: ${amzDate}`);
    if (scopeDate !== amzDate!.slice(0, 8)) {
      return signatureError(
        `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate!.slice(0, 8)}', from '${amzDate}'.`,
      );
    }
    if (scopeRegion !== this.region) return signatureError('Credential should be scoped to a valid region. ');
    if (scopeService !== SERVICE) {
      return signatureError(`Credential should be scoped to correct service: '${SERVICE}'. `);
    }
    if (terminator !== 'aws4_request') {
      return signatureError(
        `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `,
      );
    }
    const now = this.now();
    if (requestTime < now - MAX_SKEW_MS) {
      return signatureError(
        `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(now - MAX_SKEW_MS)} (${formatAmzDate(now)} - 15 min.)`,
      );
    }
    if (requestTime > now + MAX_SKEW_MS) {
      return signatureError(
        `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(now + MAX_SKEW_MS)} (${formatAmzDate(now)} + 15 min.)`,
      );
    }
    const signedHeaders = fields.get('SignedHeaders')!.split(';');
    if (!signedHeaders.includes('host')) {
      return signatureError("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    }

    const canonicalRequest = [
      record.method,
      canonicalUri(record.path),
      canonicalQuery(record.query),
      ...signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req.headersDistinct[name])}`),
      '',
      signedHeaders.join(';'),
      sha256Hex(body),
    ].join('\n');
    const scope = `${scopeDate}/${scopeRegion}/${scopeService}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const expected = signatureOf(credentials.secretAccessKey, scopeDate, scopeRegion, scopeService, stringToSign);
    const given = fields.get('Signature')!;
    if (given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
      return signatureError(
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.' +
          `\n\nThe Canonical String for this request should have been\n'${canonicalRequest}'\n\nThe String-to-Sign should have been\n'${stringToSign}'\n`,
      );
    }
    return { ok: true, accessKeyId };
  }

  // ---- Converse / ConverseStream ----

  private async converse(exchange: Exchange, model: ModelInfo, body: unknown, streaming: boolean): Promise<void> {
    const problem = this.converseProblem(model, body);
    if (problem) {
      if (streaming && problem.fromModel && this.modelErrorsInStream) {
        return this.streamFrames(exchange, [this.exceptionFrame('validationException', problem.body)]);
      }
      return this.sendError(exchange, problem);
    }
    const request = body as Json;
    const answer = this.answer(model, request);
    if (streaming) {
      this.counts.converseStream++;
      return this.streamConverse(exchange, answer);
    }
    this.counts.converse++;
    const response: Json = {};
    if (answer.additionalModelResponseFields) {
      response.additionalModelResponseFields = answer.additionalModelResponseFields;
    }
    response.metrics = { latencyMs: this.latencyMs };
    response.output = { message: { content: answer.content.map(converseBlock), role: 'assistant' } };
    response.stopReason = answer.stopReason;
    response.usage = answer.usage;
    this.sendJson(exchange, 200, response);
  }

  private converseProblem(model: ModelInfo, body: unknown): ErrorAnswer | undefined {
    if (model.embedding) {
      return serviceError(
        'ValidationException',
        "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
      );
    }
    if (model.claude && model.thinking && !model.inferenceProfile && this.requireInferenceProfile) {
      return serviceError(
        'ValidationException',
        `Invocation of model ID ${model.id} with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.`,
      );
    }
    if (!isObject(body)) return serializationError('Start of structure or map found where not expected.');
    const problem = requestProblem(model, body);
    if (problem) return problem;
    if (!model.caching && cachePlan(model, body).hasCachePoint) {
      return validation(
        'You invoked an unsupported model or your request did not allow prompt caching. See the documentation for more information.',
      );
    }
    return model.claude ? claudeProblem(model, body) : undefined;
  }

  private answer(model: ModelInfo, request: Json): ConverseAnswer {
    const id = ++this.answerCounter;
    const messages = request.messages as Json[];
    const lastUser = messages.findLast((message) => message.role === 'user');
    const lastUserBlocks = lastUser ? (lastUser.content as Json[]) : [];
    const lastUserText = lastUserBlocks
      .flatMap((block) => (typeof block.text === 'string' ? [block.text] : []))
      .join(' ');
    const toolResults =
      messages.at(-1)?.role === 'user' ? lastUserBlocks.filter((block) => isObject(block.toolResult)) : [];
    const directives = directivesOf(lastUserText);
    const toolConfig = isObject(request.toolConfig) ? request.toolConfig : undefined;
    const toolNames = ((toolConfig?.tools as Json[] | undefined) ?? []).flatMap((tool) =>
      isObject(tool.toolSpec) ? [tool.toolSpec.name as string] : [],
    );
    const choice = isObject(toolConfig?.toolChoice) ? toolConfig.toolChoice : undefined;
    const forced = isObject(choice?.tool)
      ? (choice.tool.name as string)
      : isObject(choice?.any)
        ? toolNames[0]
        : undefined;
    const thinking = thinkingOf(request);
    const inference = isObject(request.inferenceConfig) ? request.inferenceConfig : {};
    const schema = structuredSchemaOf(request);

    const content: OutputBlock[] = [];
    if (model.claude && model.thinking && thinking.enabled) {
      const subject = toolResults.length > 0 ? 'the tool result' : `"${lastUserText.slice(0, MAX_ECHOED_CHARS)}"`;
      if (directives.redactedThinking) {
        content.push({ kind: 'redacted', data: redactedData(`${id}:${lastUserText}`) });
      } else {
        const text = `The user asked about ${subject}. I will answer directly.`;
        content.push({ kind: 'reasoning', text, signature: signThinking(text) });
      }
    }
    const toolUse = (name: string, input: unknown): OutputBlock => ({
      kind: 'toolUse',
      toolUseId: `tooluse_${createHash('sha256').update(`tool:${id}`).digest('base64url').slice(0, 22)}`,
      name,
      input,
    });

    let stopReason: StopReason = 'end_turn';
    let stopSequence: string | null = null;
    let text: string | undefined;
    const directiveTool = directives.tool && toolNames.includes(directives.tool.name) ? directives.tool : undefined;
    if (directives.guardrail) {
      text = GUARDRAIL_MESSAGE;
      stopReason = 'guardrail_intervened';
    } else if (directiveTool && (forced === undefined || forced === directiveTool.name || isObject(choice?.any))) {
      content.push(toolUse(directiveTool.name, directiveTool.input));
      stopReason = 'tool_use';
    } else if (forced !== undefined) {
      content.push(toolUse(forced, { ...DEFAULT_TOOL_INPUT }));
      stopReason = 'tool_use';
    } else if (directives.text !== undefined) {
      text = directives.text;
    } else if (schema !== undefined) {
      text = JSON.stringify(minimalJsonInstance(schema));
    } else if (toolResults.length > 0) {
      text = `Tool said: ${toolResults.map((block) => toolResultText(block.toolResult as Json)).join('; ')}`.slice(
        0,
        MAX_ECHOED_CHARS + 'Tool said: '.length,
      );
    } else if (toolNames.length > 0 && messages.at(-1)?.role === 'user') {
      content.push(toolUse(toolNames[0], { ...DEFAULT_TOOL_INPUT }));
      stopReason = 'tool_use';
    } else {
      text = `Hello from ${model.id}: ${lastUserText.slice(0, MAX_ECHOED_CHARS)}`;
    }

    if (text !== undefined) {
      if (directives.contentFiltered) {
        text = splitWords(text).slice(0, 3).join('').trimEnd();
        stopReason = 'content_filtered';
      }
      for (const sequence of (inference.stopSequences as string[] | undefined) ?? []) {
        const at = text.indexOf(sequence);
        if (at >= 0 && (stopSequence === null || at < text.indexOf(stopSequence))) stopSequence = sequence;
      }
      if (stopSequence !== null) {
        text = text.slice(0, text.indexOf(stopSequence));
        stopReason = 'stop_sequence';
      }
      const maxTokens = (inference.maxTokens as number | undefined) ?? DEFAULT_MAX_TOKENS;
      const words = splitWords(text);
      if (words.length > maxTokens) {
        text = words.slice(0, maxTokens).join('').trimEnd();
        stopReason = 'max_tokens';
        stopSequence = null;
      }
      content.push({ kind: 'text', text });
    }

    const outputTokens = content.reduce((sum, block) => sum + outputTokensOf(block), 0);
    const plan = cachePlan(model, request);
    let read = 0;
    for (const boundary of [...plan.boundaries].reverse()) {
      if (this.cachedPrefixes.has(boundary.hash)) {
        read = boundary.tokens;
        break;
      }
    }
    const last = plan.boundaries.at(-1);
    const write =
      last && last.tokens >= this.minCacheTokens && !this.cachedPrefixes.has(last.hash) ? last.tokens - read : 0;
    for (const boundary of plan.boundaries) {
      if (boundary.tokens >= this.minCacheTokens) this.cachedPrefixes.add(boundary.hash);
    }
    const inputTokens = plan.totalTokens - read - write;
    const usage: TokenUsage = plan.hasCachePoint
      ? {
          cacheReadInputTokens: read,
          cacheWriteInputTokens: write,
          inputTokens,
          outputTokens,
          totalTokens: inputTokens + outputTokens + read + write,
        }
      : { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens };

    const answer: ConverseAnswer = { content, stopReason, stopSequence, usage };
    const paths = request.additionalModelResponseFieldPaths as string[] | undefined;
    if (paths && paths.length > 0) {
      const native = nativeResponse(model, id, answer);
      answer.additionalModelResponseFields = pickPointers(native, paths);
    }
    return answer;
  }

  private async streamConverse(exchange: Exchange, answer: ConverseAnswer): Promise<void> {
    const fault = exchange.fault ?? {};
    const seed = ++this.streamCounter;
    const events: Array<[string, Json]> = [['messageStart', { role: 'assistant' }]];
    answer.content.forEach((block, index) => {
      const delta = (value: Json) => events.push(['contentBlockDelta', { contentBlockIndex: index, delta: value }]);
      if (block.kind === 'reasoning') {
        for (const text of splitForStream(block.text)) delta({ reasoningContent: { text } });
        delta({ reasoningContent: { signature: block.signature } });
      } else if (block.kind === 'redacted') {
        delta({ reasoningContent: { redactedContent: block.data } });
      } else if (block.kind === 'text') {
        for (const text of splitForStream(block.text)) delta({ text });
      } else {
        events.push([
          'contentBlockStart',
          { contentBlockIndex: index, start: { toolUse: { name: block.name, toolUseId: block.toolUseId } } },
        ]);
        // Bedrock's first toolUse delta carries an empty input.
        for (const input of ['', ...splitEvery(JSON.stringify(block.input), TOOL_INPUT_FRAGMENT_CHARS)]) {
          delta({ toolUse: { input } });
        }
      }
      events.push(['contentBlockStop', { contentBlockIndex: index }]);
    });
    const stop: Json = {};
    if (answer.additionalModelResponseFields) stop.additionalModelResponseFields = answer.additionalModelResponseFields;
    stop.stopReason = answer.stopReason;
    events.push(['messageStop', stop]);
    events.push(['metadata', { metrics: { latencyMs: this.latencyMs }, usage: answer.usage }]);

    const frames = events.map(([type, payload], index) => this.eventFrame(type, payload, seed * 31 + index));
    if (fault.streamException !== undefined) {
      let deltas = 0;
      const secondDelta = events.findIndex(([type]) => type === 'contentBlockDelta' && ++deltas === 2);
      frames.splice(fault.exceptionAfterEvents ?? (secondDelta < 0 ? 1 : secondDelta + 1));
      const defaults = ERRORS[upperFirst(fault.streamException)];
      const payload: Json = { message: fault.message ?? defaults?.message ?? 'The stream failed.' };
      if (fault.streamException === 'modelStreamErrorException') {
        payload.originalMessage = 'Upstream model stream failed';
        payload.originalStatusCode = 500;
      }
      frames.push(this.exceptionFrame(fault.streamException, payload));
    }
    return this.streamFrames(exchange, frames);
  }

  private eventFrame(eventType: string, payload: Json, seed: number): Uint8Array {
    const padded = this.padding ? withPadding(payload, PAD_ALPHABET.slice(0, 1 + ((seed * 7919) % 61))) : payload;
    return encodeEventFrame(this.codec, eventType, JSON.stringify(padded));
  }

  private exceptionFrame(exceptionType: string, payload: Json): Uint8Array {
    return this.codec.encode({
      headers: {
        ':exception-type': { type: 'string', value: exceptionType },
        ':content-type': { type: 'string', value: 'application/json' },
        ':message-type': { type: 'string', value: 'exception' },
      },
      body: fromUtf8(JSON.stringify(payload)),
    });
  }

  private async streamFrames(exchange: Exchange, frames: Uint8Array[]): Promise<void> {
    const fault = exchange.fault ?? {};
    const delayMs = fault.chunkDelayMs ?? this.chunkDelayMs;
    const pieces = Math.max(1, fault.splitFrames ?? this.splitFrames);
    const { res, signal } = exchange;
    res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-RequestId': exchange.requestId,
    });
    res.flushHeaders();
    for (const [index, frame] of frames.entries()) {
      if (index === fault.dropAfterEvents) return this.drop(exchange);
      if (index > 0 && delayMs > 0) await sleep(delayMs, undefined, { signal });
      const flush = pieces > 1 || index + 1 === fault.dropAfterEvents;
      for (const piece of splitFrame(frame, pieces)) {
        await this.write(exchange, piece, flush);
        if (pieces > 1) await yieldToLoop(undefined, { signal });
      }
    }
    if (fault.dropAfterEvents !== undefined) return this.drop(exchange);
    res.end();
  }

  /** Writes with backpressure; with `flush`, waits until the bytes reached the socket, so a drop keeps them. */
  private async write(exchange: Exchange, chunk: Uint8Array, flush: boolean): Promise<void> {
    const { res, signal } = exchange;
    signal.throwIfAborted();
    if (flush) {
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        res.write(chunk, () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
      signal.throwIfAborted();
    } else if (!res.write(chunk)) {
      await once(res, 'drain', { signal });
    }
  }

  private drop(exchange: Exchange): void {
    exchange.droppedByServer = true;
    exchange.res.destroy();
  }

  // ---- InvokeModel (embeddings) ----

  private invoke(exchange: Exchange, model: ModelInfo, body: unknown): void {
    if (!model.embedding) {
      return this.sendError(
        exchange,
        serviceError(
          'ValidationException',
          'The simulator answers InvokeModel for Titan and Cohere embedding models only.',
        ),
      );
    }
    const result =
      model.embedding === 'cohere' ? cohereEmbedding(body, exchange.requestId) : titanEmbedding(model, body);
    if ('error' in result) return this.sendError(exchange, result.error);
    this.counts.invoke++;
    const text = JSON.stringify(result.body);
    exchange.res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-RequestId': exchange.requestId,
      'X-Amzn-Bedrock-Invocation-Latency': String(this.latencyMs),
      'X-Amzn-Bedrock-Input-Token-Count': String(result.inputTokens),
    });
    exchange.res.end(text);
  }

  // ---- credential endpoints ----

  private handleContainerCredentials(req: IncomingMessage, res: ServerResponse, path: string): void {
    this.counts.containerCredentialCalls++;
    const record: RecordedCredentialRequest = {
      kind: 'container',
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      status: 200,
    };
    this.credentialRequests.push(record);
    const fault = this.takeCredentialFault();
    if (fault) {
      record.status = fault.status ?? 500;
      return writeJson(
        res,
        record.status,
        fault.body ?? { Code: 'InternalError', Message: fault.message ?? 'Failure' },
      );
    }
    if (
      this.containerAuthorizationToken !== undefined &&
      req.headers.authorization !== this.containerAuthorizationToken
    ) {
      record.status = 401;
      return writeJson(res, 401, { Code: 'AccessDenied', Message: 'Invalid or missing authorization token.' });
    }
    const issued = this.issue('C', this.containerCredentialsLifetimeMs);
    record.issuedAccessKeyId = issued.accessKeyId;
    writeJson(res, 200, {
      RoleArn: 'arn:aws:iam::123456789012:role/bedrock-simulator-task-role',
      AccessKeyId: issued.accessKeyId,
      SecretAccessKey: issued.secretAccessKey,
      Token: issued.sessionToken,
      Expiration: isoSeconds(issued.expiresAt!),
    });
  }

  private async handleSts(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.counts.stsCalls++;
    const params = Object.fromEntries(new URLSearchParams((await readRaw(req)).toString('utf8')));
    const record: RecordedCredentialRequest = {
      kind: 'sts',
      method: 'POST',
      path: '/',
      headers: req.headers,
      params,
      status: 200,
    };
    this.credentialRequests.push(record);
    const requestId = uuidFrom(`sts:${this.counts.stsCalls}`);
    const stsError = (status: number, code: string, message: string) => {
      record.status = status;
      const xml =
        `<ErrorResponse xmlns="${STS_NAMESPACE}">\n  <Error>\n    <Type>Sender</Type>\n    <Code>${code}</Code>\n` +
        `    <Message>${escapeXml(message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
      res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-RequestId': requestId });
      res.end(xml);
    };
    const fault = this.takeCredentialFault();
    if (fault) return stsError(fault.status ?? 500, fault.errorType ?? 'InternalFailure', fault.message ?? 'Failure');
    if (params.Action !== 'AssumeRoleWithWebIdentity') {
      return stsError(
        400,
        'InvalidAction',
        `Could not find operation ${params.Action ?? ''} for version ${params.Version ?? ''}`,
      );
    }
    for (const [name, field] of [
      ['RoleArn', 'roleArn'],
      ['RoleSessionName', 'roleSessionName'],
      ['WebIdentityToken', 'webIdentityToken'],
    ]) {
      if (!params[name]) {
        return stsError(
          400,
          'ValidationError',
          `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
        );
      }
    }
    if (this.webIdentityTokens && !this.webIdentityTokens.has(params.WebIdentityToken)) {
      return stsError(400, 'InvalidIdentityToken', 'The web identity token is not valid.');
    }
    const duration = Number(params.DurationSeconds ?? 3600);
    const issued = this.issue('S', this.stsCredentialsLifetimeMs ?? duration * 1000);
    record.issuedAccessKeyId = issued.accessKeyId;
    const role = params.RoleArn.split('/').at(-1) ?? 'role';
    const xml = `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NAMESPACE}">
  <AssumeRoleWithWebIdentityResult>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROASIMULATOR00000001:${escapeXml(params.RoleSessionName)}</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/${escapeXml(role)}/${escapeXml(params.RoleSessionName)}</Arn>
    </AssumedRoleUser>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.simulator.local</Provider>
    <Credentials>
      <AccessKeyId>${issued.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${issued.secretAccessKey}</SecretAccessKey>
      <SessionToken>${issued.sessionToken}</SessionToken>
      <Expiration>${isoSeconds(issued.expiresAt!)}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:gateway</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${requestId}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
    res.writeHead(200, {
      'content-type': 'text/xml',
      'content-length': Buffer.byteLength(xml),
      'x-amzn-RequestId': requestId,
    });
    res.end(xml);
  }

  /** Faults for the credential endpoints are those queued with `operations: []` (no Bedrock operation). */
  private takeCredentialFault(): BedrockSimulatorFault | undefined {
    const index = this.faults.findIndex(({ fault }) => fault.operations?.length === 0);
    if (index < 0) return undefined;
    const queued = this.faults[index];
    queued.remaining--;
    if (queued.remaining <= 0) this.faults.splice(index, 1);
    return queued.fault;
  }

  /** Issues temporary credentials, valid for `lifetimeMs` on the simulator's clock. */
  private issue(kind: 'C' | 'S', lifetimeMs: number): BedrockCredentials {
    const n = ++this.issuedCounter;
    const digest = (label: string) => createHash('sha256').update(`${label}:${kind}:${n}`).digest('base64');
    const credentials: BedrockCredentials = {
      accessKeyId: `ASIASIM${kind}${String(n).padStart(12, '0')}`,
      secretAccessKey: digest('secret').slice(0, 40),
      sessionToken: `IQoJb3JpZ2luX2VjE${digest('token')}${digest('token2')}`,
      expiresAt: this.now() + lifetimeMs,
    };
    this.addCredentials(credentials);
    return credentials;
  }

  // ---- control and plumbing ----

  private async handleControl(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__sim/stats') return writeJson(res, 200, this.stats());
    if (route === 'POST /__sim/reset') {
      this.reset();
      return writeJson(res, 200, { reset: true });
    }
    if (route === 'POST /__sim/faults') {
      const body = parseJson((await readRaw(req)).toString('utf8'));
      const faults = isArray(body.value) ? body.value : [body.value];
      if (!body.valid || !faults.every(isObject)) {
        return writeJson(res, 400, { message: 'Expected a fault object or an array of them.' });
      }
      for (const fault of faults) this.enqueueFault(fault);
      return writeJson(res, 200, { queued: this.faults.length });
    }
    writeJson(res, 404, { message: `Unknown control route ${route}` });
  }

  private sendError(exchange: Exchange, error: ErrorAnswer): void {
    this.counts.errors++;
    exchange.record.status = error.status;
    exchange.record.errorType = error.type;
    const text = JSON.stringify(error.body);
    exchange.res.writeHead(error.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-RequestId': exchange.requestId,
      'x-amzn-ErrorType': `${error.type}:${error.namespace}`,
      ...exchange.fault?.headers,
    });
    exchange.res.end(text);
  }

  private sendJson(exchange: Exchange, status: number, body: unknown): void {
    exchange.record.status = status;
    const text = JSON.stringify(body);
    const headers: OutgoingHttpHeaders = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-RequestId': exchange.requestId,
      ...exchange.fault?.headers,
    };
    exchange.res.writeHead(status, headers);
    exchange.res.end(text);
  }
}

/** One event frame exactly as Bedrock frames it: `:event-type`, `:content-type`, `:message-type` headers. */
export function encodeEventFrame(codec: EventStreamCodec, eventType: string, payloadJson: string): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: fromUtf8(payloadJson),
  });
}

function emptyCounts(): BedrockSimulatorStats {
  return {
    received: 0,
    hungUp: 0,
    inFlight: 0,
    converse: 0,
    converseStream: 0,
    invoke: 0,
    errors: 0,
    authFailures: 0,
    containerCredentialCalls: 0,
    stsCalls: 0,
  };
}

// ---- errors ----

function serviceError(type: string, message: string, fromModel = false): ErrorAnswer {
  return {
    status: ERRORS[type]?.status ?? 400,
    type,
    body: { message },
    namespace: BEDROCK_ERROR_NAMESPACE,
    fromModel,
  };
}

function validation(message: string): ErrorAnswer {
  return serviceError('ValidationException', message);
}

/** An error raised by the model behind Converse, which Bedrock relays with this prefix. */
function modelValidation(message: string): ErrorAnswer {
  return serviceError('ValidationException', `${MODEL_ERRORS_PREFIX}${message}`, true);
}

function serializationError(message: string): ErrorAnswer {
  return { status: 400, type: 'SerializationException', body: { Message: message }, namespace: CORAL_ERROR_NAMESPACE };
}

/** A constraint failure as the service framework words it; list indexes are 1-based there. */
function constraintError(value: unknown, at: string, constraint: string): ErrorAnswer {
  return validation(
    `1 validation error detected: Value '${textOf(value)}' at '${at}' failed to satisfy constraint: ${constraint}`,
  );
}

function faultError(fault: BedrockSimulatorFault): ErrorAnswer {
  const type =
    fault.errorType ??
    TYPE_BY_STATUS[fault.status!] ??
    (fault.status! >= 500 ? 'InternalServerException' : 'ValidationException');
  const status = fault.status ?? ERRORS[type]?.status ?? 400;
  const body = fault.body ?? { message: fault.message ?? ERRORS[type]?.message ?? 'The request failed.' };
  return { status, type, body, namespace: BEDROCK_ERROR_NAMESPACE };
}

// ---- request validation ----

function requestProblem(model: ModelInfo, request: Json): ErrorAnswer | undefined {
  const inference = request.inferenceConfig;
  if (inference !== undefined) {
    if (!isObject(inference)) return serializationError('Start of structure or map found where not expected.');
    const { maxTokens, temperature, topP, stopSequences } = inference;
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || (maxTokens as number) < 1)) {
      return constraintError(
        maxTokens,
        'inferenceConfig.maxTokens',
        'Member must have value greater than or equal to 1',
      );
    }
    for (const [name, value] of [
      ['temperature', temperature],
      ['topP', topP],
    ] as const) {
      if (value === undefined) continue;
      if (typeof value !== 'number') return serializationError(`NUMBER_VALUE can not be converted to a Float: ${name}`);
      if (value < 0) {
        return constraintError(value, `inferenceConfig.${name}`, 'Member must have value greater than or equal to 0');
      }
      if (value > 1) {
        return constraintError(value, `inferenceConfig.${name}`, 'Member must have value less than or equal to 1');
      }
    }
    if (stopSequences !== undefined) {
      if (!isArray(stopSequences) || stopSequences.some((s) => typeof s !== 'string' || s === '')) {
        return constraintError(
          stopSequences,
          'inferenceConfig.stopSequences',
          'Member must satisfy constraint: [Member must have length greater than or equal to 1]',
        );
      }
      if (stopSequences.length > 4) {
        return constraintError(
          stopSequences,
          'inferenceConfig.stopSequences',
          'Member must have length less than or equal to 4',
        );
      }
    }
  }

  const paths = request.additionalModelResponseFieldPaths;
  if (paths !== undefined) {
    if (!isArray(paths) || paths.length > 10) {
      return constraintError(
        paths,
        'additionalModelResponseFieldPaths',
        'Member must have length less than or equal to 10',
      );
    }
    const bad = paths.find((path) => typeof path !== 'string' || !/^\/.+/.test(path) || path.length > 256);
    if (bad !== undefined) return validation(`The provided JSON Pointer is not valid: ${textOf(bad)}`);
  }

  const system = request.system;
  if (system !== undefined) {
    if (!isArray(system)) return serializationError('Start of list found where not expected.');
    for (const [i, block] of system.entries()) {
      if (!isObject(block)) return serializationError('Start of structure or map found where not expected.');
      if ('text' in block && (typeof block.text !== 'string' || block.text === '')) {
        return constraintError(
          block.text,
          `system.${i + 1}.member.text`,
          'Member must have length greater than or equal to 1',
        );
      }
      if (!('text' in block || 'guardContent' in block || 'cachePoint' in block)) {
        return validation(
          `The SystemContentBlock object at system.${i} must set one of the following keys: text, guardContent, cachePoint.`,
        );
      }
      const problem = cachePointProblem(block, `system.${i}`);
      if (problem) return problem;
    }
  }

  const toolProblem = toolConfigProblem(request.toolConfig);
  if (toolProblem) return toolProblem;

  const messages = request.messages;
  if (messages === undefined || (isArray(messages) && messages.length === 0)) {
    return validation(
      'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
    );
  }
  if (!isArray(messages)) return serializationError('Start of list found where not expected.');
  let usesTools = false;
  for (const [i, message] of messages.entries()) {
    if (!isObject(message)) return serializationError('Start of structure or map found where not expected.');
    if (message.role !== 'user' && message.role !== 'assistant') {
      return constraintError(
        message.role,
        `messages.${i + 1}.member.role`,
        'Member must satisfy enum value set: [user, assistant]',
      );
    }
    if (i === 0 && message.role !== 'user') {
      return validation(
        'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
      );
    }
    if (i > 0 && (messages[i - 1] as Json).role === message.role) {
      return validation(
        'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.',
      );
    }
    if (!isArray(message.content)) {
      return message.content === undefined
        ? constraintError(null, `messages.${i + 1}.member.content`, 'Member must not be null')
        : serializationError('Start of list found where not expected.');
    }
    if (message.content.length === 0) {
      return validation(
        `The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`,
      );
    }
    for (const [j, block] of message.content.entries()) {
      const problem = blockProblem(block, message.role, `messages.${i}.content.${j}`);
      if (problem) return problem;
      if (isObject(block) && ('toolUse' in block || 'toolResult' in block)) usesTools = true;
    }
    const hasDocument = message.content.some((block) => isObject(block) && 'document' in block);
    const hasText = message.content.some((block) => isObject(block) && 'text' in block);
    if (hasDocument && !hasText) {
      return validation(
        `A document was provided at messages.${i} without a text block. Add a text block to the message content and try again.`,
      );
    }
    if (model.vendor === 'meta' && message.content.some((block) => isObject(block) && 'toolResult' in block)) {
      if (message.content.some((block) => isObject(block) && !('toolResult' in block) && !('cachePoint' in block))) {
        return validation(
          `messages.${i}.content: Conversation blocks and tool result blocks cannot be provided in the same turn.`,
        );
      }
    }
  }
  if (usesTools && request.toolConfig === undefined) {
    return validation('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
  }
  return toolPairingProblem(messages as Json[]);
}

function cachePointProblem(block: Json, at: string): ErrorAnswer | undefined {
  if (!('cachePoint' in block)) return undefined;
  const point = block.cachePoint;
  if (!isObject(point) || point.type !== 'default') {
    return constraintError(
      isObject(point) ? point.type : point,
      `${at}.cachePoint.type`,
      'Member must satisfy enum value set: [default]',
    );
  }
  return undefined;
}

function toolConfigProblem(toolConfig: unknown): ErrorAnswer | undefined {
  if (toolConfig === undefined) return undefined;
  if (!isObject(toolConfig)) return serializationError('Start of structure or map found where not expected.');
  const tools = toolConfig.tools;
  if (!isArray(tools)) return constraintError(null, 'toolConfig.tools', 'Member must not be null');
  if (tools.length === 0) {
    return constraintError(tools, 'toolConfig.tools', 'Member must have length greater than or equal to 1');
  }
  const names = new Set<string>();
  for (const [i, tool] of tools.entries()) {
    if (!isObject(tool)) return serializationError('Start of structure or map found where not expected.');
    if ('cachePoint' in tool) {
      const problem = cachePointProblem(tool, `toolConfig.tools.${i}`);
      if (problem) return problem;
      continue;
    }
    const spec = tool.toolSpec;
    if (!isObject(spec)) {
      return validation(
        `The Tool object at toolConfig.tools.${i} must set one of the following keys: toolSpec, cachePoint.`,
      );
    }
    if (typeof spec.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(spec.name)) {
      return constraintError(
        spec.name,
        `toolConfig.tools.${i + 1}.member.toolSpec.name`,
        'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+',
      );
    }
    if (!isObject(spec.inputSchema) || !isObject(spec.inputSchema.json)) {
      return constraintError(null, `toolConfig.tools.${i + 1}.member.toolSpec.inputSchema`, 'Member must not be null');
    }
    if (names.has(spec.name)) return modelValidation('tools: Tool names must be unique.');
    names.add(spec.name);
  }
  const choice = toolConfig.toolChoice;
  if (choice !== undefined) {
    if (
      !isObject(choice) ||
      Object.keys(choice).length !== 1 ||
      !['auto', 'any', 'tool'].includes(Object.keys(choice)[0])
    ) {
      return validation(
        'The ToolChoice object at toolConfig.toolChoice must set one of the following keys: auto, any, tool.',
      );
    }
    if (isObject(choice.tool) && !names.has(choice.tool.name as string)) {
      return modelValidation(`tool_choice.name: Tool '${String(choice.tool.name)}' not found in provided tools`);
    }
  }
  return undefined;
}

function blockProblem(block: unknown, role: unknown, at: string): ErrorAnswer | undefined {
  if (!isObject(block)) return serializationError('Start of structure or map found where not expected.');
  const keys = Object.keys(block).filter((key) => CONTENT_BLOCK_KEYS.includes(key));
  if (keys.length !== 1) {
    return validation(
      `The ContentBlock object at ${at} must set one of the following keys: text, image, toolUse, toolResult, document, video.`,
    );
  }
  const key = keys[0];
  switch (key) {
    case 'text':
      if (typeof block.text !== 'string') return serializationError('Unexpected token, expected a string: text');
      return block.text.trim() === ''
        ? validation(
            `The text field in the ContentBlock object at ${at} is blank. Add text to the text field, and try again.`,
          )
        : undefined;
    case 'image':
    case 'document':
    case 'video': {
      if (role !== 'user') return validation(`The ${key} content block at ${at} is only supported in user messages.`);
      const media = block[key];
      if (!isObject(media)) return serializationError('Start of structure or map found where not expected.');
      const formats = key === 'image' ? IMAGE_FORMATS : key === 'document' ? DOCUMENT_FORMATS : undefined;
      if (formats && !formats.has(media.format as string)) {
        return constraintError(
          media.format,
          `${at}.${key}.format`,
          `Member must satisfy enum value set: [${[...formats].join(', ')}]`,
        );
      }
      if (
        key === 'document' &&
        (typeof media.name !== 'string' || !/^[A-Za-z0-9\-()[\]]+( [A-Za-z0-9\-()[\]]+)*$/.test(media.name))
      ) {
        return validation(
          "The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.",
        );
      }
      const source = media.source;
      const sourceKeys = isObject(source) ? Object.keys(source) : [];
      if (sourceKeys.length !== 1) {
        return validation(`The source field at ${at}.${key} must set exactly one of its keys.`);
      }
      if (sourceKeys[0] === 'bytes' && (typeof (source as Json).bytes !== 'string' || (source as Json).bytes === '')) {
        return serializationError(`Base64 encoded bytes expected at ${at}.${key}.source.bytes`);
      }
      return undefined;
    }
    case 'toolUse': {
      if (role !== 'assistant') {
        return validation(`The toolUse content block at ${at} is only supported in assistant messages.`);
      }
      const use = block.toolUse;
      if (!isObject(use) || typeof use.toolUseId !== 'string' || typeof use.name !== 'string' || !('input' in use)) {
        return constraintError(null, `${at}.toolUse`, 'Member must have toolUseId, name and input');
      }
      return undefined;
    }
    case 'toolResult': {
      if (role !== 'user') {
        return validation(`The toolResult content block at ${at} is only supported in user messages.`);
      }
      const result = block.toolResult;
      if (!isObject(result) || typeof result.toolUseId !== 'string') {
        return constraintError(null, `${at}.toolResult.toolUseId`, 'Member must not be null');
      }
      if (!isArray(result.content)) {
        return constraintError(null, `${at}.toolResult.content`, 'Member must not be null');
      }
      if (result.status !== undefined && result.status !== 'success' && result.status !== 'error') {
        return constraintError(
          result.status,
          `${at}.toolResult.status`,
          'Member must satisfy enum value set: [success, error]',
        );
      }
      if (result.status === 'error' && result.content.length === 0) {
        return validation(`The content field at ${at}.toolResult cannot be empty when status value is error.`);
      }
      return undefined;
    }
    case 'reasoningContent': {
      const reasoning = block.reasoningContent;
      if (role !== 'assistant') {
        return validation(`The reasoningContent content block at ${at} is only supported in assistant messages.`);
      }
      const reasoningKeys = isObject(reasoning) ? Object.keys(reasoning) : [];
      if (reasoningKeys.length !== 1 || !['reasoningText', 'redactedContent'].includes(reasoningKeys[0])) {
        return validation(
          `The ReasoningContentBlock object at ${at}.reasoningContent must set one of the following keys: reasoningText, redactedContent.`,
        );
      }
      const reasoningText = (reasoning as Json).reasoningText;
      if (
        reasoningKeys[0] === 'reasoningText' &&
        (!isObject(reasoningText) || typeof reasoningText.text !== 'string')
      ) {
        return constraintError(null, `${at}.reasoningContent.reasoningText.text`, 'Member must not be null');
      }
      return undefined;
    }
    case 'cachePoint':
      return cachePointProblem(block, at);
    default:
      return undefined;
  }
}

/** Bedrock's own pairing rules: every toolUse answered in the next turn, no more results than uses. */
function toolPairingProblem(messages: Json[]): ErrorAnswer | undefined {
  for (let i = 0; i < messages.length; i++) {
    const blocks = messages[i].content as Json[];
    if (messages[i].role === 'assistant') continue;
    const previous = i > 0 ? (messages[i - 1].content as Json[]) : [];
    const uses = previous
      .filter((block) => isObject(block.toolUse))
      .map((block) => (block.toolUse as Json).toolUseId as string);
    const results = blocks
      .filter((block) => isObject(block.toolResult))
      .map((block) => (block.toolResult as Json).toolUseId as string);
    if (results.length > uses.length) {
      return validation(
        `The number of toolResult blocks at messages.${i}.content exceeds the number of toolUse blocks of previous turn.`,
      );
    }
    const unanswered = uses.filter((id) => !results.includes(id));
    if (unanswered.length > 0) {
      return validation(
        `Expected toolResult blocks at messages.${i}.content for the following Ids: ${unanswered.join(', ')}`,
      );
    }
  }
  return undefined;
}

/** What Claude itself rejects: thinking settings and reasoning blocks that were dropped or changed. */
function claudeProblem(model: ModelInfo, request: Json): ErrorAnswer | undefined {
  const fields = request.additionalModelRequestFields;
  if (fields !== undefined && !isObject(fields)) {
    return serializationError('Start of structure or map found where not expected.');
  }
  if (fields?.top_k !== undefined && (!Number.isInteger(fields.top_k) || (fields.top_k as number) < 0)) {
    return modelValidation('top_k: Input should be a valid integer');
  }
  const thinking = thinkingOf(request);
  if (fields?.thinking !== undefined) {
    if (!model.thinking) return modelValidation('thinking: Extra inputs are not permitted');
    if (!thinking.valid) {
      return modelValidation(
        "thinking: Input tag does not match any of the expected tags: 'disabled', 'enabled', 'adaptive'",
      );
    }
  }
  const inference = isObject(request.inferenceConfig) ? request.inferenceConfig : {};
  const messages = request.messages as Json[];
  if (thinking.enabled) {
    if (thinking.budgetRequired && thinking.budget === undefined) {
      return modelValidation('thinking.enabled.budget_tokens: Field required');
    }
    if (thinking.budget !== undefined) {
      if (!Number.isInteger(thinking.budget) || thinking.budget < MIN_THINKING_BUDGET) {
        return modelValidation(
          `thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`,
        );
      }
      const maxTokens = (inference.maxTokens as number | undefined) ?? DEFAULT_MAX_TOKENS;
      if (maxTokens <= thinking.budget) {
        return modelValidation(
          `\`max_tokens\` must be greater than \`thinking.budget_tokens\`. Please consult our documentation at ${EXTENDED_THINKING_DOCS}#max-tokens-and-context-window-size`,
        );
      }
    }
    if (inference.temperature !== undefined && inference.temperature !== 1) {
      return modelValidation(
        `\`temperature\` may only be set to 1 when thinking is enabled. Please consult our documentation at ${EXTENDED_THINKING_DOCS}#feature-compatibility`,
      );
    }
    if (fields?.top_k !== undefined) {
      return modelValidation(
        `\`top_k\` must be unset when thinking is enabled. Please consult our documentation at ${EXTENDED_THINKING_DOCS}#feature-compatibility`,
      );
    }
    const choice = isObject(request.toolConfig) ? request.toolConfig.toolChoice : undefined;
    if (isObject(choice) && ('any' in choice || 'tool' in choice)) {
      return modelValidation('Thinking may not be enabled when tool_choice forces tool use.');
    }
    const last = messages.at(-1)!;
    const usedTools = last.role === 'user' && (last.content as Json[]).some((block) => isObject(block.toolResult));
    if (usedTools && messages.length >= 2) {
      const index = messages.length - 2;
      const first = (messages[index].content as Json[]).find((block) => !isObject(block.cachePoint));
      if (first && !isObject(first.reasoningContent)) {
        return modelValidation(
          `messages.${index}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${anthropicType(first)}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at ${EXTENDED_THINKING_DOCS}`,
        );
      }
    }
  }
  const lastAssistant = messages.findLastIndex((message) => message.role === 'assistant');
  for (const [i, message] of messages.entries()) {
    if (message.role !== 'assistant') continue;
    for (const [j, block] of (message.content as Json[]).entries()) {
      if (!isObject(block.reasoningContent)) continue;
      const reasoning = block.reasoningContent;
      if (isObject(reasoning.reasoningText)) {
        const { text, signature } = reasoning.reasoningText;
        if (typeof signature !== 'string' || signature === '') {
          return modelValidation(`messages.${i}.content.${j}.thinking.signature: Field required`);
        }
        if (signature !== signThinking(text as string)) {
          return modelValidation(`messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
        }
      } else if (!validRedactedData(reasoning.redactedContent)) {
        return modelValidation(
          i === lastAssistant
            ? `messages.${i}.content.${j}: \`thinking\` or \`redacted_thinking\` blocks in the latest assistant message cannot be modified. These blocks must remain as they were in the original response.`
            : `messages.${i}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`,
        );
      }
    }
  }
  return undefined;
}

function thinkingOf(request: Json): { enabled: boolean; valid: boolean; budgetRequired?: boolean; budget?: number } {
  const fields = isObject(request.additionalModelRequestFields) ? request.additionalModelRequestFields : undefined;
  const thinking = fields?.thinking;
  if (thinking === undefined) return { enabled: false, valid: true };
  if (!isObject(thinking)) return { enabled: false, valid: false };
  if (thinking.type === 'disabled') return { enabled: false, valid: true };
  if (thinking.type === 'adaptive') return { enabled: true, valid: true };
  if (thinking.type === 'enabled') {
    return { enabled: true, valid: true, budgetRequired: true, budget: thinking.budget_tokens as number | undefined };
  }
  return { enabled: false, valid: false };
}

function anthropicType(block: Json): string {
  const key = Object.keys(block).find((name) => CONTENT_BLOCK_KEYS.includes(name)) ?? 'text';
  return { toolUse: 'tool_use', toolResult: 'tool_result', reasoningContent: 'thinking' }[key] ?? key;
}

// ---- answers ----

function directivesOf(text: string): Directives {
  const directives: Directives = { redactedThinking: false, guardrail: false, contentFiltered: false };
  for (const line of text.split('\n').map((l) => l.trim())) {
    const tool = /^SIM_TOOL\s+(\S+)\s+(\{.*\})$/.exec(line);
    if (tool && !directives.tool) {
      const input = parseJson(tool[2]);
      if (input.valid && isObject(input.value)) directives.tool = { name: tool[1], input: input.value };
    }
    const answer = /^SIM_TEXT (.*)$/.exec(line);
    if (answer && directives.text === undefined) directives.text = answer[1];
    if (line === 'SIM_REDACTED_THINKING') directives.redactedThinking = true;
    if (line === 'SIM_GUARDRAIL') directives.guardrail = true;
    if (line === 'SIM_CONTENT_FILTERED') directives.contentFiltered = true;
  }
  return directives;
}

function toolResultText(result: Json): string {
  return (result.content as Json[])
    .flatMap((part) => {
      if (typeof part.text === 'string') return [part.text];
      if ('json' in part) return [JSON.stringify(part.json)];
      return [];
    })
    .join(' ');
}

/** A signature that only the simulator can produce for exactly this reasoning text. */
function signThinking(text: string): string {
  const parts = [0, 1, 2, 3].map((i) => createHmac('sha256', THINKING_KEY).update(`${i}:thinking:${text}`).digest());
  return Buffer.concat(parts).toString('base64');
}

/** Opaque redacted reasoning: a prefix, a nonce and a MAC of the nonce, base64 as blobs travel in JSON. */
function redactedData(seed: string): string {
  const nonce = createHash('sha256').update(seed).digest().subarray(0, 16);
  const mac = createHmac('sha256', THINKING_KEY).update(nonce).digest();
  return Buffer.concat([REDACTED_PREFIX, nonce, mac]).toString('base64');
}

function validRedactedData(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const bytes = Buffer.from(value, 'base64');
  if (
    bytes.length !== REDACTED_PREFIX.length + 48 ||
    !bytes.subarray(0, REDACTED_PREFIX.length).equals(REDACTED_PREFIX)
  ) {
    return false;
  }
  const nonce = bytes.subarray(REDACTED_PREFIX.length, REDACTED_PREFIX.length + 16);
  return createHmac('sha256', THINKING_KEY)
    .update(nonce)
    .digest()
    .equals(bytes.subarray(REDACTED_PREFIX.length + 16));
}

function outputTokensOf(block: OutputBlock): number {
  switch (block.kind) {
    case 'reasoning':
      return countWords(block.text);
    case 'redacted':
      return TOKENS_PER_MESSAGE;
    case 'text':
      return countWords(block.text);
    case 'toolUse':
      return countWords(JSON.stringify(block.input)) + TOKENS_PER_MESSAGE;
  }
}

/** The block as Converse returns it, keys in the order AWS serialises them. */
function converseBlock(block: OutputBlock): Json {
  switch (block.kind) {
    case 'reasoning':
      return { reasoningContent: { reasoningText: { signature: block.signature, text: block.text } } };
    case 'redacted':
      return { reasoningContent: { redactedContent: block.data } };
    case 'text':
      return { text: block.text };
    case 'toolUse':
      return { toolUse: { input: block.input, name: block.name, toolUseId: block.toolUseId } };
  }
}

/** The model's own response body, which additionalModelResponseFieldPaths point into. */
function nativeResponse(model: ModelInfo, id: number, answer: ConverseAnswer): Json {
  const stopReason =
    answer.stopReason === 'guardrail_intervened' || answer.stopReason === 'content_filtered'
      ? 'refusal'
      : answer.stopReason;
  return {
    id: `msg_bdrk_${createHash('sha256').update(`msg:${id}`).digest('base64url').slice(0, 24)}`,
    type: 'message',
    role: 'assistant',
    model: model.base.replace(/^[a-z0-9-]+\./, '').replace(/-v\d+(:\d+)?$/, ''),
    stop_reason: stopReason,
    stop_sequence: answer.stopSequence,
    usage: { input_tokens: answer.usage.inputTokens, output_tokens: answer.usage.outputTokens },
  };
}

/** Copies each JSON Pointer's value into an object of the same shape; pointers to nothing are ignored. */
function pickPointers(source: Json, pointers: string[]): Json {
  const result: Json = {};
  for (const pointer of pointers) {
    const tokens = pointer
      .slice(1)
      .split('/')
      .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
    let value: unknown = source;
    for (const token of tokens) value = isObject(value) && token in value ? value[token] : undefined;
    if (value === undefined) continue;
    let target = result;
    for (const token of tokens.slice(0, -1)) target = (target[token] ??= {}) as Json;
    target[tokens.at(-1)!] = value;
  }
  return result;
}

// ---- prompt caching ----

/**
 * Walks the prompt in Bedrock's cache order (tools, system, messages); each cachePoint closes a prefix whose hash
 * and token count are recorded.
 */
function cachePlan(model: ModelInfo, request: Json): CachePlan {
  const hash = createHash('sha256').update(`model:${model.base}\n`);
  const boundaries: CacheBoundary[] = [];
  let tokens = 0;
  let hasCachePoint = false;
  const visit = (item: Json, words: number) => {
    if (isObject(item.cachePoint)) {
      hasCachePoint = true;
      if (model.caching) boundaries.push({ hash: hash.copy().digest('hex'), tokens });
      return;
    }
    hash.update(`${canonicalJson(item)}\n`);
    tokens += words;
  };
  const toolConfig = isObject(request.toolConfig) ? request.toolConfig : undefined;
  for (const tool of (toolConfig?.tools as Json[] | undefined) ?? [])
    visit(tool, countWords(JSON.stringify(tool.toolSpec ?? '')));
  for (const block of (request.system as Json[] | undefined) ?? []) {
    visit(block, countWords(typeof block.text === 'string' ? block.text : ''));
  }
  for (const message of request.messages as Json[]) {
    hash.update(`role:${String(message.role)}\n`);
    tokens += TOKENS_PER_MESSAGE;
    for (const block of message.content as Json[]) visit(block, countWords(inputBlockText(block)));
  }
  return { boundaries, totalTokens: tokens, hasCachePoint };
}

function inputBlockText(block: Json): string {
  if (typeof block.text === 'string') return block.text;
  if (isObject(block.toolResult)) return toolResultText(block.toolResult);
  if (isObject(block.toolUse)) return JSON.stringify(block.toolUse.input);
  if (isObject(block.reasoningContent) && isObject(block.reasoningContent.reasoningText)) {
    return String(block.reasoningContent.reasoningText.text);
  }
  return '';
}

// ---- embeddings ----

type EmbeddingResult = { body: Json; inputTokens: number } | { error: ErrorAnswer };

function malformed(problem: string): { error: ErrorAnswer } {
  return { error: validation(`Malformed input request: ${problem}, please reformat your input and try again.`) };
}

function titanEmbedding(model: ModelInfo, body: unknown): EmbeddingResult {
  if (!isObject(body)) return malformed('#: expected type: JSONObject, found: Null');
  const allowed =
    model.embedding === 'titan-v2' ? ['inputText', 'dimensions', 'normalize', 'embeddingTypes'] : ['inputText'];
  const extraneous = Object.keys(body).find((key) => !allowed.includes(key));
  if (extraneous) return malformed(`#: extraneous key [${extraneous}] is not permitted`);
  if (body.inputText === undefined) return malformed('#: required key [inputText] not found');
  if (typeof body.inputText !== 'string') {
    return malformed(`#/inputText: expected type: String, found: ${jsonType(body.inputText)}`);
  }
  if (body.inputText === '') return malformed('#/inputText: expected minLength: 1, actual: 0');
  const inputTokens = countWords(body.inputText);
  if (model.embedding === 'titan-v1') {
    return {
      body: { embedding: embeddingVector(body.inputText, TITAN_V1_DIMENSIONS, true), inputTextTokenCount: inputTokens },
      inputTokens,
    };
  }
  const dimensions = body.dimensions ?? 1024;
  if (!TITAN_V2_DIMENSIONS.has(dimensions as number)) {
    return malformed(`#/dimensions: ${textOf(dimensions)} is not a valid enum value`);
  }
  if (body.normalize !== undefined && typeof body.normalize !== 'boolean') {
    return malformed(`#/normalize: expected type: Boolean, found: ${jsonType(body.normalize)}`);
  }
  const types = (body.embeddingTypes as unknown[] | undefined) ?? ['float'];
  const badType = isArray(types) ? types.find((type) => type !== 'float' && type !== 'binary') : types;
  if (badType !== undefined) {
    return malformed(`#/embeddingTypes/0: ${textOf(badType)} is not a valid enum value`);
  }
  const vector = embeddingVector(body.inputText, dimensions as number, body.normalize !== false);
  const byType: Json = {};
  if (types.includes('binary')) byType.binary = vector.map((value) => (value > 0 ? 1 : 0));
  if (types.includes('float')) byType.float = vector;
  return { body: { embedding: vector, inputTextTokenCount: inputTokens, embeddingsByType: byType }, inputTokens };
}

function cohereEmbedding(body: unknown, requestId: string): EmbeddingResult {
  if (!isObject(body)) return malformed('#: expected type: JSONObject, found: Null');
  const allowed = ['texts', 'images', 'input_type', 'truncate', 'embedding_types'];
  const extraneous = Object.keys(body).find((key) => !allowed.includes(key));
  if (extraneous) return malformed(`#: extraneous key [${extraneous}] is not permitted`);
  const inputType = body.input_type;
  if (inputType === undefined) return malformed('#: required key [input_type] not found');
  if (typeof inputType !== 'string' || !COHERE_INPUT_TYPES.has(inputType)) {
    return malformed(`#/input_type: ${textOf(inputType)} is not a valid enum value`);
  }
  if (body.texts === undefined) return malformed('#: required key [texts] not found');
  const texts = body.texts;
  if (!isArray(texts) || texts.some((text) => typeof text !== 'string')) {
    return malformed('#/texts: expected type: JSONArray of String');
  }
  if (texts.length > 96) return malformed(`#/texts: expected maximum item count: 96, found: ${texts.length}`);
  const long = texts.findIndex((text) => (text as string).length > 2048);
  if (long >= 0) {
    return malformed(`#/texts/${long}: expected maxLength: 2048, actual: ${(texts[long] as string).length}`);
  }
  if (body.truncate !== undefined && !['NONE', 'START', 'END'].includes(body.truncate as string)) {
    return malformed(`#/truncate: ${textOf(body.truncate)} is not a valid enum value`);
  }
  const types = body.embedding_types;
  if (types !== undefined && (!isArray(types) || types.some((type) => !COHERE_EMBEDDING_TYPES.has(type as string)))) {
    return malformed('#/embedding_types: expected items from [float, int8, uint8, binary, ubinary]');
  }
  const vectors = (texts as string[]).map((text) => embeddingVector(`${inputType}:${text}`, COHERE_DIMENSIONS, true));
  const inputTokens = (texts as string[]).reduce((sum, text) => sum + countWords(text), 0);
  const id = uuidFrom(`cohere:${requestId}`);
  if (types === undefined) {
    return { body: { embeddings: vectors, id, response_type: 'embeddings_floats', texts }, inputTokens };
  }
  const embeddings: Json = {};
  for (const type of types as string[]) embeddings[type] = vectors.map((vector) => quantize(vector, type));
  return { body: { embeddings, id, response_type: 'embeddings_by_type', texts }, inputTokens };
}

/** A vector from SHA-256 of the text, unit length when `normalize`, rounded to float32 as Bedrock returns floats. */
function embeddingVector(text: string, dimensions: number, normalize: boolean): number[] {
  const raw: number[] = [];
  for (let block = 0; raw.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let offset = 0; offset < digest.length && raw.length < dimensions; offset += 2) {
      raw.push((digest.readUInt16LE(offset) / 0xffff) * 2 - 1);
    }
  }
  const norm = normalize ? Math.hypot(...raw) || 1 : 1;
  return raw.map((value) => Math.fround(value / norm));
}

function quantize(vector: number[], type: string): number[] {
  const scale = Math.max(...vector.map(Math.abs)) || 1;
  switch (type) {
    case 'int8':
      return vector.map((value) => Math.round((value / scale) * 127));
    case 'uint8':
      return vector.map((value) => Math.round((value / scale + 1) * 127.5));
    case 'binary':
    case 'ubinary': {
      const packed: number[] = [];
      for (let i = 0; i < vector.length; i += 8) {
        let byte = 0;
        for (let bit = 0; bit < 8; bit++) byte = (byte << 1) | (vector[i + bit] > 0 ? 1 : 0);
        packed.push(type === 'binary' ? byte - 128 : byte);
      }
      return packed;
    }
    default:
      return vector;
  }
}

// ---- model ids ----

/** Reads a model id, inference-profile id or ARN; undefined when Bedrock would not recognise it. */
function modelInfo(id: string): ModelInfo | undefined {
  let name = id;
  if (name.startsWith('arn:')) {
    const resource =
      /^arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:(foundation-model|inference-profile|provisioned-model|custom-model)\/(.+)$/.exec(
        name,
      );
    if (!resource) return undefined;
    name = resource[2];
  }
  const parts = name.split('.');
  let inferenceProfile = false;
  if (parts.length >= 3 && GEO_PREFIXES.has(parts[0])) {
    inferenceProfile = true;
    parts.shift();
  }
  const base = parts.join('.');
  const vendor = parts[0];
  if (parts.length < 2 || !VENDORS.has(vendor) || !/^[a-z0-9][a-z0-9.:-]*$/.test(base)) return undefined;
  const claude = vendor === 'anthropic';
  const thinking = claude && /claude-(3-7-sonnet|sonnet-4|opus-4|haiku-4)/.test(base);
  const caching =
    thinking ||
    (claude && /claude-3-5-(haiku|sonnet-20241022-v2)/.test(base)) ||
    (vendor === 'amazon' && base.startsWith('amazon.nova'));
  let embedding: ModelInfo['embedding'];
  if (base.startsWith('amazon.titan-embed-text-v2')) embedding = 'titan-v2';
  else if (base.startsWith('amazon.titan-embed-text-v1')) embedding = 'titan-v1';
  else if (/^cohere\.embed-(english|multilingual)-v3/.test(base)) embedding = 'cohere';
  return { id, base, vendor, inferenceProfile, claude, thinking, caching, embedding };
}

// ---- SigV4 helpers ----

function signatureOf(secret: string, date: string, region: string, service: string, stringToSign: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** RFC 3986 escaping as SigV4 wants it: everything but unreserved characters. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The path normalised and escaped once more: non-S3 services sign the already-encoded path encoded again. */
function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return escapeUri(`/${segments.join('/')}${trailing}`).replace(/%2F/g, '/');
}

function canonicalQuery(rawQuery: string): string {
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [escapeUri(safeDecode(key)), escapeUri(safeDecode(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

function canonicalHeaderValue(values: string[] | undefined): string {
  return (values ?? []).map((value) => value.trim().replace(/\s+/g, ' ')).join(',');
}

function parseAmzDate(value: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function formatAmzDate(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

// ---- event stream helpers ----

/** The payload with AWS's `p` padding field, keys in the sorted order AWS serialises them. */
function withPadding(payload: Json, padding: string): Json {
  const keys = [...Object.keys(payload), 'p'].sort();
  return Object.fromEntries(keys.map((key) => [key, key === 'p' ? padding : payload[key]]));
}

/** `pieces` parts of a frame, the first cut inside the 12-byte prelude so decoders must wait for the rest. */
function splitFrame(frame: Uint8Array, pieces: number): Uint8Array[] {
  if (pieces <= 1 || frame.length < pieces + 3) return [frame];
  const cuts = [3];
  for (let i = 1; i < pieces - 1; i++) cuts.push(3 + Math.floor(((frame.length - 3) * i) / (pieces - 1)));
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...new Set(cuts)].filter((c) => c > 0 && c < frame.length)) {
    parts.push(frame.subarray(start, cut));
    start = cut;
  }
  parts.push(frame.subarray(start));
  return parts;
}

// ---- small helpers ----

async function readRaw(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return isArray(value) ? value.join(',') : value;
}

function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function uuidFrom(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function escapeXml(value: string): string {
  return value.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** JSON with object keys sorted, so equal prompts hash equally whatever the client's key order. */
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

function jsonType(value: unknown): string {
  if (value === null) return 'Null';
  if (isArray(value)) return 'JSONArray';
  return (
    { string: 'String', number: 'Integer', boolean: 'Boolean', object: 'JSONObject' }[typeof value as string] ??
    'Unknown'
  );
}

function upperFirst(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
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
  return splitEvery(text, Math.ceil(text.length / MIN_STREAM_PIECES));
}

function splitEvery(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let offset = 0; offset < text.length; offset += size) parts.push(text.slice(offset, offset + size));
  return parts;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The JSON schema of structured output (`outputConfig.textFormat.structure.jsonSchema.schema`, a JSON string):
 * the answer is then the smallest instance of it
 * (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_OutputConfig.html).
 */
function structuredSchemaOf(request: Json): unknown {
  const format = isObject(request.outputConfig) ? request.outputConfig.textFormat : undefined;
  const structure = isObject(format) && format.type === 'json_schema' ? format.structure : undefined;
  const definition = isObject(structure) ? structure.jsonSchema : undefined;
  if (!isObject(definition) || typeof definition.schema !== 'string') return undefined;
  try {
    return JSON.parse(definition.schema) as unknown;
  } catch {
    return undefined;
  }
}
