import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmbeddingRequest } from '../common/openai.types.js';
import { callContextFor } from '../common/request-context.js';
import { routeHeaders } from '../routing/route-headers.js';
import { EmbeddingRequestDto } from './embedding.dto.js';
import { EmbeddingsService } from './embeddings.service.js';

@Controller('v1')
export class EmbeddingsController {
  constructor(private readonly embeddings: EmbeddingsService) {}

  @Post('embeddings')
  @HttpCode(200)
  async create(
    @Body() body: EmbeddingRequestDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { response, route } = await this.embeddings.embed(
      body as unknown as EmbeddingRequest,
      callContextFor(request, reply),
    );
    await reply.headers(routeHeaders(route)).send(response);
  }
}
