import { Module } from '@nestjs/common';
import { ProvidersModule } from '../providers/providers.module.js';
import { ModelRouter, RANDOM_SOURCE } from './model-router.js';

@Module({
  imports: [ProvidersModule],
  providers: [{ provide: RANDOM_SOURCE, useValue: Math.random }, ModelRouter],
  exports: [ModelRouter],
})
export class RoutingModule {}
