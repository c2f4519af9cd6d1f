/**
 * OpenTelemetry tracing. main.ts awaits `startTracing()` before it imports the application, so the SDK (context
 * manager, propagator, tracer provider) is in place before any request can arrive.
 *
 * Tracing is on only when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: spans then go
 * to that collector over OTLP/HTTP in batches, and the standard OTEL_* variables apply (OTEL_SERVICE_NAME,
 * OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_PROPAGATORS, OTEL_BSP_*). Otherwise the SDK is not even
 * loaded, and `tracingEnabled()` is false: the request path checks it and creates no span objects.
 *
 * No auto-instrumentations: the gateway creates its own spans (server, cache lookup, routing, upstream attempts).
 */
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

interface RunningSdk {
  shutdown(): Promise<void>;
}

let sdk: RunningSdk | undefined;

export interface TracingOptions {
  /** Export each span to this exporter as it ends (tests: an InMemorySpanExporter) instead of OTLP. */
  exporter?: SpanExporter;
  env?: NodeJS.ProcessEnv;
}

/** Starts the SDK if tracing is configured; returns whether tracing is on. Idempotent. */
export async function startTracing(options: TracingOptions = {}): Promise<boolean> {
  if (sdk) return true;
  const env = options.env ?? process.env;
  if (!options.exporter && !env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return false;
  const [{ NodeSDK }, { BatchSpanProcessor, SimpleSpanProcessor }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter());
  const nodeSdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME || 'llm-gateway',
    spanProcessors: [processor],
    // Traces only: without these the SDK would also start OTLP metric and log exporters from the environment.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  nodeSdk.start();
  sdk = nodeSdk;
  return true;
}

export function tracingEnabled(): boolean {
  return sdk !== undefined;
}

/** Exports the spans still buffered and stops the SDK (at shutdown). */
/** The last spans' export gets this long at shutdown: a collector that hangs must not hold the process past its grace. */
const SHUTDOWN_EXPORT_MS = 1_000;

export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  if (!running) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    running.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS);
    }),
  ]);
  clearTimeout(timer);
}
