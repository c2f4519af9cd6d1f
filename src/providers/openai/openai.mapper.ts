/** Pure helpers for OpenAI-format upstreams: error mapping, stream reading and embedding encoding. */
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionChunk, EmbeddingResponse } from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { SseParser } from '../../upstream/sse-parser.js';
import { RAW_JSON, type WithRawJson } from '../llm-provider.js';
import { upstreamErrors } from '../provider-errors.js';

interface OpenAiErrorPayload {
  error?: { message?: string; type?: string; param?: string | null; code?: string | null } | string;
  message?: string;
}

function errorFields(body: unknown): { message?: string; type?: string; param?: string | null; code?: string | null } {
  if (typeof body === 'string') return { message: body.slice(0, 200) };
  const payload = body as OpenAiErrorPayload | null;
  if (!payload || typeof payload !== 'object') return {};
  if (typeof payload.error === 'string') return { message: payload.error };
  return payload.error ?? { message: payload.message };
}

const CONTEXT_LENGTH_CODES = new Set(['context_length_exceeded', 'tokens_too_long', 'characters_too_long']);

/** Maps an OpenAI-compatible error answer (status + `{error:{...}}`) to the gateway's error vocabulary. */
export function toGatewayErrorFromOpenAi(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const { message, type, param, code } = errorFields(body);
  const retryAfterMs = parseRetryAfterMs(headers);
  if (status === 401) return upstreamErrors.authFailed(provider);
  if (status === 403) return upstreamErrors.permissionDenied(provider, message);
  if (status === 404) return upstreamErrors.modelNotFound(provider, message);
  if (status === 413) return upstreamErrors.requestTooLarge(provider, message);
  if (status === 429) {
    return code === 'insufficient_quota' || type === 'insufficient_quota'
      ? upstreamErrors.insufficientQuota(provider, message)
      : upstreamErrors.rateLimited(provider, message, retryAfterMs);
  }
  if (status === 503 || status === 529) return upstreamErrors.overloaded(provider, message, retryAfterMs);
  if (status === 504 || status === 408) return upstreamErrors.timeout(provider, message);
  if (status >= 500) return upstreamErrors.serverError(provider, message, status);
  if (code && CONTEXT_LENGTH_CODES.has(code)) return upstreamErrors.contextLengthExceeded(provider, message);
  return upstreamErrors.badRequest(provider, message, param ?? null, code ?? 'invalid_request');
}

/**
 * Reads an OpenAI-format SSE body into chunks, keeping each chunk's original JSON text so it can be forwarded
 * without re-serialising. An `error` payload or an end without `[DONE]` is thrown, never passed as success.
 */
export async function* readOpenAiChunks(
  body: AsyncIterable<Buffer | string>,
  provider: string,
): AsyncGenerator<WithRawJson<ChatCompletionChunk>> {
  // The SSE parser is driven here rather than through readSseEvents: one async generator fewer per chunk.
  const parser = new SseParser();
  try {
    for await (const bytes of body) {
      const events = parser.push(bytes);
      for (let i = 0; i < events.length; i++) {
        const data = events[i].data;
        if (data === '[DONE]') return;
        yield chunkOf(data, provider);
      }
    }
    for (const event of parser.end()) {
      if (event.data === '[DONE]') return;
      yield chunkOf(event.data, provider);
    }
  } catch (error) {
    if ((error as { status?: unknown }).status !== undefined) throw error;
    throw upstreamErrors.streamInterrupted(provider, 'the connection to the provider was lost mid-stream');
  }
  throw upstreamErrors.streamInterrupted(provider);
}

function chunkOf(data: string, provider: string): WithRawJson<ChatCompletionChunk> {
  let parsed: WithRawJson<ChatCompletionChunk> & OpenAiErrorPayload;
  try {
    parsed = JSON.parse(data) as WithRawJson<ChatCompletionChunk> & OpenAiErrorPayload;
  } catch {
    throw upstreamErrors.invalidResponse(provider, 'the stream carried an event that is not valid JSON');
  }
  if (parsed.error !== undefined) throw upstreamErrors.streamInterrupted(provider, errorFields(parsed).message);
  parsed[RAW_JSON] = data;
  return parsed;
}

/** Packs float embeddings as base64 of little-endian float32, which is what the OpenAI SDK decodes. */
export function encodeEmbeddingsBase64(response: EmbeddingResponse): EmbeddingResponse {
  for (const item of response.data) {
    if (typeof item.embedding === 'string') continue;
    const floats = Float32Array.from(item.embedding);
    item.embedding = Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
  }
  return response;
}
