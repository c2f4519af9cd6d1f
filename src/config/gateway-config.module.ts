/**
 * Makes the validated GatewayConfig available everywhere: through @nestjs/config's ConfigService
 * (`config.get('gateway')`) and, typed, through the GATEWAY_CONFIG token.
 */
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, registerAs } from '@nestjs/config';
import { GATEWAY_CONFIG } from './config.tokens.js';
import type { GatewayConfig } from './gateway-config.js';

@Global()
@Module({})
export class GatewayConfigModule {
  static forRoot(config: GatewayConfig): DynamicModule {
    return {
      module: GatewayConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [registerAs('gateway', () => config)] })],
      providers: [{ provide: GATEWAY_CONFIG, useValue: config }],
      exports: [GATEWAY_CONFIG, ConfigModule],
    };
  }
}
