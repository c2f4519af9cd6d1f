/** A throwaway HTTP upstream on an ephemeral loopback port, for the transport tests. */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalUpstream {
  server: Server;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

export async function startLocalUpstream(handler: RequestListener): Promise<LocalUpstream> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
