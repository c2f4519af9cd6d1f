/** The Anthropic Messages front: `POST /v1/messages` and `POST /v1/messages/count_tokens` over the shared pipeline. */
import { Module } from '@nestjs/common';
import { PipelineModule } from '../../pipeline/pipeline.module.js';
import { MessagesRoute } from './messages.route.js';
import { MessagesService } from './messages.service.js';

@Module({ imports: [PipelineModule], providers: [MessagesService, MessagesRoute] })
export class MessagesModule {}
