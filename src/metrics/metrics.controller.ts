import { Access } from '../http/route-config.js';
import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply } from 'fastify';
import { GatewayMetrics } from './gateway-metrics.js';

/**
 * `GET /metrics` (the path is set by PrometheusModule). The stock controller renders prom-client's global
 * registry; this one renders the app's own (see GatewayMetrics).
 */
@Controller()
export class MetricsController extends PrometheusController {
  constructor(private readonly metrics: GatewayMetrics) {
    super();
  }

  @Get()
  @Access('public', { servedWhileDraining: true })
  override async index(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    reply.header('content-type', this.metrics.contentType);
    return this.metrics.render();
  }
}
