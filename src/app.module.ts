/**
 * The gateway, by feature. Global: the validated config and the metrics registry (every module uses both); every
 * other module is imported where it is used. The request gates (access, drain, telemetry, HTTP checks) are put
 * together in app.factory.ts.
 */
import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdminDocsModule } from './admin-docs/admin-docs.module.js';
import { AuthModule } from './auth/auth.module.js';
import { OpenAiErrorFilter } from './common/errors/openai-error.filter.js';
import { OpenAiValidationPipe } from './common/validation/validation.pipe.js';
import { ChatModule } from './fronts/chat/chat.module.js';
import { MessagesModule } from './fronts/messages/messages.module.js';
import { ResponsesModule } from './fronts/responses/responses.module.js';
import { GatewayConfigModule } from './config/gateway-config.module.js';
import type { GatewayConfig } from './config/gateway-config.js';
import { EmbeddingsModule } from './embeddings/embeddings.module.js';
import { HealthModule } from './health/health.module.js';
import { HttpModule } from './http/http.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { LlmClientModule } from './llm-client/llm-client.module.js';
import { ManagementModule } from './management/management.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ModelsModule } from './models/models.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { AdminThrottleModule } from './rate-limit/admin-throttle.js';
import { RoutingModule } from './routing/routing.module.js';
import { UiModule } from './ui/ui.module.js';
import { UsageModule } from './usage/usage.module.js';

@Module({})
export class AppModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        GatewayConfigModule.forRoot(config),
        MetricsModule,
        HttpModule,
        ObservabilityModule,
        AuthModule,
        LifecycleModule,
        ChatModule,
        MessagesModule,
        ResponsesModule,
        EmbeddingsModule,
        ModelsModule,
        RoutingModule,
        UsageModule,
        HealthModule,
        AdminThrottleModule,
        AdminDocsModule,
        LlmClientModule,
        // Without a database section the gateway runs on the YAML file alone, as before: no tables, no admin key API.
        ...(config.database ? [ManagementModule] : []),
        ...(config.ui.enabled ? [UiModule] : []),
      ],
      providers: [
        { provide: APP_PIPE, useClass: OpenAiValidationPipe },
        { provide: APP_FILTER, useClass: OpenAiErrorFilter },
      ],
    };
  }
}
