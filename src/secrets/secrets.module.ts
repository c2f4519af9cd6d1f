/**
 * Provides SecretsService everywhere. The AppModule imports `SecretsModule.forRoot(config.secrets)`;
 * providers then `await secrets.resolve(ref)` at start-up and keep `secrets.handle(ref)`.
 */
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { SECRETS_CONFIG, type SecretsConfig } from './secrets.config.js';
import { SecretsService } from './secrets.service.js';

@Global()
@Module({})
export class SecretsModule {
  static forRoot(config: SecretsConfig): DynamicModule {
    return {
      module: SecretsModule,
      providers: [{ provide: SECRETS_CONFIG, useValue: config }, SecretsService],
      exports: [SecretsService],
    };
  }
}
