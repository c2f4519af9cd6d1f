/**
 * Metrics (`GET /metrics`), per-request telemetry (metrics, log line, spans) and usage accounting
 * (`GET /admin/usage`). Tracing itself is started before Nest, in instrumentation.ts.
 */
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { MetricsModule } from '../metrics/metrics.module.js';
import { UsageModule } from '../usage/usage.module.js';
import { RequestObserver } from './request-telemetry.js';

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(): DynamicModule {
    return {
      module: ObservabilityModule,
      imports: [MetricsModule.forRoot(), UsageModule],
      providers: [RequestObserver],
      exports: [RequestObserver],
    };
  }
}
