/**
 * The one exception filter: every error leaves the gateway in its route's shape (OpenAI's
 * `{"error":{message,type,param,code}}`, or Anthropic's on the Messages routes) with the status the SDKs expect, plus
 * retry hints. Unknown errors are logged here and answered generically.
 */
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  Inject,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { errorFormatOf, renderError, retryHeaders } from './error-reply.js';
import { echo, GatewayError, NotFoundError } from './gateway.error.js';
import { toGatewayError } from './to-gateway-error.js';

@Catch()
export class OpenAiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(OpenAiErrorFilter.name);

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    if (exception instanceof ServiceUnavailableException) {
      // Terminus reports a failed readiness check this way; its body says which check failed.
      reply.code(503).header('x-request-id', request?.id).send(exception.getResponse());
      return;
    }
    const error =
      exception instanceof NotFoundException && request
        ? new NotFoundError(`Unknown request URL: ${request.method} ${echo(pathOf(request.url))}.`, 'unknown_url')
        : toGatewayError(exception, this.config.server.bodyLimitBytes);
    if (request?.telemetry) request.telemetry.errorCode = error.code ?? undefined;
    if (error.status >= 500 && !(exception instanceof GatewayError)) {
      this.logger.error({ msg: 'unhandled error', requestId: request?.id, error: describe(exception) });
    }
    if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    const { status, body } = renderError(error, request ? errorFormatOf(request) : 'openai');
    reply.headers(retryHeaders(error)).header('x-request-id', request?.id).code(status).send(body);
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}
