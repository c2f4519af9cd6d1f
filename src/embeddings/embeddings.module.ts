import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module.js';
import { UsageModule } from '../usage/usage.module.js';
import { EmbeddingsController } from './embeddings.controller.js';
import { EmbeddingsService } from './embeddings.service.js';

@Module({ imports: [RoutingModule, UsageModule], controllers: [EmbeddingsController], providers: [EmbeddingsService] })
export class EmbeddingsModule {}
