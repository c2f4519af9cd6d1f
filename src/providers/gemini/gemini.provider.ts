/**
 * `gemini`: Google's Gemini models, translated to and from the gateway's OpenAI form by gemini.mapper.ts, through
 * - the Gemini API (`api: studio`, AI Studio): `{baseUrl}/v1beta/models/{model}:generateContent`, baseUrl
 *   https://generativelanguage.googleapis.com, the key in `x-goog-api-key` (https://ai.google.dev/gemini-api/docs/api-key);
 * - Vertex AI (`api: vertex`): `{baseUrl}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`,
 *   baseUrl https://{location}-aiplatform.googleapis.com or https://aiplatform.googleapis.com for `global`
 *   (https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations), an OAuth token (gemini-auth.ts).
 * Streams use `:streamGenerateContent?alt=sse`; embeddings `:embedContent` and, on the Gemini API, `:batchEmbedContents`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IsArray, IsIn, IsOptional, IsString, IsUrl, Matches, MinLength } from 'class-validator';
import { NestedArray } from '../../config/config-schema.js';
import type { GoogleAuth } from 'google-auth-library';
import { GatewayError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import { credentialHeaders, SSE_ACCEPT, type UpstreamClient } from '../../upstream/upstream-client.js';
import type {
  ChatCompletionProvider,
  EmbeddingProvider,
  ProviderCallContext,
  ProviderFactory,
} from '../llm-provider.js';
import type { Credential, ProviderRuntime } from '../provider-runtime.js';
import { upstreamErrors } from '../provider-errors.js';
import {
  type AccessTokenSource,
  CLOUD_PLATFORM_SCOPE,
  GOOGLE_TOKEN_URL,
  GoogleAuthTokenSource,
  isServiceAccountKey,
  parseServiceAccountKey,
  ServiceAccountTokenSource,
  toGatewayErrorFromTokenEndpoint,
} from './gemini-auth.js';
import {
  createGeminiStreamState,
  embeddingTexts,
  fromGeminiResponse,
  type GeminiRequestSettings,
  readGeminiChunks,
  toEmbedContentRequest,
  toEmbeddingResponse,
  toGatewayErrorFromGoogle,
  toGeminiRequest,
} from './gemini.mapper.js';
import type {
  GeminiBatchEmbedContentsRequest,
  GeminiBatchEmbedContentsResponse,
  GeminiEmbedContentResponse,
  GeminiGenerateContentResponse,
} from './gemini.types.js';

export type GeminiApi = 'studio' | 'vertex';

/** One entry of `options.safetySettings` (https://ai.google.dev/gemini-api/docs/safety-settings). */
export class GeminiSafetySettingOption {
  /** e.g. HARM_CATEGORY_HARASSMENT. */
  @IsString() @Matches(/^HARM_CATEGORY_[A-Z_]+$/) category!: string;
  /** e.g. BLOCK_ONLY_HIGH, BLOCK_NONE, OFF. */
  @IsString() @Matches(/^[A-Z_]+$/) threshold!: string;
}

/** `options` of a `gemini` provider entry. */
export class GeminiOptions {
  /**
   * `studio`: the Gemini API (AI Studio); `vertex`: Vertex AI. Default: vertex when `project` or `location` is set
   * or baseUrl is an aiplatform.googleapis.com host, else studio.
   */
  @IsOptional() @IsIn(['studio', 'vertex']) api?: GeminiApi;

  /** Vertex: the Google Cloud project. Default: the key file's `project_id`, else the default credentials' project. */
  @IsOptional() @IsString() @Matches(/^[a-z0-9.:-]+$/) project?: string;

  /** Vertex: a region (`us-central1`) or `global`. Default: read from baseUrl's host. */
  @IsOptional() @IsString() @Matches(/^[a-z0-9-]+$/) location?: string;

  /**
   * A Google credential JSON (a service account key, or any other type google-auth-library reads): a secret
   * reference (`file:`, `env:`, `vault:`) or a file path. Vertex without it uses the workload's default
   * credentials; the Gemini API without `apiKey` needs it.
   */
  @IsOptional() @IsString() @MinLength(1) credentialsFile?: string;

  /** Where service-account token requests are posted. Default https://oauth2.googleapis.com/token. */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  tokenUrl?: string;

  /** The API version in the path. Default v1beta (studio), v1 (vertex). */
  @IsOptional() @IsIn(['v1', 'v1beta', 'v1beta1']) apiVersion?: string;

