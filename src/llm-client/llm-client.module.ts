import { Module } from '@nestjs/common';
import { CompletionsModule } from '../completions/completions.module.js';
import { LlmClient } from './llm-client.service.js';

@Module({ imports: [CompletionsModule], providers: [LlmClient], exports: [LlmClient] })
export class LlmClientModule {}
