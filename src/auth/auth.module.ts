import { Global, Module } from '@nestjs/common';
import { AccessGate } from './access-gate.js';
import { ApiKeyService } from './api-key.service.js';
import { BUDGET_CLOCK, BudgetService } from './budget.service.js';

@Global()
@Module({
  providers: [ApiKeyService, AccessGate, BudgetService, { provide: BUDGET_CLOCK, useValue: Date.now }],
  exports: [ApiKeyService, AccessGate, BudgetService],
})
export class AuthModule {}
