/** The OpenAI Responses front: `POST /v1/responses` and stored responses over the shared pipeline. */
import { Module } from '@nestjs/common';
import { PipelineModule } from '../../pipeline/pipeline.module.js';
import { ResponsesRoute } from './responses.route.js';
import { ResponsesService } from './responses.service.js';

@Module({ imports: [PipelineModule], providers: [ResponsesService, ResponsesRoute] })
export class ResponsesModule {}
