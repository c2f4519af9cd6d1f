import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module.js';
import { ModelsController } from './models.controller.js';

@Module({ imports: [RoutingModule], controllers: [ModelsController] })
export class ModelsModule {}
