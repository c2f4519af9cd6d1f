/** Gateway keys (and the access gate that checks them), token budgets and spend budgets. */
import { Module } from '@nestjs/common';
import { SecretsModule } from '../secrets/secrets.module.js';
import { AccessGate } from './access-gate.js';
import { ApiKeyService } from './api-key.service.js';
import { BUDGET_CLOCK } from './auth.tokens.js';
import { BudgetService } from './budget.service.js';
import { SpendService } from './spend.service.js';

@Module({
  imports: [SecretsModule],
  providers: [ApiKeyService, AccessGate, BudgetService, SpendService, { provide: BUDGET_CLOCK, useValue: Date.now }],
  exports: [ApiKeyService, AccessGate, BudgetService, SpendService],
})
export class AuthModule {}
