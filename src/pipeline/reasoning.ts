/**
 * Reasoning knobs a deployment cannot take: asking for reasoning is never an error, so a request for a model without
 * it goes without the knobs, and the answer carries `x-gateway-reasoning: ignored`.
 */
import type { ChatCompletionRequest } from '../common/openai.types.js';
import type { Deployment } from '../routing/model-router.js';
import { forDeployment } from '../routing/router.service.js';

export const REASONING_HEADER = 'x-gateway-reasoning';

export function asksForReasoning(request: ChatCompletionRequest): boolean {
  const effort = request.reasoning_effort;
  const thinking = request.thinking;
  return (
    (effort !== undefined && effort !== null && effort !== 'none') || (thinking != null && thinking.type !== 'disabled')
  );
}

/** The request as the deployment receives it (forDeployment), and whether reasoning knobs were left out of it. */
export function chatFor(
  request: ChatCompletionRequest,
  deployment: Deployment,
): { request: ChatCompletionRequest; reasoningIgnored: boolean } {
  const provider = deployment.provider;
  if (
    provider.takesReasoning === undefined ||
    !asksForReasoning(request) ||
    provider.takesReasoning(deployment.model)
  ) {
    return { request: forDeployment(request, deployment), reasoningIgnored: false };
  }
  const { reasoning_effort: _effort, thinking: _thinking, ...rest } = request;
  return { request: { ...rest, model: deployment.model }, reasoningIgnored: true };
}
