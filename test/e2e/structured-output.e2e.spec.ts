/**
 * Structured output on every provider, as the frameworks ask for it: LangChain's default `withStructuredOutput` on
 * `ChatOpenAI` (chat, `response_format: json_schema`), the Vercel AI SDK's `generateObject` with `openai(model)`
 * (Responses, `text.format: json_schema`), and the Messages front's `output_config.format`. Each simulator answers
 * with the smallest instance of the schema it was given, so a parsed object proves the schema reached the provider.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { generateObject } from 'ai';
import { z } from 'zod';
import { postJson, type RunningGateway, startGateway } from './harness.js';
import { FLEET_MODELS, ProviderFleet } from './provider-fleet.js';

const SUITE = { timeout: 120_000 };
const Place = z.object({ city: z.string(), country: z.string() });
const PLACE_SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string' }, country: { type: 'string' } },
  required: ['city', 'country'],
  additionalProperties: false,
};

describe('structured output on every provider', SUITE, () => {
  const fleet = new ProviderFleet();
  let gateway: RunningGateway;

  before(async () => {
    await fleet.start();
    gateway = await startGateway(fleet.config());
  });
  after(async () => {
    await gateway.close();
    await fleet.stop();
  });

  for (const model of FLEET_MODELS) {
    describe(model, () => {
      it("LangChain's withStructuredOutput (chat, json_schema)", async () => {
        const chat = new ChatOpenAI({
          model,
          apiKey: 'gateway-key',
          maxRetries: 0,
          configuration: { baseURL: `${gateway.url}/v1` },
        });
        const place = await chat.withStructuredOutput(Place, { name: 'place' }).invoke('Where is the Louvre?');
        assert.deepEqual(Object.keys(place).sort(), ['city', 'country']);
      });

      it("the Vercel AI SDK's generateObject (Responses, text.format)", async () => {
        const openai = createOpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'gateway-key' });
        const { object } = await generateObject({
          model: openai(model),
          schema: Place,
          prompt: 'Where is the Louvre?',
          maxRetries: 0,
        });
        assert.equal(typeof object.city, 'string');
        assert.equal(typeof object.country, 'string');
      });

      it('the Messages front’s output_config.format', async () => {
        const response = await postJson(
          `${gateway.url}/v1/messages`,
          {
            model,
            max_tokens: 200,
            messages: [{ role: 'user', content: 'Where is the Louvre?' }],
            output_config: { format: { type: 'json_schema', schema: PLACE_SCHEMA } },
          },
          { 'x-api-key': 'gateway-key', 'anthropic-version': '2023-06-01' },
        );
        assert.equal(response.status, 200, await response.clone().text());
        const message = (await response.json()) as { content: Array<{ type: string; text?: string }> };
        const text = message.content.find((block) => block.type === 'text')?.text ?? '';
        assert.deepEqual(Object.keys(Place.parse(JSON.parse(text))).sort(), ['city', 'country']);
      });
    });
  }
});
