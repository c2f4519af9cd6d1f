/** The admin API's answers, as the UI reads them (see src/admin-docs/admin-openapi.ts). */
export interface ListPage<T> {
  object: 'list';
  data: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

export interface Budget {
  tokensPerDay: number | null;
  tokensPerMonth: number | null;
  usdPerDay: number | null;
  usdPerMonth: number | null;
}

export interface Limits {
  requestsPerMinute: number | null;
  burst: number | null;
  tokensPerMinute: number | null;
}

export interface Key {
  object: 'key';
  id: string;
  prefix: string;
  teamId: string | null;
  models: string[] | null;
  limits: Limits;
  budget: Budget;
  expiresAt: string | null;
  revokedAt: string | null;
  previousSecretValidUntil: string | null;
  /** Its requests' bodies are kept in the request log (redacted, cut to requestLog.maxBodyChars). */
  logBodies?: boolean;
  metadata: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

/** What create and rotate answer: the key, and its secret, shown once. */
export interface IssuedKey {
  key: Key;
  secret: string;
}

export interface Team {
  object: 'team';
  id: string;
  name: string;
  models: string[] | null;
  budget: Budget;
  createdAt: string;
}

export interface DailyUsage {
  day: string;
  key?: string;
  team?: string;
  model?: string;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
  costUsd: number;
}

export interface RequestLogEntry {
  object: 'request';
  id: number;
  at: string;
  requestId: string;
  traceId: string | null;
  keyId: string | null;
  teamId: string | null;
  front: string;
  operation: string;
  model: string;
  servedModel: string | null;
  deployment: string | null;
  provider: string | null;
  attempts: number;
  fallbacks: number;
  stream: boolean;
  status: number;
  errorCode: string | null;
  tokens: {
    prompt: number | null;
    completion: number | null;
    cached: number | null;
    cacheWrite: number | null;
    reasoning: number | null;
    estimated: boolean;
  };
  costUsd: number | null;
  latencyMs: number;
  overheadMs: number | null;
  ttftMs: number | null;
  upstreamMs: number;
  cache: string | null;
  /** Only for keys with logBodies (null otherwise, and on gateways that do not log bodies). */
  requestBody?: string | null;
  responseBody?: string | null;
}

export interface StatsPoint {
  t: number;
  requestsPerSecond: number;
  errorRate: number;
  errors: { client_error: number; rate_limited: number; server_error: number; client_closed: number };
  overheadP50Ms: number | null;
  overheadP95Ms: number | null;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  cacheHitRatio: number | null;
  costUsd: number;
}

export interface Stats {
  object: 'stats';
  now: string;
  intervalMs: number;
  startedAt: string;
  inFlight: number;
  openStreams: number;
  today: { costUsd: number; requests: number; tokens: Record<string, number> };
  upstreamErrors: Record<string, number>;
  series: StatsPoint[];
}

export interface DeploymentState {
  id: string;
  provider: string;
  providerType: string;
  model: string;
  weight: number;
  inFlight: number;
  latencyEwmaMs: number | null;
  requests: number;
  failures: number;
  breaker: {
    state: 'closed' | 'open' | 'half-open';
    openUntil: number | null;
    recentFailures: number;
    lastFailureAt: number | null;
  };
}

export interface ModelRouting {
  model: string;
  strategy: string;
  fallbacks: string[];
  timeoutMs: number;
  maxAttempts: number;
  deployments: DeploymentState[];
}

export interface DeploymentTestResult {
  object: 'deployment_test';
  deployment: string;
  provider: string;
  model: string;
  ok: boolean;
  latencyMs: number;
  content: string | null;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  error: { status: number; type: string; code: string | null; message: string } | null;
}
