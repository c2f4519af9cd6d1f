/**
 * The Anthropic Messages front: `POST /v1/messages` (`?beta=true` as Claude Code sends it) and
 * `POST /v1/messages/count_tokens`, registered on Fastify directly like the chat route. The gateway key comes as
 * `x-api-key` or `Authorization: Bearer`; errors leave in Anthropic's shape (route config `errorFormat`); streams are
 * `event: <type>\ndata: <json>\n\n` frames, and a failure after the start ends them with an `error` event.
 */
import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { useErrorRenderer } from '../../common/errors/error-reply.js';
import type { GatewayError } from '../../common/errors/gateway.error.js';
import { toGatewayError } from '../../common/errors/to-gateway-error.js';
import { GatewayCalls } from '../../pipeline/gateway-calls.js';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { sseHeadersFor, writeEventStream } from '../../http/event-stream-writer.js';
import type { GatewayRouteConfig } from '../../http/route-config.js';
import { anthropicErrorOf } from './messages.errors.js';
import { type MessagesClientFacts, type MessagesItem, MessagesService } from './messages.service.js';
import { validateCountTokensRequest, validateMessagesRequest } from './messages.validator.js';

export const MESSAGES_PATH = '/v1/messages';
export const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';

/** Request headers of the Anthropic protocol a native upstream gets unchanged. */
const PROTOCOL_HEADERS = ['anthropic-version', 'anthropic-beta'] as const;

function frame(item: MessagesItem): string {
  return `event: ${item.event}\ndata: ${item.data}\n\n`;
}

function errorFrame(error: GatewayError): string {
  return `event: error\ndata: ${JSON.stringify(anthropicErrorOf(error).body)}\n\n`;
}

@Injectable()
export class MessagesRoute implements OnModuleInit {
  private readonly bodyLimitBytes: number;
  private readonly toError = (error: unknown) => toGatewayError(error, this.bodyLimitBytes);

  constructor(
    private readonly messages: MessagesService,
    private readonly calls: GatewayCalls,
    @Inject(GATEWAY_CONFIG) config: GatewayConfig,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.bodyLimitBytes = config.server.bodyLimitBytes;
    useErrorRenderer('anthropic', anthropicErrorOf);
  }

  onModuleInit(): void {
    const fastify = this.adapterHost?.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) return;
    const create: GatewayRouteConfig = {
      access: 'key',
      jsonBody: true,
      operation: 'chat',
      front: 'messages',
      errorFormat: 'anthropic',
    };
    const count: GatewayRouteConfig = { access: 'key', jsonBody: true, errorFormat: 'anthropic' };
    fastify.post(MESSAGES_PATH, { config: create }, (request, reply) => this.create(request, reply));
    fastify.post(COUNT_TOKENS_PATH, { config: count }, (request, reply) => this.countTokens(request, reply));
  }

  private client(request: FastifyRequest): MessagesClientFacts {
    const protocolHeaders: Record<string, string> = {};
    for (const name of PROTOCOL_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') protocolHeaders[name] = value;
    }
    return { rawBody: request.rawBody ?? '', protocolHeaders };
  }

  async create(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = validateMessagesRequest(request.body);
    const telemetry = request.telemetry ?? undefined;
    const call = this.calls.of(request);
    telemetry?.enterHandler();
    try {
      if (body.stream === true) {
        const head = sseHeadersFor(reply);
        const { result, headers } = await this.messages.stream(body, this.client(request), call);
        await writeEventStream(reply, result, {
          headers: Object.assign(head, headers),
          frame,
          toError: this.toError,
          errorFrame,
          telemetry,
        });
        return reply;
      }
      const { result, headers } = await this.messages.create(body, this.client(request), call);
      reply.code(200).headers(headers);
      // The upstream's own bytes when it answered natively.
      if (result.text === undefined) return await reply.send(result.message);
      return await reply.type('application/json').send(result.text);
    } finally {
      telemetry?.handlerSettled();
    }
  }

  async countTokens(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = validateCountTokensRequest(request.body);
    const { result, headers } = await this.messages.countTokens(body, this.client(request), this.calls.of(request));
    return reply.code(200).headers(headers).send(result);
  }
}
