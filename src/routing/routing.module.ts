import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module.js';
import { RoutingAdminController } from './routing-admin.controller.js';
import { ModelRouter } from './model-router.js';
import { CLOCK, RANDOM_SOURCE } from './routing.tokens.js';
import { RouterService } from './router.service.js';
import { SessionAffinity } from './session-affinity.js';

@Module({
  imports: [ProvidersModule],
  controllers: [RoutingAdminController],
  providers: [
    { provide: RANDOM_SOURCE, useValue: Math.random },
    { provide: CLOCK, useValue: Date.now },
    ModelRouter,
    SessionAffinity,
    RouterService,
  ],
  exports: [ModelRouter, RouterService, SessionAffinity],
})
export class RoutingModule {}
