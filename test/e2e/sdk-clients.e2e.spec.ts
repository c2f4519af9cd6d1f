/**
 * Agent frameworks through the gateway, unchanged but for their base URL: the OpenAI Agents SDK (Responses API) runs
 * an agent with a function tool, and the Vercel AI SDK's default provider call `openai(model)` (Responses API) does
 * generateText, streamText and a tool loop, on an OpenAI-backed model translated to chat, one with native Responses
 * passthrough, and an Anthropic-backed one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import {
  Agent,
  run,
  setDefaultOpenAIClient,
  setOpenAIAPI,
  setTracingDisabled,
  tool as agentTool,
} from '@openai/agents';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { z } from 'zod';
import { type RunningGateway, startGateway } from './harness.js';
import { type FleetModel, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 120_000 };
const MODELS: FleetModel[] = ['gpt', 'gpt-native', 'claude'];
const TOOL_PROMPT = 'What is the weather in Paris?\nSIM_TOOL get_weather {"city":"Paris"}';

describe('agent SDKs through the gateway', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(fleet.config());
    setTracingDisabled(true);
    setOpenAIAPI('responses');
    // The Agents SDK pins its own copy of the openai package: the same client, another declaration of its type.
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key', maxRetries: 0 });
    setDefaultOpenAIClient(client as unknown as Parameters<typeof setDefaultOpenAIClient>[0]);
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });

  for (const model of MODELS) {
    describe(model, () => {
      it('OpenAI Agents SDK: runs an agent that calls a function tool and uses its result', async () => {
        const cities: string[] = [];
        const weather = agentTool({
          name: 'get_weather',
          description: 'Current weather of a city',
          parameters: z.object({ city: z.string() }),
          execute: ({ city }) => {
            cities.push(city);
            return `sunny in ${city}`;
          },
        });
        const agent = new Agent({ name: 'forecaster', instructions: 'Answer with the tool.', model, tools: [weather] });
        const result = await run(agent, TOOL_PROMPT);
        assert.deepEqual(cities, ['Paris']);
        assert.match(String(result.finalOutput), /sunny in Paris/);
      });

      const ai = () => createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key' });

      it('Vercel AI SDK: generateText and streamText with openai(model)', async () => {
        const openai = ai();
        const generated = await generateText({ model: openai(model), prompt: 'hello there', maxRetries: 0 });
        assert.match(generated.text, /hello there/);
        assert.equal(generated.finishReason, 'stop');
        assert.ok((generated.usage.inputTokens ?? 0) > 0 && (generated.usage.outputTokens ?? 0) > 0);

        const streamed = streamText({ model: openai(model), prompt: 'stream to me', maxRetries: 0 });
        let text = '';
        for await (const delta of streamed.textStream) text += delta;
        assert.match(text, /stream to me/);
        assert.ok(((await streamed.usage).outputTokens ?? 0) > 0);
      });

      it('Vercel AI SDK: a tool loop', async () => {
        const openai = ai();
        const cities: string[] = [];
        const result = await generateText({
          model: openai(model),
          prompt: TOOL_PROMPT,
          maxRetries: 0,
          stopWhen: stepCountIs(3),
          tools: {
            get_weather: tool({
              description: 'Current weather of a city',
              inputSchema: z.object({ city: z.string() }),
              execute: ({ city }) => {
                cities.push(city);
                return Promise.resolve(`sunny in ${city}`);
              },
            }),
          },
        });
        assert.deepEqual(cities, ['Paris']);
        assert.equal(result.steps.length, 2);
        assert.match(result.text, /sunny in Paris/);
      });
    });
  }
});
