/** Chat completions through the router (deployment choice, fallbacks, deadlines). */
import { Injectable } from '@nestjs/common';
import type { ChatCompletionRequest } from '../common/openai.types.js';
import {
  type RoutedCompletion,
  type RoutedStream,
  type RouteRequestContext,
  RouterService,
} from '../routing/router.service.js';

@Injectable()
export class ChatCompletionsService {
  constructor(private readonly router: RouterService) {}

  complete(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedCompletion> {
    return this.router.complete(request, context);
  }

  stream(request: ChatCompletionRequest, context: RouteRequestContext): Promise<RoutedStream> {
    return this.router.stream(request, context);
  }
}
