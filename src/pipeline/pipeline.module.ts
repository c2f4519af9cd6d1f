/** The shared request pipeline (GatewayPipeline) and the modules it is made of; every front imports this. */
import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { CacheModule } from '../cache/cache.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { RoutingModule } from '../routing/routing.module.js';
import { UsageModule } from '../usage/usage.module.js';
import { GatewayCalls } from './gateway-calls.js';
import { GatewayPipeline } from './gateway-pipeline.js';

@Module({
  imports: [RoutingModule, AuthModule, RateLimitModule, CacheModule, UsageModule],
  providers: [GatewayPipeline, GatewayCalls],
  exports: [GatewayPipeline, GatewayCalls, RoutingModule],
})
export class PipelineModule {}
