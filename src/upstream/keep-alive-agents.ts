/**
 * Keep-alive agents with a connect timeout (and TLS handshake timeout): Node's agents have neither, and a
 * black-holed upstream would otherwise hold a request until the OS gives up (minutes).
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { PoolConfig } from '../config/gateway-config.js';

export class ConnectTimeoutError extends Error {
  readonly code = 'ECONNTIMEOUT';
}

function guardConnect(socket: Duplex, connectMs: number, tlsMs: number | undefined): void {
  const timer = setTimeout(() => {
    socket.destroy(new ConnectTimeoutError(`connect timed out after ${connectMs} ms`));
  }, connectMs);
  socket.once('connect', () => {
    clearTimeout(timer);
    if (tlsMs === undefined) return;
    const tlsTimer = setTimeout(() => {
      socket.destroy(new ConnectTimeoutError(`TLS handshake timed out after ${tlsMs} ms`));
    }, tlsMs);
    socket.once('secureConnect', () => clearTimeout(tlsTimer));
    socket.once('close', () => clearTimeout(tlsTimer));
  });
  socket.once('close', () => clearTimeout(timer));
}

export function createAgents(pool: PoolConfig, connectMs: number): { httpAgent: http.Agent; httpsAgent: https.Agent } {
  const options = {
    keepAlive: true,
    maxSockets: pool.maxSockets,
    maxFreeSockets: pool.maxFreeSockets,
    timeout: pool.idleTimeoutMs,
    scheduling: 'lifo' as const,
  };
  class GuardedHttpAgent extends http.Agent {
    override createConnection(...args: Parameters<http.Agent['createConnection']>): Duplex | null | undefined {
      const socket = super.createConnection(...args);
      if (socket) guardConnect(socket, connectMs, undefined);
      return socket;
    }
  }
  class GuardedHttpsAgent extends https.Agent {
    override createConnection(...args: Parameters<http.Agent['createConnection']>): Duplex | null | undefined {
      const socket = super.createConnection(...args);
      if (socket) guardConnect(socket, connectMs, pool.tlsHandshakeTimeoutMs);
      return socket;
    }
  }
  return { httpAgent: new GuardedHttpAgent(options), httpsAgent: new GuardedHttpsAgent(options) };
}
