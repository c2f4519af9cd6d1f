import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module.js';
import { RoutingAdminController } from './routing-admin.controller.js';
import { CLOCK, ModelRouter, RANDOM_SOURCE } from './model-router.js';
import { RouterService } from './router.service.js';

@Module({
  imports: [ProvidersModule],
  controllers: [RoutingAdminController],
  providers: [
    { provide: RANDOM_SOURCE, useValue: Math.random },
    { provide: CLOCK, useValue: Date.now },
    ModelRouter,
    RouterService,
  ],
  exports: [ModelRouter, RouterService],
})
export class RoutingModule {}