  /** Sent with every request; Gemini's defaults apply without it. */
  @IsOptional()
  @IsArray()
  @NestedArray(() => GeminiSafetySettingOption)
  safetySettings?: GeminiSafetySettingOption[];
}

/** Where requests go, resolved at start-up. */
export interface GeminiTarget {
  api: GeminiApi;
  /** `/v1beta/` or `/v1/`. */
  versionPrefix: string;
  /** Prepended to a bare model id: `models/` or `projects/{p}/locations/{l}/publishers/google/models/`. */
  modelsPrefix: string;
}

export type GeminiAuth =
  { kind: 'apiKey'; apiKey: Credential } | { kind: 'oauth'; tokens: AccessTokenSource; tokenClient?: UpstreamClient };

interface ModelPaths {
  /** The model's resource name, as batch embedding requests name it. */
  resource: string;
  generate: string;
  stream: string;
  embed: string;
  batchEmbed: string;
}

/** The Gemini API embeds at most this many texts per batchEmbedContents call (https://ai.google.dev/api/embeddings). */
const MAX_BATCH_EMBED = 100;
/** Vertex AI embeds one text per embedContent call; this many run at once. */
const VERTEX_EMBED_CONCURRENCY = 8;

export class GeminiProvider implements ChatCompletionProvider, EmbeddingProvider {
  readonly type = 'gemini';
  readonly name: string;
  private readonly client: UpstreamClient;
  private readonly tokens: AccessTokenSource | undefined;
  private readonly tokenClient: UpstreamClient | undefined;
  private readonly settings: GeminiRequestSettings;
  /** Per model id; the ids are the configured deployments' models, a bounded set. */
  private readonly paths = new Map<string, ModelPaths>();

