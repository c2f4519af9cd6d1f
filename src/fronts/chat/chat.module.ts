/** The Chat Completions front: `POST /v1/chat/completions` (registered by its route) over the shared pipeline. */
import { Module } from '@nestjs/common';
import { PipelineModule } from '../../pipeline/pipeline.module.js';
import { ChatCompletionsRoute } from './chat-completions.route.js';
import { ChatCompletionsService } from './chat-completions.service.js';

@Module({
  imports: [PipelineModule],
  providers: [ChatCompletionsService, ChatCompletionsRoute],
  exports: [ChatCompletionsService],
})
export class ChatModule {}
