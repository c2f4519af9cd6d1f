/**
 * Pure translation between OpenAI embeddings and the InvokeModel bodies of the Bedrock embedding models the provider
 * serves: Titan Text Embeddings (G1, V2) and Cohere Embed (v3, v4).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidRequestError } from '../../common/errors/gateway.error.js';
import type { EmbeddingRequest, EmbeddingResponse } from '../../common/openai.types.js';
import { upstreamErrors } from '../provider-errors.js';
import type {
  CohereEmbeddingRequest,
  CohereEmbeddingResponse,
  TitanEmbeddingRequest,
  TitanEmbeddingResponse,
} from './bedrock.types.js';
export type BedrockEmbeddingFamily = 'titan-v1' | 'titan-v2' | 'cohere-v3' | 'cohere-v4';

/** The embedding models served through InvokeModel; undefined for any other model id. */
export function bedrockEmbeddingFamily(modelId: string): BedrockEmbeddingFamily | undefined {
  if (/(?:^|[./])amazon\.titan-embed-text-v1/.test(modelId)) return 'titan-v1';
  if (/(?:^|[./])amazon\.titan-embed-text-v2/.test(modelId)) return 'titan-v2';
  if (/(?:^|[./])cohere\.embed-v4/.test(modelId)) return 'cohere-v4';
  if (/(?:^|[./])cohere\.embed-/.test(modelId)) return 'cohere-v3';
  return undefined;
}

/** Cohere takes at most 96 texts per call (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html). */
export const COHERE_MAX_TEXTS = 96;
export const DEFAULT_COHERE_INPUT_TYPE = 'search_document';

/** The texts to embed; token-id inputs have no InvokeModel equivalent. */
export function embeddingTexts(request: EmbeddingRequest): string[] {
  const input = request.input;
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item): item is string => typeof item === 'string')) {
    if (input.length === 0) throw new InvalidRequestError('input must not be empty.', 'input');
    return input;
  }
  throw new InvalidRequestError(
    'Bedrock embedding models take text input, not token ids.',
    'input',
    'unsupported_value',
  );
}

/**
 * Titan Text Embeddings: one text per call; V2 takes `dimensions` (256, 512, 1024), V1 has none.
 * https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
 */
export function toTitanEmbeddingRequest(
  family: 'titan-v1' | 'titan-v2',
  text: string,
  dimensions: number | undefined,
): TitanEmbeddingRequest {
  if (dimensions === undefined) return { inputText: text };
  if (family === 'titan-v1') {
    throw new InvalidRequestError(
      'Titan Text Embeddings G1 has a fixed size; dimensions is not supported.',
      'dimensions',
    );
  }
  return { inputText: text, dimensions };
}

/**
 * Cohere Embed: up to 96 texts per call with an `input_type` (the request's `input_type`, else the configured
 * default). v4 takes `output_dimension`; v3 has a fixed size.
 * https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v3.html,
 * https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed-v4.html
 */
export function toCohereEmbeddingRequest(
  family: 'cohere-v3' | 'cohere-v4',
  texts: string[],
  inputType: string,
  dimensions: number | undefined,
): CohereEmbeddingRequest & { output_dimension?: number } {
  const body: CohereEmbeddingRequest & { output_dimension?: number } = { texts, input_type: inputType };
  if (family === 'cohere-v4') {
    body.embedding_types = ['float'];
    if (dimensions !== undefined) body.output_dimension = dimensions;
  } else if (dimensions !== undefined) {
    throw new InvalidRequestError('Cohere Embed v3 has a fixed size; dimensions is not supported.', 'dimensions');
  }
  return body;
}

export function titanVector(response: TitanEmbeddingResponse, provider: string): number[] {
  if (!Array.isArray(response?.embedding))
    throw upstreamErrors.invalidResponse(provider, 'the answer has no embedding');
  return response.embedding;
}

/** Cohere answers `embeddings` as a list of floats, or by type (`{float: [...]}`) when types were asked for. */
export function cohereVectors(response: CohereEmbeddingResponse, expected: number, provider: string): number[][] {
  const embeddings = response?.embeddings;
  const vectors = Array.isArray(embeddings) ? embeddings : embeddings?.float;
  if (!Array.isArray(vectors) || vectors.length !== expected) {
    throw upstreamErrors.invalidResponse(provider, 'the answer does not have one embedding per text');
  }
  return vectors;
}

/** OpenAI's base64 encoding: the vector's little-endian float32 bytes. */
function base64Vector(vector: number[]): string {
  const floats = Float32Array.from(vector);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

export function toEmbeddingResponse(
  vectors: number[][],
  promptTokens: number,
  request: EmbeddingRequest,
): EmbeddingResponse {
  const base64 = request.encoding_format === 'base64';
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: base64 ? base64Vector(vector) : vector,
    })),
    model: request.model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** InvokeModel reports the input tokens in `X-Amzn-Bedrock-Input-Token-Count` (API_runtime_InvokeModel.html). */
export function inputTokenCount(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['x-amzn-bedrock-input-token-count'];
  const count = typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(count) ? count : undefined;
}
