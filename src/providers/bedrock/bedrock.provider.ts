/**
 * `bedrock`: Amazon Bedrock Runtime (https://docs.aws.amazon.com/bedrock/latest/APIReference/welcome.html). Chat
 * through Converse / ConverseStream (`POST /model/{modelId}/converse[-stream]`, one translation for every model
 * family), embeddings through InvokeModel (`POST /model/{modelId}/invoke`) for Titan Text Embeddings and Cohere Embed.
 * Every attempt is signed with SigV4 (bedrock-credentials.ts) over the shared transport, so its pools, timeouts,
 * retries and cancellation apply; the stream's binary event stream is read by bedrock-event-stream.ts.
 *
 * Signing + undici rather than `@aws-sdk/client-bedrock-runtime`: against the simulator the SDK client took 3.4–3.9×
 * the CPU per Converse call and 3.6–4.4× per ConverseStream call (see the README's Bedrock section for the figures).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IsIn, IsObject, IsOptional, IsString, Matches } from 'class-validator';
import { echo, GatewayError, InvalidRequestError } from '../../common/errors/gateway.error.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbeddingResponse,
} from '../../common/openai.types.js';
import type { ProviderConfig } from '../../config/gateway-config.js';
import type { UpstreamClient } from '../../upstream/upstream-client.js';
import type {
  ChatCompletionProvider,
  EmbeddingProvider,
  ProviderCallContext,
  ProviderFactory,
} from '../llm-provider.js';
import type { ProviderRuntime } from '../provider-runtime.js';
import { upstreamErrors } from '../provider-errors.js';
import {
  type AwsCredentialSource,
  createSigV4Signer,
  defaultChainCredentialSource,
  staticCredentialSource,
} from './bedrock-credentials.js';
import { readEventStreamMessages } from './bedrock-event-stream.js';
import {
  bedrockEmbeddingFamily,
  COHERE_MAX_TEXTS,
  cohereVectors,
  DEFAULT_COHERE_INPUT_TYPE,
  embeddingTexts,
  inputTokenCount,
  titanVector,
  toCohereEmbeddingRequest,
  toEmbeddingResponse,
  toTitanEmbeddingRequest,
} from './bedrock-embeddings.mapper.js';
import {
  bedrockErrorType,
  type BedrockRequestDefaults,
  completionId,
  createBedrockStreamState,
  fromBedrockStreamMessage,
  fromBedrockConverseResponse,
  isCredentialError,
  readBedrockChunks,
  toBedrockConverseRequest,
  isAnthropicModel,
  toGatewayErrorFromBedrock,
  toStreamFailure,
} from './bedrock.mapper.js';
import type { BedrockConverseResponse, CohereEmbeddingResponse, TitanEmbeddingResponse } from './bedrock.types.js';

/** https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html */
const COHERE_INPUT_TYPES = ['search_document', 'search_query', 'classification', 'clustering'];
/** Titan embeds one text per call (Cohere 96): a batch is sent this many calls at a time. */
const EMBEDDING_CONCURRENT_CALLS = 8;
const JSON_ACCEPT: Readonly<Record<string, string>> = Object.freeze({ accept: 'application/json' });
/** https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html */
const EVENT_STREAM_ACCEPT: Readonly<Record<string, string>> = Object.freeze({
  accept: 'application/vnd.amazon.eventstream',
});

/** `options` of a `bedrock` provider entry. */
export class BedrockOptions {
  /** The AWS region of the Bedrock Runtime endpoint and of the signature, e.g. `us-east-1`. */
  @IsString()
  @Matches(/^[a-z]{2}(-[a-z]+)+-\d+$/, { message: 'region must be an AWS region such as us-east-1' })
  region!: string;

  /** A profile of the shared config / credentials files, for the default credential chain. */
  @IsOptional() @IsString() profile?: string;

  /** Static keys, as secret references (literal, `env:`, `file:`, `vault:`); without them the default chain is used. */
  @IsOptional() @IsString() accessKeyId?: string;
  @IsOptional() @IsString() secretAccessKey?: string;
  @IsOptional() @IsString() sessionToken?: string;

  /** Model fields sent with every Converse request (e.g. `{ anthropic_beta: [...] }`); the request's knobs win. */
  @IsOptional() @IsObject() additionalModelRequestFields?: Record<string, unknown>;

  /** Cohere Embed's `input_type` when the request has none; default `search_document`. */
  @IsOptional() @IsIn(COHERE_INPUT_TYPES) cohereInputType?: string;
}

