/**
 * `azure`: Azure OpenAI (and Foundry resources serving OpenAI's wire format). `baseUrl` is the resource endpoint
 * (`https://<resource>.openai.azure.com`); the deployment is the gateway deployment's `model`. Two surfaces:
 * `/openai/deployments/{deployment}/…?api-version=…` (default, `options.apiVersion` defaults to the latest dated GA
 * version) and the v1 API (`options.apiPath: v1`: `/openai/v1/…` with the deployment as `model`). Auth is the
 * `api-key` header (`apiKey`) or Microsoft Entra ID tokens (`options.entra`, see azure-entra.ts).
 *
 * The wire format is OpenAI's, so the client's body goes out as it came (model replaced, gateway extensions left
 * out, see azure.mapper.ts) and answers come back byte for byte, Azure's content filter annotations included.
 * The OpenAI provider's class is not reused as is: it has one fixed path per operation and Bearer auth, where Azure
 * needs the deployment and `api-version` in the path and `api-key` or a per-attempt token; its stream reader and
 * error mapping are.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TokenCredential } from '@azure/identity';
import { IsIn, IsObject, IsOptional, IsString, Matches } from 'class-validator';
import { Nested } from '../../config/config-schema.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import { credentialHeaders, SSE_ACCEPT, type UpstreamClient } from '../../upstream/upstream-client.js';
import {
  type ChatCompletionProvider,
  type EmbeddingProvider,
  type LlmProvider,
  type ProviderCallContext,
  type ProviderFactory,
  RAW_JSON,
  type WithRawJson,
} from '../llm-provider.js';
import { readOpenAiChunks } from '../openai/openai.mapper.js';
import type { Credential, ProviderRuntime } from '../provider-runtime.js';
import { AzureEntraOptions, entraCredential, EntraTokenCache } from './azure-entra.js';
import {
  AZURE_DEFAULT_API_VERSION,
  type AzureOperation,
  azureOperationPath,
  toAzureChatRequest,
  toGatewayErrorFromAzure,
} from './azure.mapper.js';
import type { AzureApiPath } from './azure.types.js';

/** `providers[].options` of an `azure` provider. */
export class AzureOptions {
  /** `deployments` (`/openai/deployments/{deployment}/…?api-version=…`) or `v1` (`/openai/v1/…`). */
  @IsOptional() @IsIn(['deployments', 'v1']) apiPath: AzureApiPath = 'deployments';

  /**
   * Deployments: default `2024-10-21`, the latest dated GA version. v1: none by default (the v1 API needs none),
   * `preview` for preview features.
   */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'apiVersion may contain only letters, digits, _ . -' })
  apiVersion?: string;

  /** Microsoft Entra ID instead of `apiKey`; `{}` for the default credential chain (managed / workload identity). */
  @IsOptional() @IsObject() @Nested(() => AzureEntraOptions) entra?: AzureEntraOptions;
}

export interface AzureAuth {
  apiKey?: Credential;
  tokens?: EntraTokenCache;
}

export class AzureOpenAiProvider implements ChatCompletionProvider, EmbeddingProvider {
  readonly type = 'azure';
  readonly name: string;
  private readonly client: UpstreamClient;
  private readonly tokens: EntraTokenCache | undefined;
  private readonly apiPath: AzureApiPath;
  private readonly apiVersion: string | undefined;
  /** Operation paths per deployment (deployment names come from the config, so these stay few). */
  private readonly chatPaths = new Map<string, string>();
  private readonly embeddingPaths = new Map<string, string>();

  constructor(config: ProviderConfig, options: AzureOptions, runtime: ProviderRuntime, auth: AzureAuth) {
    this.name = config.name;
    this.apiPath = options.apiPath;
    this.apiVersion = options.apiVersion ?? (options.apiPath === 'v1' ? undefined : AZURE_DEFAULT_API_VERSION);
    const { apiKey, tokens } = auth;
    this.tokens = tokens;
    this.client = runtime.upstream(
      (status: number, body: unknown, headers: IncomingHttpHeaders) => {
        if (status === 401) tokens?.invalidate();
        return toGatewayErrorFromAzure(this.name, status, body, headers);
      },
      {
        ...(apiKey && {
          authHeaders: credentialHeaders(
            () => apiKey.value(),
            (key) => ({ 'api-key': key }),
          ),
        }),
        ...(tokens && { signRequest: () => tokens.headers() }),
      },
    );
  }

