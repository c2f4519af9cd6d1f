/**
 * The one exception filter: every error leaves the gateway as `{"error":{message,type,param,code}}` with the
 * status the OpenAI SDK expects, plus retry hints. Unknown errors are logged here and answered generically.
 */
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  Inject,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GATEWAY_CONFIG } from '../../config/config.tokens.js';
import type { GatewayConfig } from '../../config/gateway-config.js';
import { GatewayError } from './gateway.error.js';
import { toGatewayError } from './to-gateway-error.js';

/** The OpenAI SDK ignores a wait longer than 60 s; never advertise more. */
const MAX_RETRY_AFTER_MS = 60_000;

/** Headers that tell the client (and its SDK) whether and when to retry. */
export function retryHeaders(error: GatewayError): Record<string, string> {
  const headers: Record<string, string> = { ...error.headers };
  if (error.retryAfterMs !== undefined) {
    const ms = Math.min(Math.max(0, Math.ceil(error.retryAfterMs)), MAX_RETRY_AFTER_MS);
    headers['retry-after'] = String(Math.ceil(ms / 1000));
    headers['retry-after-ms'] = String(ms);
  }
  // The SDK retries 408/409/429/5xx by status; say so when that cannot help.
  if (!error.retryable && (error.status === 429 || error.status >= 500)) headers['x-should-retry'] = 'false';
  return headers;
}

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
    const error = toGatewayError(exception, this.config.server.bodyLimitBytes);
    if (request?.telemetry) request.telemetry.errorCode = error.code ?? undefined;
    if (error.status >= 500 && !(exception instanceof GatewayError)) {
      this.logger.error({ msg: 'unhandled error', requestId: request?.id, error: describe(exception) });
    }
    if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) {
      if (!reply.raw.writableEnded) reply.raw.end();
      return;
    }
    reply.headers(retryHeaders(error)).header('x-request-id', request?.id).code(error.status).send(error.toBody());
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error);
}
