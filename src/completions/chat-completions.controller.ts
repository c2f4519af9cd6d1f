import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { toGatewayError } from '../common/errors/to-gateway-error.js';
import type { ChatCompletionRequest } from '../common/openai.types.js';
import { callContextFor } from '../common/request-context.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import { ChatCompletionsService, type GatewayCall } from './chat-completions.service.js';
import { ChatCompletionRequestDto } from './dto/chat-completion.dto.js';
import { ANONYMOUS_KEY } from '../auth/gateway-key.js';
import { writeSseStream } from './sse-writer.js';

@Controller('v1')
export class ChatCompletionsController {
  private readonly bodyLimitBytes: number;

  constructor(
    private readonly completions: ChatCompletionsService,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
  ) {
    this.bodyLimitBytes = config.server.bodyLimitBytes;
  }

  /** The validation pipe checks the DTO and hands on the client's own object, unknown fields included. */
  @Post('chat/completions')
  @HttpCode(200)
  async create(
    @Body() body: ChatCompletionRequestDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const chatRequest = body as unknown as ChatCompletionRequest;
    const call: GatewayCall = {
      key: request.gatewayKey ?? ANONYMOUS_KEY,
      context: callContextFor(request, reply),
      cacheControl: request.headers['cache-control'],
      bodyBytes: Number(request.headers['content-length'] ?? 0),
    };
    const telemetry = request.telemetry ?? undefined;
    telemetry?.enterHandler();
    try {
      if (chatRequest.stream === true) {
        const { chunks, headers } = await this.completions.stream(chatRequest, call);
        await writeSseStream(reply, chunks, {
          headers,
          toError: (error) => toGatewayError(error, this.bodyLimitBytes),
          telemetry,
        });
        return;
      }
      const { completion, headers } = await this.completions.complete(chatRequest, call);
      await reply.headers(headers).send(completion);
    } finally {
      telemetry?.handlerSettled();
    }
  }
}
