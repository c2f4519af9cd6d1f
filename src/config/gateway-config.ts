/**
 * The gateway's YAML configuration, as validated classes. A bad file stops start-up with one line per bad field.
 */
import { Nested, NestedArray } from './config-schema.js';
import 'reflect-metadata';
import { AuthConfig } from '../auth/auth.config.js';
import { CacheConfig } from '../cache/cache.config.js';
import { DatabaseConfig } from '../management/database.config.js';
import { RateLimitConfig } from '../rate-limit/rate-limit.config.js';
import { SecretsConfig } from '../secrets/secrets.config.js';
import { UiConfig } from '../ui/ui.config.js';
import {
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
} from 'class-validator';

export class TimeoutsConfig {
  /** TCP connect (and TLS handshake, see pool) per attempt. */
  @IsInt() @Min(1) connectMs: number = 5_000;
  /** From sending the request to the response headers, per attempt. */
  @IsInt() @Min(1) firstByteMs: number = 60_000;
  /** Whole call including retries and, for streams, the whole stream. */
  @IsInt() @Min(1) totalMs: number = 600_000;
}

export class PoolConfig {
  @IsInt() @Min(1) maxSockets: number = 256;
  @IsInt() @Min(1) idleTimeoutMs: number = 30_000;
  @IsInt() @Min(1) tlsHandshakeTimeoutMs: number = 10_000;
}

export class RetryConfig {
  /** Transport retries on network errors, 429 and 5xx before the response started. */
  @IsInt() @Min(0) @Max(10) retries: number = 2;
  @IsInt() @Min(0) baseDelayMs: number = 250;
  @IsInt() @Min(0) maxDelayMs: number = 4_000;
  /** A Retry-After longer than this is not waited for. */
  @IsInt() @Min(0) maxRetryAfterMs: number = 10_000;
}

export class ProviderConfig {
  @IsString()
  @Matches(/^[A-Za-z0-9_.-]+$/, { message: 'name may contain only letters, digits, _ . -' })
  name!: string;

  @IsString() type!: string;

  /** Required unless the provider type derives one from its options (bedrock: its region's endpoint). */
  @IsOptional()
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  baseUrl!: string;

  /** The provider's API key: a literal, `env:NAME`, `file:/path` or `vault:mount/path#field` (see Secrets). */
  @IsOptional() @IsString() apiKey?: string;

  /** Extra headers sent on every upstream request (e.g. `api-version`, organisation). */
  @IsOptional() @IsObject() headers?: Record<string, string>;

  /** Provider-specific settings, validated by the provider type itself. */
  @IsOptional() @IsObject() options?: Record<string, unknown>;

  @Nested(() => TimeoutsConfig) timeouts: TimeoutsConfig = new TimeoutsConfig();
  @Nested(() => PoolConfig) pool: PoolConfig = new PoolConfig();
  @Nested(() => RetryConfig) retry: RetryConfig = new RetryConfig();
}

export class DeploymentConfig {
  /** Name of an entry in `providers`. */
  @IsString() @MinLength(1) provider!: string;
  /** The model name the upstream knows. */
  @IsString() @MinLength(1) model!: string;
  @IsNumber() @Min(0) weight: number = 1;
}

