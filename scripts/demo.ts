/**
 * `npm run demo`: starts the bundled provider simulators (OpenAI, Anthropic, ERNIE v1, Gemini, Bedrock) and the
 * gateway on port 8080 (PORT to change it) with config/demo.yaml, then prints curl lines that work, on each of the
 * three fronts. The management plane runs on an in-process PostgreSQL (PGlite, in memory, served on a loopback port
 * by pglite-socket so the gateway's own `pg` driver talks to it as to a server). Ctrl-C stops everything.
 */
import { createServer } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { createGatewayApp } from '../src/app.factory.js';
import { listenFailure } from '../src/listen-failure.js';
import { ConfigError, loadGatewayConfig } from '../src/config/config-loader.js';
import { AnthropicSimulator } from '../test/simulators/anthropic-simulator.js';
import { BedrockSimulator } from '../test/simulators/bedrock-simulator.js';
import { ErnieSimulator } from '../test/simulators/ernie-simulator.js';
import { GeminiSimulator } from '../test/simulators/gemini-simulator.js';
import { OpenAiSimulator } from '../test/simulators/openai-simulator.js';

/** Slow enough that streaming is visible in a terminal. */
const STREAM_DELAY_MS = 40;

/** A curl line for one request to a front's path, wrapped like the rest of the help text. */
function curl(base: string, path: string, body: Record<string, unknown>): string[] {
  const flags = body.stream === true ? '-sN' : '-s';
  return [`  curl ${flags} ${base}${path} -H 'content-type: application/json' \\`, `    -d '${JSON.stringify(body)}'`];
}

const curlChat = (base: string, body: Record<string, unknown>) => curl(base, '/v1/chat/completions', body);

/** A free loopback port (the socket server takes a fixed one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The demo's database: PGlite in memory behind a PostgreSQL wire-protocol server on loopback. */
async function startEmbeddedDatabase(): Promise<{ url: string; stop: () => Promise<void> }> {
  const db = await PGlite.create();
  const port = await freePort();
  // The gateway holds a pool and a LISTEN connection; the socket server multiplexes them onto PGlite.
  const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1', maxConnections: 32 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}

async function main(): Promise<void> {
  // Keys must match config/demo.yaml.
  const openAi = new OpenAiSimulator({
    apiKey: 'sk-demo-simulator',
    chunkDelayMs: STREAM_DELAY_MS,
    name: 'openai-sim',
  });
  const anthropic = new AnthropicSimulator({ apiKey: 'sk-ant-demo-simulator', eventDelayMs: STREAM_DELAY_MS });
  const ernie = new ErnieSimulator({
    apiKey: 'ernie-demo-api-key',
    secretKey: 'ernie-demo-secret-key',
    chunkDelayMs: STREAM_DELAY_MS,
  });
  const gemini = new GeminiSimulator({ apiKey: 'gemini-demo-simulator-key', chunkDelayMs: STREAM_DELAY_MS });
  // Bedrock's simulator takes its default static keys, which config/demo.yaml names.
  const bedrock = new BedrockSimulator({ chunkDelayMs: STREAM_DELAY_MS });
  const simulators = [openAi, anthropic, ernie, gemini, bedrock];
  const [database, openAiUrl, anthropicUrl, ernieUrl, geminiUrl, bedrockUrl] = await Promise.all([
    startEmbeddedDatabase(),
    ...simulators.map((simulator) => simulator.start(0)),
  ]);
  const stopSimulators = () =>
    Promise.all([...simulators.map((simulator) => simulator.stop()), database.stop()]).then(() => undefined);
  const env = {
    ...process.env,
    GATEWAY_CONFIG: process.env.GATEWAY_CONFIG || 'config/demo.yaml',
    DEMO_OPENAI_URL: openAiUrl,
    DEMO_ANTHROPIC_URL: anthropicUrl,
    DEMO_ERNIE_URL: ernieUrl,
    DEMO_GEMINI_URL: geminiUrl,
    DEMO_BEDROCK_URL: bedrockUrl,
    DEMO_DATABASE_URL: database.url,
  };
  let config;
  try {
    config = loadGatewayConfig(env);
  } catch (error) {
    await stopSimulators();
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await createGatewayApp(config, { logLevels: ['warn', 'error', 'fatal'] });
  try {
    await app.listen(config.server.port, config.server.host);
  } catch (error) {
    await Promise.all([app.close(), stopSimulators()]);
    throw listenFailure(error, config.server);
  }
  const base = `http://${config.server.host}:${config.server.port}`;
  process.stdout.write(
    [
      `LLM gateway demo listening on ${base} (simulated providers, no keys needed)`,
      '',
      'Try:',
      ...curlChat(base, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello gateway' }] }),
      '',
      'Streaming:',
      ...curlChat(base, { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Stream to me' }] }),
      '',
      'The same call to Anthropic, ERNIE (v1, with its access token), Gemini and Bedrock, translated:',
      ...curlChat(base, { model: 'claude-sonnet', messages: [{ role: 'user', content: 'Hello Claude' }] }),
      ...curlChat(base, { model: 'ernie-speed', messages: [{ role: 'user', content: 'Hello ERNIE' }] }),
      ...curlChat(base, { model: 'gemini-flash', messages: [{ role: 'user', content: 'Hello Gemini' }] }),
      ...curlChat(base, { model: 'bedrock-claude', messages: [{ role: 'user', content: 'Hello Bedrock' }] }),
      '',
      "Anthropic's Messages API (passed through to Anthropic; any other model is translated):",
      ...curl(base, '/v1/messages', {
        model: 'claude-sonnet',
        max_tokens: 200,
        messages: [{ role: 'user', content: 'Hello Messages' }],
      }),
      '',
      "OpenAI's Responses API (on any model; responses are kept for previous_response_id):",
      ...curl(base, '/v1/responses', { model: 'gemini-flash', input: 'Hello Responses' }),
      '',
      `Claude Code: ANTHROPIC_BASE_URL=${base} ANTHROPIC_API_KEY=demo ANTHROPIC_MODEL=claude-sonnet claude`,
      '',
      `Admin UI: ${base}/ui/ (sign in with the key field empty)`,
      `Models: curl -s ${base}/v1/models    Health: curl -s ${base}/health/ready`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await app.close();
    await stopSimulators();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
