/**
 * The OpenAI Responses front: `POST /v1/responses`, and `GET` / `DELETE /v1/responses/{id}` on stored responses,
 * registered on Fastify directly like the chat route. Errors leave in OpenAI's shape; streams are
 * `event: <type>\ndata: <json>\n\n` frames without `[DONE]`, and a failure after the start ends them with the API's
 * failure event (see ResponsesExchange.failure).
 */
import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toGatewayError } from '../../common/errors/to-gateway-error.js';
import { callerOf } from '../../auth/gateway-key.js';
import { GatewayCalls } from '../../pipeline/gateway-calls.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { sseHeadersFor, writeEventStream } from '../../http/event-stream-writer.js';
import type { GatewayRouteConfig } from '../../http/route-config.js';
import { type ResponsesItem, ResponsesService } from './responses.service.js';
import { validateResponsesRequest } from './responses.validator.js';

export const RESPONSES_PATH = '/v1/responses';

function frame(item: ResponsesItem): string {
  return `event: ${item.event}\ndata: ${item.data}\n\n`;
}

interface ById {
  Params: { id: string };
}

@Injectable()
export class ResponsesRoute implements OnModuleInit {
  private readonly bodyLimitBytes: number;
  private readonly toError = (error: unknown) => toGatewayError(error, this.bodyLimitBytes);

  constructor(
    private readonly responses: ResponsesService,
    private readonly calls: GatewayCalls,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.bodyLimitBytes = config.server.bodyLimitBytes;
  }

  onModuleInit(): void {
    const fastify = this.adapterHost?.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    const create: GatewayRouteConfig = { access: 'key', jsonBody: true, operation: 'chat', front: 'responses' };
    const stored: GatewayRouteConfig = { access: 'key' };
    fastify.post(RESPONSES_PATH, { config: create }, (request, reply) => this.create(request, reply));
    fastify.get<ById>(`${RESPONSES_PATH}/:id`, { config: stored }, async (request) =>
      this.responses.retrieve(request.params.id, callerOf(request)),
    );
    fastify.delete<ById>(`${RESPONSES_PATH}/:id`, { config: stored }, async (request) =>
      this.responses.remove(request.params.id, callerOf(request)),
    );
  }

  async create(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = validateResponsesRequest(request.body);
    const telemetry = request.telemetry ?? undefined;
    const call = this.calls.of(request);
    const rawBody = request.rawBody ?? '';
    telemetry?.enterHandler();
    try {
      if (body.stream === true) {
        const head = sseHeadersFor(reply);
        const { result, headers } = await this.responses.stream(body, rawBody, call);
        await writeEventStream(reply, result.items, {
          headers: Object.assign(head, headers),
          frame,
          toError: this.toError,
          errorFrame: (error) => frame(result.failure(error)),
          telemetry,
        });
        return reply;
      }
      const { result, headers } = await this.responses.create(body, rawBody, call);
      reply.code(200).headers(headers);
      // The upstream's own bytes when it answered natively.
      if (result.text === undefined) return await reply.send(result.response);
      return await reply.type('application/json').send(result.text);
    } finally {
      telemetry?.handlerSettled();
    }
  }
}