export const ROUTING_STRATEGIES = ['weighted', 'round-robin', 'least-busy', 'lowest-latency'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

export class StreamRoutingConfig {
  /**
   * A stream's headers wait for its first content chunk, at most this long, so that a failure before any
   * output can still fall back invisibly.
   */
  @IsInt() @Min(0) holdBackMs: number = 3_000;
  /** No content chunk within this time: fall back (before the first byte) or end with an error event. */
  @IsInt() @Min(1) ttftTimeoutMs: number = 60_000;
  /** Longest silence between two chunks once content flows. */
  @IsInt() @Min(1) idleTimeoutMs: number = 30_000;
}

/** List prices of a model in USD, for the cost of each request (metrics, logs, `x-gateway-cost`, /admin/usage). */
export class ModelPricing {
  /** USD per million prompt (input) tokens. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) inputPerMillion!: number;
  /** USD per million completion (output) tokens, reasoning included. */
  @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) outputPerMillion!: number;
  /** USD per million input tokens read from the provider's prompt cache; `inputPerMillion` when not set. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) cachedInputPerMillion?: number;
  /** USD per million input tokens written to the provider's prompt cache; `inputPerMillion` when not set. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) cacheWritePerMillion?: number;
}

export class ModelConfig {
  /** The public model name clients send. */
  @IsString() @MinLength(1) name!: string;

  @IsArray()
  @ArrayMinSize(1)
  @NestedArray(() => DeploymentConfig)
  deployments!: DeploymentConfig[];

  @IsOptional() @IsString() ownedBy?: string;

  @IsIn(ROUTING_STRATEGIES) strategy: RoutingStrategy = 'weighted';

  /** Other public models tried, in order, when every deployment of this one failed with a retryable error. */
  @IsArray() @IsString({ each: true }) fallbacks: string[] = [];

  /** Overall deadline of a request to this model, all attempts and fallbacks included. */
  @IsInt() @Min(1) timeoutMs: number = 120_000;

  /** Upstream HTTP attempts per request, across deployments, fallbacks and transport retries. */
  @IsInt() @Min(1) @Max(20) maxAttempts: number = 4;

  @Nested(() => StreamRoutingConfig) stream: StreamRoutingConfig = new StreamRoutingConfig();

  /** Without pricing, tokens are still counted but requests to this model have no cost. */
  @IsOptional() @Nested(() => ModelPricing) pricing?: ModelPricing;
}

export class CircuitBreakerConfig {
  /** Failures within `windowMs` that open a deployment's breaker. */
  @IsInt() @Min(1) failureThreshold: number = 5;
  @IsInt() @Min(1) windowMs: number = 30_000;
  /** First open period; each failure while open or half-open doubles it, up to `maxOpenMs`. */
  @IsInt() @Min(1) openMs: number = 10_000;
  @IsInt() @Min(1) maxOpenMs: number = 120_000;
  /** Concurrent trial requests let through when half-open. */
  @IsInt() @Min(1) halfOpenProbes: number = 1;
}

/** Where session-to-deployment pins live when replicas share them. */
export class AffinityRedisConfig {
  @IsString() url!: string;
  @IsString() keyPrefix: string = 'llmgw:affinity:';
  @IsInt() @Min(1) commandTimeoutMs: number = 100;
  @IsInt() @Min(1) connectTimeoutMs: number = 1_000;
}

