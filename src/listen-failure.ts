/** A failed `listen` as one line a user can act on (the port is taken, or not ours to use). */
export function listenFailure(error: unknown, server: { host: string; port: number }): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${server.host}:${server.port}`;
  if (code === 'EADDRINUSE')
    return new Error(`port ${server.port} is in use (${where}): set PORT=<another port> to choose another`);
  if (code === 'EACCES')
    return new Error(`not allowed to listen on ${where}: choose a port above 1023 with PORT=<port>`);
  if (code === 'EADDRNOTAVAIL')
    return new Error(`${server.host} is not an address of this machine: set HOST=<address>`);
  return error instanceof Error ? error : new Error(String(error));
}