interface ModelPaths {
  converse: string;
  converseStream: string;
  invoke: string;
}

export class BedrockProvider implements ChatCompletionProvider, EmbeddingProvider {
  readonly type = 'bedrock';
  readonly name: string;
  private readonly client: UpstreamClient;
  private readonly defaults: BedrockRequestDefaults;
  private readonly cohereInputType: string;
  /** Model ids percent-encoded into their paths once (inference-profile ids and ARNs carry `:` and `/`). */
  private readonly paths = new Map<string, ModelPaths>();
  /** Errors of answers that refused the credentials, which a fresh set may cure. */
  private readonly refusals = new WeakSet<GatewayError>();

  constructor(
    config: ProviderConfig,
    options: BedrockOptions,
    runtime: ProviderRuntime,
    private readonly credentials: AwsCredentialSource,
  ) {
    this.name = config.name;
    this.defaults = { additionalModelRequestFields: options.additionalModelRequestFields };
    this.cohereInputType = options.cohereInputType ?? DEFAULT_COHERE_INPUT_TYPE;
    const baseUrl = config.baseUrl;
    this.client = runtime.upstream(
      (status: number, body: unknown, headers: IncomingHttpHeaders) => this.toGatewayError(status, body, headers),
      { baseUrl, signRequest: createSigV4Signer(credentials, options.region, config.name) },
    );
  }

  /** Claude's thinking is the reasoning Converse carries (additionalModelRequestFields); other models take none. */
  takesReasoning(model: string): boolean {
    return isAnthropicModel(model);
  }

  async chat(request: ChatCompletionRequest, context: ProviderCallContext): Promise<ChatCompletion> {
    const body = toBedrockConverseRequest(request, this.defaults);
    const path = this.pathsOf(request.model).converse;
    const response = await this.withFreshCredentials(context, () =>
      this.client.json<BedrockConverseResponse>({
        path,
        body,
        headers: JSON_ACCEPT,
        cancellation: context.cancellation,
        deadlineAt: context.deadlineAt,
        budget: context.budget,
      }),
    );
    return fromBedrockConverseResponse(response.data, {
      model: request.model,
      provider: this.name,
      id: completionId(response.headers),
    });
  }

  /**
   * Reads up to the first message before handing the stream over, so an exception frame right after the 200 (a
   * model's validation error) is a plain HTTP error.
   */
  async chatStream(
    request: ChatCompletionRequest,
    context: ProviderCallContext,
  ): Promise<AsyncIterable<ChatCompletionChunk>> {
    const body = toBedrockConverseRequest(request, this.defaults);
    const path = this.pathsOf(request.model).converseStream;
    const response = await this.withFreshCredentials(context, () =>
      this.client.send({
        path,
        body,
        headers: EVENT_STREAM_ACCEPT,
        cancellation: context.cancellation,
        deadlineAt: context.deadlineAt,
        budget: context.budget,
      }),
    );
    const state = createBedrockStreamState({
      provider: this.name,
      model: request.model,
      id: completionId(response.headers),
      includeUsage: request.stream_options?.include_usage === true,
    });
    const messages = readEventStreamMessages(response.body);
    let first: readonly ChatCompletionChunk[];
    try {
      const next = await messages.next();
      if (next.done) throw upstreamErrors.streamInterrupted(this.name, 'the stream closed without any event');
      first = fromBedrockStreamMessage(state, next.value);
    } catch (error) {
      await messages.return(undefined);
      throw toStreamFailure(this.name, error);
    }
    return readBedrockChunks(messages, state, first);
  }

