/**
 * The Node HTTP server under Fastify, with bounds on slow and silent clients: headers must arrive within
 * `headersMs` (a connection that never sends a byte, or dribbles its headers, is closed), the whole request within
 * `requestMs` (a body that stops arriving gets a 408), idle keep-alive connections close after `keepAliveMs`, and at
 * most `maxConnections` sockets are open at once (more are refused at accept). Errors Node's parser finds before any
 * route runs (timeouts, oversized headers, malformed HTTP) are answered here in the gateway's error shape.
 */
import { createServer, type RequestListener, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { errorFormatOfPath, renderError } from '../common/errors/error-reply.js';
import { GatewayError } from '../common/errors/gateway.error.js';

export interface HttpServerLimits {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  maxConnections: number;
  maxHeaderBytes: number;
}

export function gatewayServerFactory(limits: HttpServerLimits): (handler: RequestListener) => Server {
  return (handler) => {
    const server = createServer(
      {
        headersTimeout: limits.headersMs,
        requestTimeout: limits.requestMs,
        // Node checks the two timeouts on this interval (30 s by default), which would let them run late by as much.
        connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersMs / 4))),
        maxHeaderSize: limits.maxHeaderBytes,
        // Checked in the request gate instead, so that the answer has the gateway's error shape.
        requireHostHeader: false,
      },
      handler,
    );
    server.keepAliveTimeout = limits.keepAliveMs;
    server.maxConnections = limits.maxConnections;
    return server;
  };
}

function clientErrorFor(error: NodeJS.ErrnoException, limits: HttpServerLimits): GatewayError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new GatewayError(
        408,
        'invalid_request_error',
        `The request did not arrive in time (headers within ${limits.headersMs} ms, the whole request within ${limits.requestMs} ms).`,
        { code: 'request_timeout', retryable: true },
      );
    case 'HPE_HEADER_OVERFLOW':
      return new GatewayError(
        431,
        'invalid_request_error',
        `The request headers are larger than ${limits.maxHeaderBytes} bytes.`,
        { code: 'headers_too_large' },
      );
    default:
      return new GatewayError(400, 'invalid_request_error', 'The request is not valid HTTP.', {
        code: 'malformed_request',
      });
  }
}

/** Fastify's `clientErrorHandler`: the answer goes through the request's response when it has one (so it is logged). */
export function clientErrorHandler(limits: HttpServerLimits): (error: NodeJS.ErrnoException, socket: Socket) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const gatewayError = clientErrorFor(error, limits);
    const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    // The format of the API the request was for, when its request line was read.
    const url = response?.req?.url ?? '';
    const rendered = renderError(gatewayError, errorFormatOfPath(url));
    const status = rendered.status;
    const body = JSON.stringify(rendered.body);
    if (response && !response.headersSent && !response.writableEnded) {
      response.shouldKeepAlive = false;
      response.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      response.end(body, () => socket.destroy());
      return;
    }
    // As Node and Fastify do: a small answer written to a writable socket leaves at once, then the socket is closed.
    if (socket.writable && socket.bytesWritten === 0) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; ` +
          `charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
