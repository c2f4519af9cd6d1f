/**
 * Azure OpenAI wire types: only what differs from OpenAI's chat completions, which Azure otherwise speaks as is.
 * Content filtering: https://learn.microsoft.com/azure/ai-foundry/openai/concepts/content-filter and
 * .../concepts/content-filter-annotations (the annotation objects, the 400 `content_filter` error).
 */

/** One category's verdict: the harm categories carry a severity, the detectors (`jailbreak`, …) `detected`. */
export interface AzureContentFilterVerdict {
  filtered?: boolean;
  severity?: 'safe' | 'low' | 'medium' | 'high';
  detected?: boolean;
  /** `custom_blocklists`: which lists matched. */
  details?: AzureBlocklistMatch[];
}

export interface AzureBlocklistMatch {
  filtered?: boolean;
  id?: string;
}

/**
 * Per-category results, keyed by category: `hate`, `sexual`, `violence`, `self_harm`, `profanity`, `jailbreak`,
 * `indirect_attack`, `protected_material_text`, `protected_material_code`, `custom_blocklists` (a list of matches
 * in older API versions), … (`error` when the filter could not run).
 */
export type AzureContentFilterResult = Record<string, AzureContentFilterVerdict | AzureBlocklistMatch[] | undefined>;

/**
 * Azure's error body. Data-plane errors are `{error: {code, message}}` (code `DeploymentNotFound`, `BadRequest`,
 * `"429"`, `content_filter`, …); a refused Entra token is `{statusCode, message}` at the top level.
 */
export interface AzureErrorBody {
  error?: {
    code?: string | null;
    message?: string;
    type?: string | null;
    param?: string | null;
    status?: number;
    innererror?: { code?: string; content_filter_result?: AzureContentFilterResult };
  };
  statusCode?: number;
  message?: string;
}

/** Which Azure data-plane surface a provider talks to. */
export type AzureApiPath = 'deployments' | 'v1';
