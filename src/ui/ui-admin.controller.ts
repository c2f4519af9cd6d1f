/**
 * The two admin endpoints the UI needs that the rest of the admin API does not have: the Overview's live figures
 * (`GET /admin/stats`) and the Providers screen's "test" button (`POST /admin/routing/test`), which sends one tiny
 * chat request straight to the named deployment's provider. The test bypasses routing on purpose: it neither
 * takes nor trips the deployment's breaker, is not rate limited, cached or charged to a key, and shows exactly
 * what that one deployment answers.
 */
import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { Cancellation } from '../common/cancellation.js';
import { NotFoundError, echo } from '../common/errors/gateway.error.js';
import { toGatewayError } from '../common/errors/to-gateway-error.js';
import { Access } from '../http/route-config.js';
import { parseInput } from '../management/admin/admin-input.js';
import { AdminThrottled } from '../rate-limit/admin-throttle.js';
import { AttemptBudget } from '../routing/attempt-budget.js';
import { ModelRouter } from '../routing/model-router.js';
import { DeploymentTestDto } from './ui-admin.dto.js';
import { type StatsView, UiStatsService } from './ui-stats.service.js';

const TEST_TIMEOUT_MS = 20_000;

export interface DeploymentTestResult {
  object: 'deployment_test';
  deployment: string;
  provider: string;
  model: string;
  ok: boolean;
  latencyMs: number;
  /** The answer's text (at most 500 characters) and usage, when it worked. */
  content: string | null;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  /** The failure, in the gateway's error shape, when it did not. */
  error: { status: number; type: string; code: string | null; message: string } | null;
}

@Controller('admin')
@AdminThrottled()
export class UiAdminController {
  constructor(
    private readonly stats: UiStatsService,
    private readonly router: ModelRouter,
  ) {}

  @Get('stats')
  @Access('admin')
  overview(): Promise<StatsView> {
    return this.stats.view();
  }

  @Post('routing/test')
  @Access('admin', { jsonBody: true })
  @HttpCode(200)
  async test(@Body() body: unknown): Promise<DeploymentTestResult> {
    const input = parseInput(DeploymentTestDto, body);
    const deployment = this.router.deployments().find((d) => d.id === input.deployment);
    if (!deployment) {
      throw new NotFoundError(
        `No deployment '${echo(input.deployment)}': GET /admin/routing lists them.`,
        'deployment_not_found',
        'deployment',
      );
    }
    const cancellation = new Cancellation();
    const timer = setTimeout(() => cancellation.cancel(new Error('deployment test timed out')), TEST_TIMEOUT_MS);
    const started = performance.now();
    const result: DeploymentTestResult = {
      object: 'deployment_test',
      deployment: deployment.id,
      provider: deployment.provider.name,
      model: deployment.model,
      ok: false,
      latencyMs: 0,
      content: null,
      finishReason: null,
      usage: null,
      error: null,
    };
    try {
      const answer = await deployment.provider.chat(
        {
          model: deployment.model,
          messages: [{ role: 'user', content: input.prompt ?? 'Reply with OK.' }],
          max_tokens: input.maxTokens ?? 16,
        },
        {
          cancellation,
          requestId: `ui-test-${Date.now().toString(36)}`,
          budget: new AttemptBudget(1),
          deadlineAt: started + TEST_TIMEOUT_MS,
        },
      );
      const choice = answer.choices[0];
      const content = choice?.message.content;
      result.ok = true;
      result.content = typeof content === 'string' ? content.slice(0, 500) : null;
      result.finishReason = choice?.finish_reason ?? null;
      result.usage = answer.usage
        ? { promptTokens: answer.usage.prompt_tokens, completionTokens: answer.usage.completion_tokens }
        : null;
    } catch (caught) {
      const error = toGatewayError(caught, 0);
      result.error = { status: error.status, type: error.type, code: error.code, message: error.message };
    } finally {
      clearTimeout(timer);
      result.latencyMs = Math.round((performance.now() - started) * 10) / 10;
    }
    return result;
  }
}
