/**
 * Process entry: read `.env` when there is one (variables already set win), start tracing when configured (before
 * the application is even imported), load and validate the config (a bad file exits 1 naming each bad field), then
 * listen.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startTracing, stopTracing } from './instrumentation.js';
import { listenFailure } from './listen-failure.js';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  await startTracing();
  const [{ Logger }, { createGatewayApp }, { ConfigError, loadGatewayConfig }] = await Promise.all([
    import('@nestjs/common'),
    import('./app.factory.js'),
    import('./config/config-loader.js'),
  ]);
  let config: ReturnType<typeof loadGatewayConfig>;
  try {
    config = loadGatewayConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await createGatewayApp(config);
  // Our own handler rather than enableShutdownHooks(): Nest re-raises the signal after closing, and a
  // drained gateway should exit 0.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    new Logger('Gateway').log(`${signal} received: draining`);
    app
      .close()
      .then(() => stopTracing())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          new Logger('Gateway').error(`shutdown failed: ${String(error)}`);
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  try {
    await app.listen(config.server.port, config.server.host);
  } catch (error) {
    await app.close();
    throw listenFailure(error, config.server);
  }
  const { address, port } = app.getHttpServer().address() as AddressInfo;
  new Logger('Gateway').log(`listening on http://${address}:${port} with ${config.models.length} model(s)`);
}

main().catch((error: unknown) => {
  // Start-up failures (an unreadable secret, a port in use) get one clear line, not a stack trace.
  process.stderr.write(`gateway start-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