/** A session id source: a request header, or a field of the request body (a dotted path). */
export const SESSION_SOURCE = /^(header:[A-Za-z0-9-]+|body:[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)$/;

/**
 * Session affinity: the requests of one session go to the deployment that served its first request while it is
 * healthy, so the provider's prompt cache stays warm (see src/routing/session-affinity.ts).
 */
export class SessionAffinityConfig {
  @IsBoolean() enabled: boolean = true;
  /** The session is the first of these the request carries: `header:<name>` or `body:<field>` (`metadata.user_id`). */
  @IsArray()
  @ArrayMinSize(1)
  @Matches(SESSION_SOURCE, { each: true, message: 'each source is header:<name> or body:<field path>' })
  sources: string[] = [
    'header:x-session-id',
    'header:x-claude-code-session-id',
    'header:session-id',
    'body:prompt_cache_key',
    'body:metadata.user_id',
    'body:user',
  ];
  /** A session unseen this long is forgotten. */
  @IsInt() @Min(1) ttlSeconds: number = 3_600;
  /** Sessions kept in memory at most (without Redis: all of them; with Redis: a cache of its pins). */
  @IsInt() @Min(1) maxSessions: number = 100_000;
  /** Pins shared by replicas; without it each replica keeps its own. */
  @IsOptional() @Nested(() => AffinityRedisConfig) redis?: AffinityRedisConfig;
}

export class RoutingConfig {
  @Nested(() => CircuitBreakerConfig) breaker: CircuitBreakerConfig = new CircuitBreakerConfig();
  @Nested(() => SessionAffinityConfig) affinity: SessionAffinityConfig = new SessionAffinityConfig();
}

/** Bounds on slow and silent clients (see http-server.ts). */
export class ServerTimeoutsConfig {
  /** The request line and headers must arrive within this; also closes connections that never send a byte. */
  @IsInt() @Min(100) headersMs: number = 10_000;
  /** The whole request, body included, must arrive within this, else 408 `request_timeout`. */
  @IsInt() @Min(100) requestMs: number = 60_000;
  /** Idle keep-alive connections close after this; longer than common load-balancer idle timeouts (60 s). */
  @IsInt() @Min(100) keepAliveMs: number = 65_000;
}

/** CORS for browsers calling the API routes; off unless origins are listed (see src/http/cors.ts). */
export class CorsConfig {
  /** Allowed origins (`https://app.example.com`), or `*` for any. */
  @IsArray() @ArrayMinSize(1) @IsString({ each: true }) origins!: string[];
  @IsArray() @IsString({ each: true }) allowHeaders: string[] = [
    'authorization',
    'content-type',
    'x-api-key',
    'x-request-id',
    'x-gateway-timeout-ms',
    'anthropic-version',
    'anthropic-beta',
    'openai-beta',
  ];
  @IsArray() @IsString({ each: true }) exposeHeaders: string[] = [
    'x-request-id',
    'x-gateway-model',
    'x-gateway-deployment',
    'x-gateway-attempts',
    'x-gateway-cost',
    'x-gateway-cache',
    'retry-after',
    'x-ratelimit-limit-requests',
    'x-ratelimit-remaining-requests',
    'x-ratelimit-reset-requests',
    'x-ratelimit-limit-tokens',
    'x-ratelimit-remaining-tokens',
    'x-ratelimit-reset-tokens',
  ];
  /** Allow cookies and credentials (then `*` is answered with the caller's origin, as browsers require). */
  @IsBoolean() credentials: boolean = false;
  @IsInt() @Min(0) maxAgeSeconds: number = 600;
}

export class ServerConfig {
  @IsString() host: string = '0.0.0.0';
  @IsInt() @Min(0) @Max(65535) port: number = 8080;
  @IsInt() @Min(1024) bodyLimitBytes: number = 10 * 1024 * 1024;
  /** JSON bodies nested deeper than this get 400 `json_too_deep`. */
  @IsInt() @Min(8) @Max(512) maxJsonDepth: number = 64;
  /** Larger request headers get 431 `headers_too_large`. */
  @IsInt() @Min(1024) maxHeaderBytes: number = 16_384;
  /** Open client connections at most; more are refused when accepted. */
  @IsInt() @Min(1) maxConnections: number = 10_000;
  @Nested(() => ServerTimeoutsConfig) timeouts: ServerTimeoutsConfig = new ServerTimeoutsConfig();
  /** Off by default. */
  @IsOptional() @Nested(() => CorsConfig) cors?: CorsConfig;
  @IsIn(['json', 'text']) logFormat: 'json' | 'text' = 'json';
  /** One JSON line per API request on stdout when it ends (see request-log.ts); never secrets or message text. */
  @IsBoolean() logRequests: boolean = true;
  /** On SIGTERM, how long in-flight requests and streams may take to finish before the process exits. */
  @IsInt() @Min(0) drainTimeoutMs: number = 30_000;
}

export class TracingConfig {
  /**
   * Record prompt and completion text on spans (`gen_ai.input.messages`, `gen_ai.output.messages`). Off by
   * default: traces then carry no message content. Tracing itself is switched on by OTEL_EXPORTER_OTLP_ENDPOINT.
   */
  @IsBoolean() recordContent: boolean = false;
}

export class ObservabilityConfig {
  @Nested(() => TracingConfig) tracing: TracingConfig = new TracingConfig();
}

/** The Anthropic Messages front (`/v1/messages`). */
export class MessagesFrontConfig {
  /**
   * Anthropic's server tools (web search, code execution, …) in a request served by another provider: `drop` leaves
   * them out (listed in `x-gateway-dropped-tools`), `reject` answers 400 naming the tool.
   */
  @IsIn(['drop', 'reject']) serverTools: 'drop' | 'reject' = 'drop';
}

/** Where stored Responses live: Redis (shared by replicas) or, without it, this process's memory. */
export class ResponseStoreRedisConfig {
  @IsString() url!: string;
  @IsString() keyPrefix: string = 'llmgw:responses:';
  @IsInt() @Min(1) commandTimeoutMs: number = 200;
  @IsInt() @Min(1) connectTimeoutMs: number = 1_000;
}

/** The Responses store: `previous_response_id`, `GET` and `DELETE /v1/responses/{id}`; off makes the gateway stateless. */
export class ResponseStoreConfig {
  @IsBoolean() enabled: boolean = false;
  /** Stored responses expire after this. */
  @IsInt() @Min(1) ttlSeconds: number = 86_400;
  /** Responses kept in memory at most (without Redis); the oldest go first. */
  @IsInt() @Min(1) maxEntries: number = 10_000;
  @IsOptional() @Nested(() => ResponseStoreRedisConfig) redis?: ResponseStoreRedisConfig;
}

/** The OpenAI Responses front (`/v1/responses`). */
export class ResponsesFrontConfig {
  /**
   * Built-in tools (web_search, file_search, code_interpreter, …) in a request translated for a provider that is not
   * native OpenAI: `drop` leaves them out (listed in `x-gateway-dropped-tools`), `reject` answers 400 naming the tool.
   */
  @IsIn(['drop', 'reject']) builtinTools: 'drop' | 'reject' = 'drop';
  @Nested(() => ResponseStoreConfig) store: ResponseStoreConfig = new ResponseStoreConfig();
}

export class FrontsConfig {
  @Nested(() => MessagesFrontConfig) messages: MessagesFrontConfig = new MessagesFrontConfig();
  @Nested(() => ResponsesFrontConfig) responses: ResponsesFrontConfig = new ResponsesFrontConfig();
}

export class GatewayConfig {
  @Nested(() => ServerConfig) server: ServerConfig = new ServerConfig();

  @IsArray()
  @ArrayMinSize(1)
  @NestedArray(() => ProviderConfig)
  providers!: ProviderConfig[];

  @IsArray()
  @ArrayMinSize(1)
  @NestedArray(() => ModelConfig)
  models!: ModelConfig[];

  @Nested(() => RoutingConfig) routing: RoutingConfig = new RoutingConfig();

  @Nested(() => AuthConfig) auth: AuthConfig = new AuthConfig();

  @Nested(() => CacheConfig) cache: CacheConfig = new CacheConfig();

  @Nested(() => RateLimitConfig) rateLimit: RateLimitConfig = new RateLimitConfig();

  @Nested(() => SecretsConfig) secrets: SecretsConfig = new SecretsConfig();

  @Nested(() => ObservabilityConfig) observability: ObservabilityConfig = new ObservabilityConfig();

  @Nested(() => FrontsConfig) fronts: FrontsConfig = new FrontsConfig();
  /** The management plane (keys, teams, budgets, request log) on PostgreSQL; absent: the YAML file only. */
  @IsOptional() @Nested(() => DatabaseConfig) database?: DatabaseConfig;
  /** The admin web UI at `/ui`. */
  @Nested(() => UiConfig) ui: UiConfig = new UiConfig();
}
