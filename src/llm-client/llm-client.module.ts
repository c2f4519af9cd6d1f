import { Module } from '@nestjs/common';
import { ChatModule } from '../fronts/chat/chat.module.js';
import { LlmClient } from './llm-client.service.js';

@Module({ imports: [ChatModule], providers: [LlmClient], exports: [LlmClient] })
export class LlmClientModule {}