  constructor(
    config: ProviderConfig,
    private readonly target: GeminiTarget,
    settings: GeminiRequestSettings,
    runtime: ProviderRuntime,
    auth: GeminiAuth,
  ) {
    this.name = config.name;
    this.settings = settings;
    const mapError = (status: number, body: unknown, headers: IncomingHttpHeaders) =>
      toGatewayErrorFromGoogle(this.name, status, body, headers);
    if (auth.kind === 'apiKey') {
      const apiKey = auth.apiKey;
      this.client = runtime.upstream(mapError, {
        authHeaders: credentialHeaders(
          () => apiKey.value(),
          (key) => ({ 'x-goog-api-key': key }),
        ),
      });
    } else {
      const tokens = auth.tokens;
      this.tokens = tokens;
      this.tokenClient = auth.tokenClient;
      this.client = runtime.upstream(mapError, { signRequest: () => tokens.headers() });
    }
  }

  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    const body = toGeminiRequest(request, this.settings);
    const path = this.pathsFor(request.model).generate;
    const response = await this.authorized(context, () =>
      this.client.json<GeminiGenerateContentResponse>({
        path,
        body,
        cancellation: context.cancellation,
        deadlineAt: context.deadlineAt,
        budget: context.budget,
      }),
    );
    return fromGeminiResponse(response.data, request.model, this.name);
  }

  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const body = toGeminiRequest(request, this.settings);
    const path = this.pathsFor(request.model).stream;
    const response = await this.authorized(context, () =>
      this.client.send({
        path,
        body,
        headers: SSE_ACCEPT,
        cancellation: context.cancellation,
        deadlineAt: context.deadlineAt,
        budget: context.budget,
      }),
    );
    const state = createGeminiStreamState({
      provider: this.name,
      model: request.model,
      includeUsage: request.stream_options?.include_usage === true,
    });
    return readGeminiChunks(response.body, state);
  }

  /**
   * One text → embedContent. Several: batchEmbedContents in batches of 100 on the Gemini API; on Vertex AI, whose
   * Gemini embedding models take one text per embedContent call, calls of a few texts at a time.
   */
  async embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse> {
    const texts = embeddingTexts(request);
    const paths = this.pathsFor(request.model);
    const vectors: number[][] = [];
    let promptTokens = 0;
    if (texts.length > 1 && this.target.api === 'studio') {
      for (let start = 0; start < texts.length; start += MAX_BATCH_EMBED) {
        const body: GeminiBatchEmbedContentsRequest = {
          requests: texts.slice(start, start + MAX_BATCH_EMBED).map((text) => ({
            model: paths.resource,
            ...toEmbedContentRequest(text, request.dimensions),
          })),
        };
        const response = await this.authorized(context, () =>
          this.client.json<GeminiBatchEmbedContentsResponse>({
            path: paths.batchEmbed,
            body,
            cancellation: context.cancellation,
            deadlineAt: context.deadlineAt,
            budget: context.budget,
          }),
        );
        const embeddings = response.data?.embeddings ?? [];
        if (embeddings.length !== body.requests.length) {
          throw upstreamErrors.invalidResponse(this.name, 'the batch answer does not have one embedding per text');
        }
        for (const embedding of embeddings) vectors.push(this.values(embedding.values));
      }
      return toEmbeddingResponse(vectors, request, promptTokens);
    }
    for (let start = 0; start < texts.length; start += VERTEX_EMBED_CONCURRENCY) {
      const answers = await Promise.all(
        texts.slice(start, start + VERTEX_EMBED_CONCURRENCY).map((text) =>
          this.authorized(context, () =>
            this.client.json<GeminiEmbedContentResponse>({
              path: paths.embed,
              body: toEmbedContentRequest(text, request.dimensions),
              cancellation: context.cancellation,
              deadlineAt: context.deadlineAt,
              budget: context.budget,
            }),
          ),
        ),
      );
      for (const answer of answers) {
        vectors.push(this.values(answer.data?.embedding?.values));
        promptTokens += answer.data?.usageMetadata?.promptTokenCount ?? 0;
      }
    }
    return toEmbeddingResponse(vectors, request, promptTokens);
  }

  close(): void {
    this.client.close();
    this.tokenClient?.close();
  }

  private values(values: number[] | undefined): number[] {
    if (!Array.isArray(values)) throw upstreamErrors.invalidResponse(this.name, 'an embedding has no values');
    return values;
  }

  private pathsFor(model: string): ModelPaths {
    let paths = this.paths.get(model);
    if (!paths) {
      // A resource name (tunedModels/…, projects/…/endpoints/…) is used as it is; a bare id goes under the models.
      const resource = model.includes('/') ? model : `${this.target.modelsPrefix}${encodeURIComponent(model)}`;
      const base = `${this.target.versionPrefix}${resource}`;
      paths = {
        resource,
        generate: `${base}:generateContent`,
        stream: `${base}:streamGenerateContent?alt=sse`,
        embed: `${base}:embedContent`,
        batchEmbed: `${base}:batchEmbedContents`,
      };
      this.paths.set(model, paths);
    }
    return paths;
  }

  /**
   * With OAuth, the token is fetched before the call (so a caller who leaves stops waiting for it) and then put on
   * each attempt by `signRequest`. A token the API refuses (revoked, or expired early) is dropped and the call made
   * once more with a new one.
   */
  private async authorized<T>(context: ProviderCallContext, send: () => Promise<T>): Promise<T> {
    const tokens = this.tokens;
    if (!tokens) return send();
    const headers = await tokens.headers(context.cancellation);
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof GatewayError) || error.code !== 'upstream_auth_error' || !tokens.invalidate(headers)) {
        throw error;
      }
      await tokens.headers(context.cancellation);
      return send();
    }
  }
}

const REGIONAL_HOST = /^([a-z0-9-]+)-aiplatform\.googleapis\.com$/;
const GLOBAL_HOST = 'aiplatform.googleapis.com';
const VERSION_IN_PATH = /\/v1(?:beta1?|alpha)?\/?$/;

/** `credentialsFile` as a secret reference: references and inline JSON as they are, anything else a file path. */
export function credentialsReference(value: string): string {
  if (/^(?:env|file|vault):/.test(value) || value.trimStart().startsWith('{')) return value;
  return `file:${value}`;
}

function inferApi(options: GeminiOptions, host: string): GeminiApi {
  if (options.project !== undefined || options.location !== undefined) return 'vertex';
  return host === GLOBAL_HOST || REGIONAL_HOST.test(host) ? 'vertex' : 'studio';
}

/**
 * The location of a Google endpoint host, checked against the configured one; other hosts (a proxy, a private
 * endpoint, a simulator) need the location configured.
 */
function vertexLocation(where: string, options: GeminiOptions, host: string): string {
  const fromHost = host === GLOBAL_HOST ? 'global' : REGIONAL_HOST.exec(host)?.[1];
  const location = options.location ?? fromHost;
  if (location === undefined) {
    throw new Error(`${where}.options.location: required when baseUrl is not a Vertex AI endpoint of Google`);
  }
  if (fromHost !== undefined && fromHost !== location) {
    const expected = location === 'global' ? GLOBAL_HOST : `${location}-${GLOBAL_HOST}`;
    throw new Error(`${where}.baseUrl: location ${location} is served at https://${expected}`);
  }
  return location;
}

