/**
 * The provider types this gateway knows. Adding a provider = its folder under src/providers/ + one line here.
 */
import { anthropicProviderFactory } from './anthropic/anthropic.provider.js';
import { bedrockProviderFactory } from './bedrock/bedrock.provider.js';
import { azureProviderFactory } from './azure/azure.provider.js';
import { ernieProviderFactory } from './ernie/ernie.provider.js';
import { geminiProviderFactory } from './gemini/gemini.provider.js';
import type { ProviderFactory } from './llm-provider.js';
import { openAiProviderFactory } from './openai/openai.provider.js';

export const PROVIDER_FACTORIES: readonly ProviderFactory[] = [
  openAiProviderFactory,
  anthropicProviderFactory,
  ernieProviderFactory,
  bedrockProviderFactory,
  azureProviderFactory,
  geminiProviderFactory,
];
