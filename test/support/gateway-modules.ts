/** What a feature module needs around it in a Nest testing module: the (validated) config and the metrics. */
import type { DynamicModule } from '@nestjs/common';
import { validateGatewayConfig } from '../../src/config/config-loader.js';
import { GatewayConfigModule } from '../../src/config/gateway-config.module.js';
import { MetricsModule } from '../../src/metrics/metrics.module.js';

/** `sections` (cache, secrets, rateLimit, …) on top of one provider and one model. */
export function gatewayModules(sections: Record<string, unknown>): Array<DynamicModule | typeof MetricsModule> {
  const config = validateGatewayConfig({
    providers: [{ name: 'p', type: 'openai', baseUrl: 'http://127.0.0.1:1/v1' }],
    models: [{ name: 'm', deployments: [{ provider: 'p', model: 'm' }] }],
    ...sections,
  });
  return [GatewayConfigModule.forRoot(config), MetricsModule];
}
