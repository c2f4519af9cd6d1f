/**
 * `npm run demo`: starts the bundled provider simulators and the gateway on port 8080 (PORT to change it)
 * with config/demo.yaml, then prints a curl line that works. Ctrl-C stops everything.
 */
import { createGatewayApp } from '../src/app.factory.js';
import { ConfigError, loadGatewayConfig } from '../src/config/config-loader.js';
import { OpenAiSimulator } from '../test/simulators/openai-simulator.js';

async function main(): Promise<void> {
  const openAi = new OpenAiSimulator({ apiKey: 'sk-demo-simulator', chunkDelayMs: 40, name: 'openai-sim' });
  const env = {
    ...process.env,
    GATEWAY_CONFIG: process.env.GATEWAY_CONFIG ?? 'config/demo.yaml',
    DEMO_OPENAI_URL: await openAi.start(0),
  };
  let config;
  try {
    config = loadGatewayConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await createGatewayApp(config, { logLevels: ['warn', 'error', 'fatal'] });
  await app.listen(config.server.port, config.server.host);
  const base = `http://${config.server.host}:${config.server.port}`;
  process.stdout.write(
    [
      `LLM gateway demo listening on ${base} (simulated providers, no keys needed)`,
      '',
      'Try:',
      `  curl -s ${base}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello gateway"}]}'`,
      '',
      'Streaming:',
      `  curl -sN ${base}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Stream to me"}]}'`,
      '',
      `Models: curl -s ${base}/v1/models    Health: curl -s ${base}/health/ready`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await app.close();
    await openAi.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

void main();
