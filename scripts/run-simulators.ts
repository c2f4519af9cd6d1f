/**
 * Runs the bundled provider simulators in one process: the `simulators` image of docker compose, or by hand
 * (`npx tsc -p tsconfig.json && node dist/scripts/run-simulators.js`).
 * - OpenAI on 18091 (`/v1`, key `sk-demo-simulator`), Anthropic on 18092 (`/v1`, key `sk-ant-demo-simulator`).
 * - SIM_HOST is the bind address (default 127.0.0.1; the image sets 0.0.0.0); SIM_OPENAI_PORT and
 *   SIM_ANTHROPIC_PORT change the ports (0 = any free port).
 * - SIGTERM or SIGINT closes both servers, open streams included, and exits 0.
 */
import { pathToFileURL } from 'node:url';
import { AnthropicSimulator } from '../test/simulators/anthropic-simulator.js';
import { OpenAiSimulator } from '../test/simulators/openai-simulator.js';

export const OPENAI_SIMULATOR = { port: 18091, apiKey: 'sk-demo-simulator', name: 'openai-sim' } as const;
export const ANTHROPIC_SIMULATOR = { port: 18092, apiKey: 'sk-ant-demo-simulator' } as const;
/** Slow enough that streaming is visible in a terminal, as in `npm run demo`. */
const STREAM_DELAY_MS = 40;

export interface RunningSimulators {
  openAiUrl: string;
  anthropicUrl: string;
  stop(): Promise<void>;
}

function portFrom(value: string | undefined, fallback: number, variable: string): number {
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`${variable} must be a port number, got '${value}'`);
  return port;
}

export async function startSimulators(env: NodeJS.ProcessEnv = process.env): Promise<RunningSimulators> {
  const host = env.SIM_HOST || '127.0.0.1';
  const openAi = new OpenAiSimulator({
    apiKey: OPENAI_SIMULATOR.apiKey,
    name: OPENAI_SIMULATOR.name,
    chunkDelayMs: STREAM_DELAY_MS,
  });
  const anthropic = new AnthropicSimulator({ apiKey: ANTHROPIC_SIMULATOR.apiKey, eventDelayMs: STREAM_DELAY_MS });
  const openAiUrl = await openAi.start(portFrom(env.SIM_OPENAI_PORT, OPENAI_SIMULATOR.port, 'SIM_OPENAI_PORT'), host);
  const anthropicUrl = await anthropic.start(
    portFrom(env.SIM_ANTHROPIC_PORT, ANTHROPIC_SIMULATOR.port, 'SIM_ANTHROPIC_PORT'),
    host,
  );
  return {
    openAiUrl,
    anthropicUrl,
    stop: async () => {
      await Promise.all([openAi.stop(), anthropic.stop()]);
    },
  };
}

async function main(): Promise<void> {
  const simulators = await startSimulators();
  process.stdout.write(
    `openai simulator listening on ${simulators.openAiUrl}\nanthropic simulator listening on ${simulators.anthropicUrl}\n`,
  );
  const stop = async () => {
    await simulators.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
