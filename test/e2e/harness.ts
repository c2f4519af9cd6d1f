/** Starts the real gateway on a real port (127.0.0.1, random) with a config document, for e2e tests. */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createGatewayApp } from '../../src/app.factory.js';
import { validateGatewayConfig } from '../../src/config/config-loader.js';

export interface RunningGateway {
  app: NestFastifyApplication;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  close(): Promise<void>;
}

/**
 * Tests that do not exercise authentication run with it explicitly off (as a deployment would have to say);
 * those that do pass their own `auth` section. The per-request log lines are off unless `server.logRequests`
 * says otherwise (they would fill the test output).
 */
export async function startGateway(document: Record<string, unknown>): Promise<RunningGateway> {
  const server = { logRequests: false, ...(document.server as Record<string, unknown> | undefined) };
  const config = validateGatewayConfig({ auth: { enabled: false }, ...document, server }, 'test');
  const app = await createGatewayApp(config, { logLevels: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** One OpenAI-compatible provider `sim` serving the public model `gpt-test` as upstream `sim-model`. */
export function openAiSimConfig(simBaseUrl: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    providers: [
      {
        name: 'sim',
        type: 'openai',
        baseUrl: simBaseUrl,
        apiKey: 'sk-sim-upstream-secret',
        retry: { retries: 2, baseDelayMs: 10, maxDelayMs: 50, maxRetryAfterMs: 2_000 },
        timeouts: { connectMs: 1_000, firstByteMs: 5_000, totalMs: 10_000 },
      },
    ],
    models: [{ name: 'gpt-test', deployments: [{ provider: 'sim', model: 'sim-model' }] }],
    ...overrides,
  };
}

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

/** Splits an SSE body into its `data:` payloads. */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((frame) => frame.startsWith('data: '))
    .map((frame) => frame.slice('data: '.length));
}
