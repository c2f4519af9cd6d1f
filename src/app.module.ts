import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { OpenAiErrorFilter } from './common/errors/openai-error.filter.js';
import { OpenAiValidationPipe } from './common/validation/validation.pipe.js';
import { CompletionsModule } from './completions/completions.module.js';
import { GatewayConfigModule } from './config/gateway-config.module.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { EmbeddingsModule } from './embeddings/embeddings.module.js';
import { AuthModule } from './auth/auth.module.js';
import { CacheModule } from './cache/cache.module.js';
import { HealthModule } from './health/health.module.js';
import { HttpModule } from './http/http.module.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';
import { SecretsModule } from './secrets/secrets.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { LlmClientModule } from './llm-client/llm-client.module.js';
import { ModelsModule } from './models/models.module.js';
import { ObservabilityModule } from './observability/observability.module.js';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GatewayConfigModule.forRoot(config),
        HttpModule,
        LifecycleModule,
        SecretsModule.forRoot(config.secrets),
        AuthModule,
        CacheModule.forRoot(config.cache),
        RateLimitModule.forRoot(config.rateLimit),
        ObservabilityModule.forRoot(),
        CompletionsModule,
        EmbeddingsModule,
        ModelsModule,
        HealthModule,
        LlmClientModule,
      ],
      providers: [
        { provide: APP_PIPE, useClass: OpenAiValidationPipe },
        { provide: APP_FILTER, useClass: OpenAiErrorFilter },
      ],
    };
  }
}
