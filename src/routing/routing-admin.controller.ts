import { Access } from '../http/route-config.js';
import { AdminThrottled } from '../rate-limit/admin-throttle.js';
import { Controller, Get } from '@nestjs/common';
import { ModelRouter } from './model-router.js';

/** Live routing state: groups, deployments, in-flight counts, latency and circuit breakers. */
@Controller('admin')
@AdminThrottled()
export class RoutingAdminController {
  constructor(private readonly router: ModelRouter) {}

  @Get('routing')
  @Access('admin')
  routing() {
    return { models: this.router.snapshot() };
  }
}
