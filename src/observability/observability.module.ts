/**
 * Per-request telemetry (metrics, the request log line, spans): RequestObserver contributes the request gate that
 * starts observing API routes. Tracing itself is started before Nest, in instrumentation.ts.
 */
import { Module } from '@nestjs/common';
import { RequestObserver } from './request-telemetry.js';

@Module({ providers: [RequestObserver], exports: [RequestObserver] })
export class ObservabilityModule {}
