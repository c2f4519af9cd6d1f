import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ProvidersModule } from '../providers/providers.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [TerminusModule.forRoot({ logger: false }), ProvidersModule], controllers: [HealthController] })
export class HealthModule {}
