/** `POST /v1/chat/completions`: the route (registered by this module) and the service every chat call goes through. */
import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { CacheModule } from '../cache/cache.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { RoutingModule } from '../routing/routing.module.js';
import { UsageModule } from '../usage/usage.module.js';
import { ChatCompletionsRoute } from './chat-completions.route.js';
import { ChatCompletionsService } from './chat-completions.service.js';

@Module({
  imports: [RoutingModule, AuthModule, RateLimitModule, CacheModule, UsageModule],
  providers: [ChatCompletionsService, ChatCompletionsRoute],
  exports: [ChatCompletionsService],
})
export class CompletionsModule {}