async function googleAuth(options: ConstructorParameters<typeof GoogleAuth>[0]): Promise<GoogleAuth> {
  // Loaded only for providers that use it.
  const { GoogleAuth } = await import('google-auth-library');
  return new GoogleAuth(options);
}

/** OAuth for one provider: the key file's own grant for service account keys, google-auth-library otherwise. */
async function oauth(
  config: ProviderConfig,
  options: GeminiOptions,
  runtime: ProviderRuntime,
): Promise<{ auth: GeminiAuth; projectId: () => Promise<string | undefined> }> {
  const where = `providers.${config.name}`;
  const scopes = [CLOUD_PLATFORM_SCOPE];
  if (options.credentialsFile === undefined) {
    const auth = await googleAuth({ scopes });
    return {
      auth: { kind: 'oauth', tokens: new GoogleAuthTokenSource(config.name, auth) },
      projectId: () => auth.getProjectId(),
    };
  }
  const keyCredential = await runtime.credential(credentialsReference(options.credentialsFile));
  let key: ReturnType<typeof parseServiceAccountKey>;
  try {
    key = parseServiceAccountKey(keyCredential.value());
  } catch (error) {
    throw new Error(`${where}.options.credentialsFile: ${(error as Error).message}`, { cause: error });
  }
  if (!isServiceAccountKey(key)) {
    const auth = await googleAuth({ credentials: JSON.parse(keyCredential.value()) as object, scopes });
    return {
      auth: { kind: 'oauth', tokens: new GoogleAuthTokenSource(config.name, auth) },
      projectId: () => auth.getProjectId(),
    };
  }
  const tokenUrl = options.tokenUrl ?? GOOGLE_TOKEN_URL;
  const tokenClient = runtime.upstream(
    (status: number, body: unknown) => toGatewayErrorFromTokenEndpoint(config.name, status, body),
    { baseUrl: tokenUrl, withoutConfiguredHeaders: true },
  );
  const tokens = new ServiceAccountTokenSource({
    provider: config.name,
    key: keyCredential,
    client: tokenClient,
    tokenUrl,
    scopes,
  });
  return { auth: { kind: 'oauth', tokens, tokenClient }, projectId: () => Promise.resolve(key.project_id) };
}

export const geminiProviderFactory: ProviderFactory<GeminiOptions> = {
  type: 'gemini',
  optionsClass: GeminiOptions,
  async create(config, options, runtime) {
    const where = `providers.${config.name}`;
    const base = new URL(config.baseUrl);
    if (VERSION_IN_PATH.test(base.pathname)) {
      throw new Error(`${where}.baseUrl: leave the API version out of it (see options.apiVersion)`);
    }
    const api = options.api ?? inferApi(options, base.hostname);
    const settings: GeminiRequestSettings = { safetySettings: options.safetySettings };
    if (api === 'studio') {
      const target: GeminiTarget = {
        api,
        versionPrefix: `/${options.apiVersion ?? 'v1beta'}/`,
        modelsPrefix: 'models/',
      };
      if (config.apiKey !== undefined) {
        const apiKey = await runtime.credential(config.apiKey);
        return new GeminiProvider(config, target, settings, runtime, { kind: 'apiKey', apiKey });
      }
      if (options.credentialsFile === undefined) {
        throw new Error(`${where}: the Gemini API needs apiKey, or options.credentialsFile for OAuth`);
      }
      const { auth } = await oauth(config, options, runtime);
      return new GeminiProvider(config, target, settings, runtime, auth);
    }
    if (config.apiKey !== undefined) {
      throw new Error(
        `${where}.apiKey: Vertex AI is called with OAuth (options.credentialsFile or default credentials)`,
      );
    }
    const location = vertexLocation(where, options, base.hostname);
    const { auth, projectId } = await oauth(config, options, runtime);
    let project = options.project;
    if (project === undefined) {
      try {
        project = await projectId();
      } catch {
        project = undefined;
      }
    }
    if (!project) throw new Error(`${where}.options.project: required (the credentials name no project)`);
    const target: GeminiTarget = {
      api,
      versionPrefix: `/${options.apiVersion ?? 'v1'}/`,
      modelsPrefix: `projects/${encodeURIComponent(project)}/locations/${location}/publishers/google/models/`,
    };
    return new GeminiProvider(config, target, settings, runtime, auth);
  },
};
