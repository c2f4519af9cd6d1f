/**
 * In-flight requests and the drain at shutdown. Every request that passes its route's gates is counted and gets the
 * Cancellation that stops its upstream calls (the client leaving, or the drain deadline). On SIGTERM, readiness fails
 * at once, idle keep-alive connections are closed, and new requests get 503 with `Retry-After` and
 * `Connection: close`; requests and streams in flight get `server.drainTimeoutMs` to finish. At the deadline the ones
 * left are cancelled as `shutting_down` (a stream ends with an error event the clients treat as retryable, a waiting
 * request gets a 503), and after a short grace for those answers to leave every remaining connection is closed:
 * bodies that never end and connections that never sent a byte cannot hold the process. Nest awaits
 * `beforeApplicationShutdown` before it closes the HTTP server.
 */
import type { Server } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Cancellation } from '../common/cancellation.js';
import { sendError } from '../common/errors/error-reply.js';
import { ClientClosedError, ServiceUnavailableError } from '../common/errors/gateway.error.js';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { GateFactory, RequestGate } from '../http/request-gates.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Cancelled when the client leaves or the drain deadline passes; every upstream call of the request follows it. */
    cancellation: Cancellation | null;
  }
}

/** What a request still in flight at the drain deadline is cancelled with. */
export class ShuttingDownError extends ServiceUnavailableError {
  constructor() {
    super('This gateway instance is shutting down; retry on another instance.', 1_000, 'shutting_down');
  }
}

/** How long the answers of cancelled requests (error events, 503s) get to leave before connections are closed. */
const CANCELLED_ANSWER_GRACE_MS = 500;

/**
 * The most the process takes to exit past the drain deadline: the cancelled answers' grace, then the shutdown hooks
 * (the last usage writes, bounded by the Redis command timeout; the request log's last batch, bounded to 1 s) and the
 * last spans' export (bounded to 1 s). The Helm
 * chart's grace period leaves at least this much after preStop + drain.
 */
export const SHUTDOWN_TAIL_MS = 2_000;

@Injectable()
export class TrafficService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TrafficService.name);
  private readonly active = new Set<Cancellation>();
  private isDraining = false;
  private onIdle: (() => void) | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  get inFlight(): number {
    return this.active.size;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** Counts the request and gives it its cancellation; while draining, refuses it (but probes and metrics). */
  readonly gates: GateFactory = ({ config }) => {
    const servedWhileDraining = config.servedWhileDraining === true;
    const gate: RequestGate = (request, reply) => {
      if (this.isDraining && !servedWhileDraining) {
        reply.header('connection', 'close');
        sendError(request, reply, new ShuttingDownError());
        return false;
      }
      const cancellation = new Cancellation();
      request.cancellation = cancellation;
      this.active.add(cancellation);
      const response = reply.raw;
      response.on('close', () => {
        if (!response.writableFinished) cancellation.cancel(new ClientClosedError());
        this.active.delete(cancellation);
        if (this.active.size === 0) this.onIdle?.();
      });
      return true;
    };
    return gate;
  };

  async beforeApplicationShutdown(): Promise<void> {
    this.isDraining = true;
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    server?.closeIdleConnections();
    const limitMs = this.config.server.drainTimeoutMs;
    if (this.active.size > 0) {
      this.logger.log(`draining ${this.active.size} in-flight request(s), up to ${limitMs} ms`);
      if (await this.idleWithin(limitMs)) {
        this.logger.log('drained');
      } else {
        this.logger.warn(`drain time over with ${this.active.size} request(s) in flight: cancelling them`);
        for (const cancellation of this.active) cancellation.cancel(new ShuttingDownError());
        await this.idleWithin(CANCELLED_ANSWER_GRACE_MS);
      }
    }
    server?.closeAllConnections();
  }

  private idleWithin(ms: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.onIdle = undefined;
        resolve(false);
      }, ms);
      this.onIdle = () => {
        clearTimeout(timer);
        this.onIdle = undefined;
        resolve(true);
      };
    });
  }
}
