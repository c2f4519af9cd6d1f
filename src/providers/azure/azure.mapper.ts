/**
 * Pure helpers for Azure OpenAI: request paths (deployments with `api-version`, or the v1 API), the gateway
 * extensions Azure does not take, and Azure's errors (content filter refusals, unknown deployments, a wrong
 * endpoint or API version) on top of the OpenAI mapping. Answers and streams are OpenAI's format and are read
 * with the OpenAI mapper, annotations (`prompt_filter_results`, `content_filter_results`) left where Azure put them.
 *
 * Follows https://learn.microsoft.com/azure/ai-foundry/openai/reference (deployment paths, api-version),
 * https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle (the v1 API) and
 * https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter (the 400 content_filter error).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import type { ChatCompletionRequest } from '../../common/openai.types.js';
import { parseRetryAfterMs } from '../../upstream/backoff.js';
import { type MessageExtension, toGatewayErrorFromOpenAi, withoutGatewayExtensions } from '../openai/openai.mapper.js';
import { upstreamErrors } from '../provider-errors.js';
import type { AzureApiPath, AzureBlocklistMatch, AzureContentFilterResult, AzureErrorBody } from './azure.types.js';

/** The latest dated GA version of the data-plane inference API (later features come through the v1 API). */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

export type AzureOperation = 'chat/completions' | 'embeddings';

/**
 * The path of an operation below the resource endpoint: `/openai/deployments/{deployment}/{operation}?api-version=…`,
 * or `/openai/v1/{operation}` (the deployment then goes in the body as `model`; `api-version` only when set).
 */
export function azureOperationPath(
  apiPath: AzureApiPath,
  operation: AzureOperation,
  deployment: string,
  apiVersion: string | undefined,
): string {
  const query = apiVersion === undefined ? '' : `?api-version=${encodeURIComponent(apiVersion)}`;
  return apiPath === 'v1'
    ? `/openai/v1/${operation}${query}`
    : `/openai/deployments/${encodeURIComponent(deployment)}/${operation}${query}`;
}

/** Gateway extensions on messages (see openai.types.ts) that are not Azure's: no Azure model reads them back. */
const AZURE_DROPS: readonly MessageExtension[] = [
  'reasoning_content',
  'thinking_blocks',
  'extra_content',
  'cache_control',
];

/**
 * The request as Azure takes it: the client's body, unknown fields included, minus the gateway's own extensions
 * (Anthropic's `thinking` knob, cache markers, reasoning blocks and thought signatures), which Azure would refuse
 * as unrecognized arguments. The same object when there are none, which is the usual case.
 */
export function toAzureChatRequest(request: ChatCompletionRequest): ChatCompletionRequest {
  return withoutGatewayExtensions(request, AZURE_DROPS);
}

/**
 * The categories that made the content filter refuse, as a short list for the error message: harm categories
 * with their severity (`hate (high)`), detectors by name (`jailbreak`), blocklists with their ids.
 */
export function filteredCategories(result: AzureContentFilterResult | undefined): string[] {
  const fired: string[] = [];
  if (result === null || typeof result !== 'object') return fired;
  for (const [category, verdict] of Object.entries(result)) {
    if (Array.isArray(verdict)) {
      const lists = listIds(verdict);
      if (lists.length > 0) fired.push(`${category} (${lists.join(', ')})`);
      continue;
    }
    if (verdict === null || typeof verdict !== 'object' || verdict.filtered !== true) continue;
    const lists = Array.isArray(verdict.details) ? listIds(verdict.details) : undefined;
    if (lists?.length) fired.push(`${category} (${lists.join(', ')})`);
    else if (verdict.severity !== undefined && verdict.severity !== 'safe')
      fired.push(`${category} (${verdict.severity})`);
    else fired.push(category);
  }
  return fired;
}

/** The ids of the blocklists that matched. */
function listIds(details: AzureBlocklistMatch[]): string[] {
  const ids: string[] = [];
  for (const detail of details) if (detail?.filtered === true && typeof detail.id === 'string') ids.push(detail.id);
  return ids;
}

/**
 * Maps an Azure error answer. Beyond the OpenAI mapping: the content filter's 400 keeps its code and `param`
 * (`prompt`) and names the categories that fired; `DeploymentNotFound` is an unknown model; a wrong endpoint path
 * (404 "Resource not found") or an API version Azure does not serve is this provider's misconfiguration, a 502
 * that moves routing to the next deployment rather than the caller's fault.
 */
export function toGatewayErrorFromAzure(
  provider: string,
  status: number,
  body: unknown,
  headers: IncomingHttpHeaders,
): GatewayError {
  const error = body !== null && typeof body === 'object' ? (body as AzureErrorBody).error : undefined;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  const message = typeof error?.message === 'string' ? error.message : undefined;
  if (code === 'content_filter') {
    const fired = filteredCategories(error?.innererror?.content_filter_result);
    const which = fired.length > 0 ? fired.join(', ') : 'no category named';
    return upstreamErrors.badRequest(
      provider,
      `the content filter refused the request (${which}). ${message ?? ''}`,
      typeof error?.param === 'string' ? error.param : 'prompt',
      'content_filter',
    );
  }
  if (status === 429 && code !== 'insufficient_quota') {
    return upstreamErrors.rateLimited(provider, message, azureRetryAfterMs(headers, message));
  }
  if (status === 404 && code === 'DeploymentNotFound') return upstreamErrors.modelNotFound(provider, message);
  // Azure's "Resource not found" (code "404") answers a path it does not serve, not an unknown deployment.
  if (status === 404 && code === '404') return misconfigured(provider, message);
  if (status === 400 && code === 'BadRequest' && message !== undefined && /api version/i.test(message)) {
    return misconfigured(provider, message);
  }
  return toGatewayErrorFromOpenAi(provider, status, body, headers);
}

/**
 * When to try again after a 429: `retry-after-ms` or `retry-after`, else `x-rate-limit-reset-tokens` (which Azure
 * has sent instead, openai/openai-python#937), else the seconds its message names ("Please retry after 20 seconds").
 */
export function azureRetryAfterMs(headers: IncomingHttpHeaders, message: string | undefined): number | undefined {
  const standard = parseRetryAfterMs(headers);
  if (standard !== undefined) return standard;
  const reset = Number(headers['x-rate-limit-reset-tokens'] ?? headers['x-ratelimit-reset-tokens']);
  if (Number.isFinite(reset) && reset > 0) return reset * 1000;
  const stated = message === undefined ? null : RETRY_AFTER_TEXT.exec(message);
  return stated ? Number(stated[1]) * 1000 : undefined;
}

const RETRY_AFTER_TEXT = /retry after (\d+) seconds?/i;

function misconfigured(provider: string, message: string | undefined): GatewayError {
  return upstreamErrors.serverError(
    provider,
    `${message ?? 'the endpoint refused the request'} (check the provider's baseUrl, options.apiPath and options.apiVersion)`,
    502,
  );
}
