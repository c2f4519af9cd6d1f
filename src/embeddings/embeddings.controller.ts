import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { callerOf } from '../auth/gateway-key.js';
import { Access } from '../http/route-config.js';
import type { EmbeddingRequest } from '../common/openai.types.js';
import { callContextFor } from '../common/request-context.js';
import { routeHeaders } from '../routing/route-headers.js';
import { formatUsd } from '../usage/pricing.js';
import { EmbeddingRequestDto } from './embedding.dto.js';
import { EmbeddingsService } from './embeddings.service.js';

@Controller('v1')
export class EmbeddingsController {
  constructor(private readonly embeddings: EmbeddingsService) {}

  @Post('embeddings')
  @Access('key', { jsonBody: true, operation: 'embeddings' })
  @HttpCode(200)
  async create(
    @Body() body: EmbeddingRequestDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const telemetry = request.telemetry ?? undefined;
    telemetry?.enterHandler();
    try {
      const { response, route, costUsd } = await this.embeddings.embed(
        body as unknown as EmbeddingRequest,
        callContextFor(request),
        callerOf(request).id,
      );
      const headers = routeHeaders(route);
      if (costUsd !== undefined) headers['x-gateway-cost'] = formatUsd(costUsd);
      await reply.headers(headers).send(response);
    } finally {
      telemetry?.handlerSettled();
    }
  }
}
