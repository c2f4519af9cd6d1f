/**
 * `POST /v1/chat/completions`, registered on Fastify directly rather than through a Nest controller: it is the
 * request path every call takes, and Nest's per-request pipeline (execution context, pipe and interceptor
 * chains, parameter factories, promise hops) cost more than the route does itself (see the README's
 * performance section). Errors thrown here still reach the gateway's one exception filter (Nest installs it as
 * Fastify's error handler), so they leave in OpenAI's format like everywhere else.
 */
import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toGatewayError } from '../../common/errors/to-gateway-error.js';
import { GatewayCalls } from '../../pipeline/gateway-calls.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayRouteConfig } from '../../http/route-config.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { RAW_JSON, type WithRawJson } from '../../providers/llm-provider.js';
import { ChatCompletionsService } from './chat-completions.service.js';
import { validateChatRequest } from './chat-request.validator.js';
import { sseHeadersFor, writeSseStream } from './sse-writer.js';

export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';

@Injectable()
export class ChatCompletionsRoute implements OnModuleInit {
  private readonly bodyLimitBytes: number;
  private readonly toError = (error: unknown) => toGatewayError(error, this.bodyLimitBytes);

  constructor(
    private readonly completions: ChatCompletionsService,
    private readonly calls: GatewayCalls,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.bodyLimitBytes = config.server.bodyLimitBytes;
  }

  /** Registered when the application initialises, after app.factory.ts installed the request gates. */
  onModuleInit(): void {
    const fastify = this.adapterHost?.httpAdapter?.getInstance<FastifyInstance>();
    if (fastify) this.register(fastify);
  }

  register(fastify: FastifyInstance): void {
    const config: GatewayRouteConfig = { access: 'key', jsonBody: true, operation: 'chat' };
    fastify.post(CHAT_COMPLETIONS_PATH, { config }, (request, reply) => this.handle(request, reply));
  }

  async handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const chatRequest = validateChatRequest(request.body);
    const telemetry = request.telemetry ?? undefined;
    const call = this.calls.of(request);
    telemetry?.enterHandler();
    try {
      if (chatRequest.stream === true) {
        const head = sseHeadersFor(reply);
        const { chunks, headers } = await this.completions.stream(chatRequest, call);
        await writeSseStream(reply, chunks, {
          headers: Object.assign(head, headers),
          toError: this.toError,
          telemetry,
        });
        return reply;
      }
      const { completion, headers } = await this.completions.complete(chatRequest, call);
      // The upstream's own bytes when it was not translated: no second serialisation.
      const raw = (completion as WithRawJson<typeof completion>)[RAW_JSON];
      reply.code(200).headers(headers);
      if (raw === undefined) return await reply.send(completion);
      return await reply.type('application/json; charset=utf-8').send(raw);
    } finally {
      telemetry?.handlerSettled();
    }
  }
}
