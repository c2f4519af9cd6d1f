/** Kubernetes probes: `GET /health/live` and `GET /health/ready` with every dependency's state. */
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { AuthModule } from '../auth/auth.module.js';
import { CacheModule } from '../cache/cache.module.js';
import { LifecycleModule } from '../lifecycle/lifecycle.module.js';
import { ProvidersModule } from '../providers/providers.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { SecretsModule } from '../secrets/secrets.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [
    TerminusModule.forRoot({ logger: false }),
    ProvidersModule,
    LifecycleModule,
    SecretsModule,
    CacheModule,
    RateLimitModule,
    AuthModule,
  ],
  controllers: [HealthController],
})
export class HealthModule {}
