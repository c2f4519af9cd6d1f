import { Global, Module } from '@nestjs/common';
import { ApiKeyService } from './api-key.service.js';
import { BUDGET_CLOCK, BudgetService } from './budget.service.js';

@Global()
@Module({
  providers: [ApiKeyService, BudgetService, { provide: BUDGET_CLOCK, useValue: Date.now }],
  exports: [ApiKeyService, BudgetService],
})
export class AuthModule {}
