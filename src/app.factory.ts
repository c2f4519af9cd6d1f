/** Builds the Nest application on Fastify; used by main.ts, the demo and the e2e tests. */
import 'reflect-metadata';
import { type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppModule } from './app.module.js';
import { AccessGate } from './auth/access-gate.js';
import { sendError } from './common/errors/error-reply.js';
import { toGatewayError } from './common/errors/to-gateway-error.js';
import { requestIdFor } from './common/request-context.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { CorsPolicy } from './http/cors.js';
import { httpGates } from './http/http-gates.js';
import { clientErrorHandler, gatewayServerFactory, type HttpServerLimits } from './http/http-server.js';
import { installBodyParsers } from './http/json-body.js';
import { installRequestGates, RouteTable } from './http/request-gates.js';
import { TrafficService } from './lifecycle/traffic.service.js';
import { RedactingConsoleLogger } from './observability/redacting-logger.js';
import { RequestObserver } from './observability/request-telemetry.js';

export interface CreateAppOptions {
  /** Log levels; false silences Nest (tests). */
  logLevels?: LogLevel[] | false;
}

export async function createGatewayApp(
  config: GatewayConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const server = config.server;
  const limits: HttpServerLimits = {
    headersMs: server.timeouts.headersMs,
    requestMs: server.timeouts.requestMs,
    keepAliveMs: server.timeouts.keepAliveMs,
    maxConnections: server.maxConnections,
    maxHeaderBytes: server.maxHeaderBytes,
  };
  const adapter = new FastifyAdapter({
    logger: false,
    bodyLimit: server.bodyLimitBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    serverFactory: gatewayServerFactory(limits),
    clientErrorHandler: clientErrorHandler(limits),
    // What the router refuses before any route or hook runs (a malformed percent-encoding): the gateway's shape too.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      reply.header('x-request-id', request.id);
      sendError(request, reply, toGatewayError(error, server.bodyLimitBytes));
    },
  });
  const levels = options.logLevels ?? ['log', 'warn', 'error', 'fatal'];
  const logger =
    levels === false
      ? false
      : new RedactingConsoleLogger({ json: server.logFormat === 'json', logLevels: levels, colors: false });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger,
    bodyParser: false,
    // A wiring error is thrown to the caller (main.ts prints it as one line), never a silent process exit.
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.decorateRequest('gatewayKey', null);
  fastify.decorateRequest('telemetry', null);
  fastify.decorateRequest('cancellation', null);
  fastify.decorateRequest('rawBody', null);
  installBodyParsers(fastify, { maxDepth: server.maxJsonDepth, bodyLimit: server.bodyLimitBytes });
  // The one place the request gates are put together, in the order they run on every route: observe, HTTP checks,
  // access, then in-flight accounting and drain.
  const cors = server.cors ? new CorsPolicy(server.cors) : undefined;
  installRequestGates(
    fastify,
    [
      app.get(RequestObserver).gates,
      httpGates,
      ...(cors ? [cors.gates] : []),
      app.get(AccessGate).gates,
      app.get(TrafficService).gates,
    ],
    app.get(RouteTable),
  );
  cors?.registerPreflight(fastify);
  return app;
}
