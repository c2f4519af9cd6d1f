/** Builds the Nest application on Fastify; used by main.ts, the demo and the e2e tests. */
import 'reflect-metadata';
import { type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConsoleLogger } from '@nestjs/common';
import { AppModule } from './app.module.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { requestIdFor } from './common/request-context.js';
import { GatewayError, ServiceUnavailableError } from './common/errors/gateway.error.js';
import { TrafficService } from './lifecycle/traffic.service.js';
import { ApiKeyService } from './auth/api-key.service.js';
import { RequestObserver } from './observability/request-telemetry.js';
import { ChatCompletionsRoute } from './completions/chat-completions.route.js';

const UNSUPPORTED_MEDIA_TYPE_BODY = new GatewayError(
  415,
  'invalid_request_error',
  "Content-Type must be 'application/json'.",
  { code: 'unsupported_media_type' },
).toBody();

const DRAINING_BODY = new ServiceUnavailableError(
  'This gateway instance is shutting down; retry on another instance.',
  1_000,
  'shutting_down',
).toBody();

function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && /^application\/json\s*(;|$)/i.test(value);
}

export interface CreateAppOptions {
  /** Log levels; false silences Nest (tests). */
  logLevels?: LogLevel[] | false;
}

export async function createGatewayApp(
  config: GatewayConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    logger: false,
    bodyLimit: config.server.bodyLimitBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    // Longer than common load-balancer idle timeouts (60 s), so the LB, not us, closes idle connections.
    keepAliveTimeout: 65_000,
  });
  const levels = options.logLevels ?? ['log', 'warn', 'error', 'fatal'];
  const logger =
    levels === false
      ? false
      : new ConsoleLogger({ json: config.server.logFormat === 'json', logLevels: levels, colors: false });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger,
    bodyParser: true,
  });
  const traffic = app.get(TrafficService);
  const apiKeys = app.get(ApiKeyService);
  const observer = app.get(RequestObserver);
  const fastify = app.getHttpAdapter().getInstance();
  fastify.decorateRequest('gatewayKey', null);
  fastify.decorateRequest('telemetry', null);
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // First, so that refused requests are counted and logged too (API routes only).
    const telemetry = observer.begin(request, reply);
    if (telemetry) request.telemetry = telemetry;
    const url = request.url;
    try {
      // Before the body is read: an unauthenticated client cannot make us parse a large body.
      if (url.startsWith('/v1/')) request.gatewayKey = apiKeys.authenticate(request.headers.authorization);
      else if (url.startsWith('/admin/')) request.gatewayKey = apiKeys.authenticateAdmin(request.headers.authorization);
    } catch (error) {
      const denied = error as GatewayError;
      if (telemetry) telemetry.errorCode = denied.code ?? undefined;
      reply.code(denied.status).send(denied.toBody());
      return;
    }
    // Metrics stay scrapeable while draining.
    if (traffic.draining && !url.startsWith('/health/') && url !== '/metrics') {
      if (telemetry) telemetry.errorCode = 'shutting_down';
      reply.code(503).headers({ 'retry-after': '1', connection: 'close' }).send(DRAINING_BODY);
      return;
    }
    if (request.method === 'POST' && !isJsonContentType(request.headers['content-type'])) {
      if (telemetry) telemetry.errorCode = 'unsupported_media_type';
      reply.code(415).send(UNSUPPORTED_MEDIA_TYPE_BODY);
      return;
    }
    traffic.begin();
    reply.raw.on('close', () => traffic.end());
    done();
  });
  app.get(ChatCompletionsRoute).register(fastify);
  return app;
}
