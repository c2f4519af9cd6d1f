/** Process entry: load and validate the config (a bad file exits 1 naming each bad field), then listen. */
import { Logger } from '@nestjs/common';
import { createGatewayApp } from './app.factory.js';
import { ConfigError, loadGatewayConfig } from './config/config-loader.js';
import type { GatewayConfig } from './config/gateway-config.js';

async function main(): Promise<void> {
  let config: GatewayConfig;
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
  await app.listen(config.server.port, config.server.host);
  new Logger('Gateway').log(
    `listening on http://${config.server.host}:${config.server.port} with ${config.models.length} model(s)`,
  );
}

void main();