  /**
   * InvokeModel per model family: Titan one call per text (a few at a time), Cohere one call per 96 texts.
   * https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html
   */
  async embed(request: EmbeddingRequest, context: ProviderCallContext): Promise<EmbeddingResponse> {
    const family = bedrockEmbeddingFamily(request.model);
    if (!family) {
      throw new InvalidRequestError(
        `Model '${echo(request.model)}' is not a Bedrock embedding model this gateway serves (Titan Text Embeddings, Cohere Embed).`,
        'model',
        'unsupported_value',
      );
    }
    const texts = embeddingTexts(request);
    const path = this.pathsOf(request.model).invoke;
    const invoke = <T>(body: unknown) =>
      this.withFreshCredentials(context, () =>
        this.client.json<T>({
          path,
          body,
          headers: JSON_ACCEPT,
          cancellation: context.cancellation,
          deadlineAt: context.deadlineAt,
          budget: context.budget,
        }),
      );
    let tokens = 0;
    let vectors: number[][];
    if (family === 'titan-v1' || family === 'titan-v2') {
      const bodies = texts.map((text) => toTitanEmbeddingRequest(family, text, request.dimensions));
      vectors = await mapConcurrently(bodies, EMBEDDING_CONCURRENT_CALLS, async (body) => {
        const response = await invoke<TitanEmbeddingResponse>(body);
        tokens += response.data.inputTextTokenCount ?? inputTokenCount(response.headers) ?? 0;
        return titanVector(response.data, this.name);
      });
    } else {
      const inputType = typeof request.input_type === 'string' ? request.input_type : this.cohereInputType;
      const batches: string[][] = [];
      for (let i = 0; i < texts.length; i += COHERE_MAX_TEXTS) batches.push(texts.slice(i, i + COHERE_MAX_TEXTS));
      const results = await mapConcurrently(batches, EMBEDDING_CONCURRENT_CALLS, async (batch) => {
        const response = await invoke<CohereEmbeddingResponse>(
          toCohereEmbeddingRequest(family, batch, inputType, request.dimensions),
        );
        tokens += inputTokenCount(response.headers) ?? 0;
        return cohereVectors(response.data, batch.length, this.name);
      });
      vectors = results.flat();
    }
    return toEmbeddingResponse(vectors, tokens, request);
  }

  close(): void {
    this.client.close();
  }

  private pathsOf(model: string): ModelPaths {
    let paths = this.paths.get(model);
    if (!paths) {
      const base = `/model/${encodeURIComponent(model)}`;
      paths = { converse: `${base}/converse`, converseStream: `${base}/converse-stream`, invoke: `${base}/invoke` };
      this.paths.set(model, paths);
    }
    return paths;
  }

  /** Maps the error, and marks refused credentials so the next signature uses fresh ones. */
  private toGatewayError(status: number, body: unknown, headers: IncomingHttpHeaders): GatewayError {
    const error = toGatewayErrorFromBedrock(this.name, status, body, headers);
    if (status === 401 || isCredentialError(bedrockErrorType(body, headers))) {
      this.credentials.rejected();
      this.refusals.add(error);
    }
    return error;
  }

  /**
   * Credentials from the chain that Bedrock refused (a session that expired early, a rotated role) are fetched anew
   * and the call is sent once more, within the request's attempt budget.
   */
  private async withFreshCredentials<T>(context: ProviderCallContext, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const refused = error instanceof GatewayError && this.refusals.has(error);
      if (!refused || !this.credentials.refreshable || (context.budget && !context.budget.take())) throw error;
      return call();
    }
  }
}

/** `fn` over `items`, at most `limit` at a time, results in the items' order. */
async function mapConcurrently<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const bedrockProviderFactory: ProviderFactory<BedrockOptions> = {
  type: 'bedrock',
  optionsClass: BedrockOptions,
  // https://docs.aws.amazon.com/general/latest/gr/bedrock.html: bedrock-runtime.{region}.amazonaws.com.
  defaultBaseUrl: (options) => `https://bedrock-runtime.${options.region}.amazonaws.com`,
  async create(config, options, runtime) {
    const where = `providers.${config.name}`;
    if (config.apiKey !== undefined) {
      throw new Error(
        `${where}: a bedrock provider signs with AWS credentials: set options.accessKeyId and options.secretAccessKey, or nothing for the default chain, not apiKey`,
      );
    }
    const { accessKeyId, secretAccessKey, sessionToken, profile, region } = options;
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw new Error(`${where}: options.accessKeyId and options.secretAccessKey go together`);
    }
    if (accessKeyId === undefined && sessionToken !== undefined) {
      throw new Error(`${where}: options.sessionToken needs options.accessKeyId and options.secretAccessKey`);
    }
    if (accessKeyId !== undefined && profile !== undefined) {
      throw new Error(`${where}: options.profile and static keys exclude each other`);
    }
    const credentials =
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? staticCredentialSource(
            {
              accessKeyId: await runtime.credential(accessKeyId),
              secretAccessKey: await runtime.credential(secretAccessKey),
              sessionToken: sessionToken === undefined ? undefined : await runtime.credential(sessionToken),
            },
            () => runtime.credentialsRejected(),
          )
        : defaultChainCredentialSource({ profile, region });
    return new BedrockProvider(config, options, runtime, credentials);
  },
};
