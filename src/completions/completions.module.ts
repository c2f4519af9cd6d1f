import { Module } from '@nestjs/common';
import { RoutingModule } from '../routing/routing.module.js';
import { ChatCompletionsRoute } from './chat-completions.route.js';
import { ChatCompletionsService } from './chat-completions.service.js';

@Module({
  imports: [RoutingModule],
  providers: [ChatCompletionsService, ChatCompletionsRoute],
  exports: [ChatCompletionsService, ChatCompletionsRoute],
})
export class CompletionsModule {}
