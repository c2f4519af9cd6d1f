/**
 * Every provider type behind one gateway, each on its own simulator over real HTTP, for the tests that run the same
 * scenario through every front on every provider (fronts × providers). One public model per provider:
 * `gpt` (OpenAI chat, Responses translated), `gpt-native` (OpenAI with `responses: native`), `claude` (Anthropic),
 * `ernie` (ERNIE v1), `gemini` (Gemini API), `bedrock` (Claude on Bedrock's Converse API), `azure` (Azure OpenAI).
 */
import { AnthropicSimulator } from '../simulators/anthropic-simulator.js';
import { AzureOpenAiSimulator } from '../simulators/azure-openai-simulator.js';
import { BedrockSimulator, DEFAULT_BEDROCK_CREDENTIALS } from '../simulators/bedrock-simulator.js';
import { ErnieSimulator } from '../simulators/ernie-simulator.js';
import { GeminiSimulator } from '../simulators/gemini-simulator.js';
import { OpenAiSimulator } from '../simulators/openai-simulator.js';

export const FLEET_MODELS = ['gpt', 'gpt-native', 'claude', 'ernie', 'gemini', 'bedrock', 'azure'] as const;
export type FleetModel = (typeof FLEET_MODELS)[number];

const KEYS = {
  openai: 'sk-fleet-openai-upstream-0123456789',
  anthropic: 'sk-ant-fleet-upstream-0123456789',
  ernie: 'ernie-fleet-api-key',
  ernieSecret: 'ernie-fleet-secret-key-0123456789',
  gemini: 'gemini-fleet-upstream-key-0123456789',
  azure: 'azure-fleet-resource-key-0123456789',
};

const SHARED = { retry: { retries: 0 }, timeouts: { connectMs: 1_000, firstByteMs: 5_000, totalMs: 15_000 } };

export class ProviderFleet {
  readonly openai = new OpenAiSimulator({ apiKey: KEYS.openai });
  readonly anthropic = new AnthropicSimulator({ apiKey: KEYS.anthropic });
  readonly ernie = new ErnieSimulator({ apiKey: KEYS.ernie, secretKey: KEYS.ernieSecret });
  readonly gemini = new GeminiSimulator({ apiKey: KEYS.gemini });
  readonly bedrock = new BedrockSimulator();
  readonly azure = new AzureOpenAiSimulator({ apiKey: KEYS.azure, deployments: { chat: 'gpt-4o-2024-08-06' } });
  private urls: Record<'openai' | 'anthropic' | 'ernie' | 'gemini' | 'bedrock' | 'azure', string> | undefined;

  async start(): Promise<void> {
    const [openai, anthropic, ernie, gemini, bedrock, azure] = await Promise.all([
      this.openai.start(),
      this.anthropic.start(),
      this.ernie.start(),
      this.gemini.start(),
      this.bedrock.start(),
      this.azure.start(),
    ]);
    this.urls = { openai, anthropic, ernie, gemini, bedrock, azure };
  }

  async stop(): Promise<void> {
    await Promise.all([
      this.openai.stop(),
      this.anthropic.stop(),
      this.ernie.stop(),
      this.gemini.stop(),
      this.bedrock.stop(),
      this.azure.stop(),
    ]);
  }

  reset(): void {
    this.openai.reset();
    this.anthropic.reset();
    this.ernie.reset();
    this.gemini.reset();
    this.bedrock.reset();
    this.azure.reset();
  }

  /** The providers and models sections; `extra` is merged in (fronts, cache, auth, …). */
  config(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const urls = this.urls;
    if (!urls) throw new Error('start the fleet first');
    const { accessKeyId, secretAccessKey } = DEFAULT_BEDROCK_CREDENTIALS;
    const model = (name: FleetModel, provider: string, upstream: string) => ({
      name,
      deployments: [{ provider, model: upstream }],
    });
    return {
      routing: { breaker: { failureThreshold: 1_000, maxOpenMs: 1 } },
      providers: [
        { name: 'openai', type: 'openai', baseUrl: urls.openai, apiKey: KEYS.openai, ...SHARED },
        {
          name: 'openai-native',
          type: 'openai',
          baseUrl: urls.openai,
          apiKey: KEYS.openai,
          options: { responses: 'native' },
          ...SHARED,
        },
        { name: 'anthropic', type: 'anthropic', baseUrl: urls.anthropic, apiKey: KEYS.anthropic, ...SHARED },
        {
          name: 'ernie',
          type: 'ernie',
          baseUrl: urls.ernie,
          apiKey: KEYS.ernie,
          options: { secretKey: KEYS.ernieSecret },
          ...SHARED,
        },
        { name: 'gemini', type: 'gemini', baseUrl: urls.gemini, apiKey: KEYS.gemini, ...SHARED },
        {
          name: 'bedrock',
          type: 'bedrock',
          baseUrl: urls.bedrock,
          options: { region: 'us-east-1', accessKeyId, secretAccessKey },
          ...SHARED,
        },
        { name: 'azure', type: 'azure', baseUrl: urls.azure, apiKey: KEYS.azure, ...SHARED },
      ],
      models: [
        model('gpt', 'openai', 'gpt-4o-mini'),
        model('gpt-native', 'openai-native', 'gpt-4o-mini'),
        model('claude', 'anthropic', 'claude-sonnet-4-5'),
        model('ernie', 'ernie', 'ernie-4.0-8k'),
        model('gemini', 'gemini', 'gemini-2.5-flash'),
        model('bedrock', 'bedrock', 'us.anthropic.claude-sonnet-4-20250514-v1:0'),
        model('azure', 'azure', 'chat'),
      ],
      ...extra,
    };
  }

  /** The next request to the model's upstream fails with this HTTP status (ERNIE: its error code for it). */
  failNext(model: FleetModel, status: 429 | 500 | 503): void {
    switch (model) {
      case 'gpt':
        return this.openai.enqueueFault({ status });
      case 'gpt-native':
        // Its Responses go to /responses, the other fronts' requests to chat.
        return this.openai.enqueueFault({ status, paths: ['/v1/responses', '/v1/chat/completions'] });
      case 'azure':
        return this.azure.enqueueFault({ status });
      case 'claude':
        return this.anthropic.enqueueFault({ status });
      case 'gemini':
        return this.gemini.enqueueFault({ status });
      case 'bedrock':
        return this.bedrock.enqueueFault({ status });
      case 'ernie':
        return this.ernie.enqueueFault({ errorCode: status === 429 ? 18 : 336100 });
    }
  }

  /** How many chat-like calls the model's upstream received (any protocol). */
  upstreamCalls(model: FleetModel): number {
    switch (model) {
      case 'gpt':
      case 'gpt-native':
        return this.openai.requests.length;
      case 'azure':
        return this.azure.requests.length;
      case 'claude':
        return this.anthropic.requests.length;
      case 'gemini':
        return this.gemini.requests.filter((request) => request.api !== 'oauth').length;
      case 'bedrock':
        return this.bedrock.requests.length;
      case 'ernie':
        return this.ernie.requests.length;
    }
  }
}
