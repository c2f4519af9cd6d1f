import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from '../auth/gateway-key.js';
import type { EmbeddingRequest } from '../common/openai.types.js';
import { callContextFor } from '../common/request-context.js';
import { Access } from '../http/route-config.js';
import { EmbeddingRequestDto } from './embedding.dto.js';
import { EmbeddingsService } from './embeddings.service.js';

@Controller('v1')
export class EmbeddingsController {
  constructor(private readonly embeddings: EmbeddingsService) {}

  @Post('embeddings')
  @Access('key', { jsonBody: true, operation: 'embeddings', front: 'embeddings' })
  @HttpCode(200)
  async create(
    @Body() body: EmbeddingRequestDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const telemetry = request.telemetry ?? undefined;
    telemetry?.enterHandler();
    try {
      const { answer, headers } = await this.embeddings.embed(body as unknown as EmbeddingRequest, {
        key: callerOf(request),
        context: callContextFor(request),
        cacheControl: request.headers['cache-control'],
        bodyBytes: Number(request.headers['content-length'] ?? 0),
      });
      await reply.headers(headers).send(answer);
    } finally {
      telemetry?.handlerSettled();
    }
  }
}
