import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module.js';
import { ChatCompletionsController } from './chat-completions.controller.js';
import { ChatCompletionsService } from './chat-completions.service.js';

@Module({
  imports: [RoutingModule],
  controllers: [ChatCompletionsController],
  providers: [ChatCompletionsService],
  exports: [ChatCompletionsService],
})
export class CompletionsModule {}