  /** The completion as Azure sent it (annotations included), its bytes kept under RAW_JSON. */
  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<WithRawJson<ChatCompletion>> {
    const waiting = this.tokens?.untilUsable(context.cancellation);
    if (waiting) await waiting;
    const response = await this.client.json<WithRawJson<ChatCompletion>>({
      path: this.path(this.chatPaths, 'chat/completions', request.model),
      body: toAzureChatRequest(request),
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    const completion = response.data;
    completion[RAW_JSON] = response.text;
    return completion;
  }

  /** Azure's chunks as sent, the leading prompt annotation chunk (`choices: []`, empty id) included. */
  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const waiting = this.tokens?.untilUsable(context.cancellation);
    if (waiting) await waiting;
    const body = toAzureChatRequest(request);
    const response = await this.client.send({
      path: this.path(this.chatPaths, 'chat/completions', request.model),
      body: body.stream === true ? body : { ...body, stream: true },
      headers: SSE_ACCEPT,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return readOpenAiChunks(response.body, this.name);
  }

  /** Forwarded as is: Azure encodes base64 itself. */
  async embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse> {
    const waiting = this.tokens?.untilUsable(context.cancellation);
    if (waiting) await waiting;
    const response = await this.client.json<EmbeddingResponse>({
      path: this.path(this.embeddingPaths, 'embeddings', request.model),
      body: request,
      cancellation: context.cancellation,
      deadlineAt: context.deadlineAt,
      budget: context.budget,
    });
    return response.data;
  }

  close(): void {
    this.client.close();
  }

  private path(paths: Map<string, string>, operation: AzureOperation, deployment: string): string {
    let path = paths.get(deployment);
    if (path === undefined) {
      path = azureOperationPath(this.apiPath, operation, deployment, this.apiVersion);
      paths.set(deployment, path);
    }
    return path;
  }
}

/** Headers that already carry a credential (an APIM subscription key, a static token) stand in for `apiKey`. */
const CREDENTIAL_HEADER = /^(api-key|authorization|ocp-apim-subscription-key)$/i;

export const azureProviderFactory: ProviderFactory<AzureOptions> = {
  type: 'azure',
  optionsClass: AzureOptions,
  async create(config: ProviderConfig, options: AzureOptions, runtime: ProviderRuntime): Promise<LlmProvider> {
    const entra = options.entra;
    if (entra !== undefined && config.apiKey !== undefined) {
      throw new Error(
        `providers.${config.name}: an azure provider authenticates with apiKey or options.entra, not both`,
      );
    }
    const headerCredential = Object.keys(config.headers ?? {}).some((name) => CREDENTIAL_HEADER.test(name));
    if (entra === undefined && config.apiKey === undefined && !headerCredential) {
      throw new Error(
        `providers.${config.name}: an azure provider needs apiKey (the resource key) or options.entra (Microsoft Entra ID)`,
      );
    }
    if (entra === undefined) {
      const apiKey = config.apiKey === undefined ? undefined : await runtime.credential(config.apiKey);
      return new AzureOpenAiProvider(config, options, runtime, { apiKey });
    }
    const clientSecret = entra.clientSecret === undefined ? undefined : await runtime.credential(entra.clientSecret);
    let credential: () => TokenCredential;
    try {
      credential = entraCredential(entra, clientSecret);
      // Built once here so that a malformed tenant or client id stops start-up instead of failing every request.
      credential();
    } catch (error) {
      throw new Error(`providers.${config.name}.options.entra: ${(error as Error).message}`, { cause: error });
    }
    const tokens = new EntraTokenCache({
      provider: config.name,
      scope: entra.scope,
      credential,
      onRefused: () => runtime.credentialsRejected(),
    });
    return new AzureOpenAiProvider(config, options, runtime, { tokens });
  },
};
