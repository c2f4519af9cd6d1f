import { Access } from '../http/route-config.js';
import { AdminThrottled } from '../rate-limit/admin-throttle.js';
import { Controller, Get, Param } from '@nestjs/common';
import { echo, NotFoundError } from '../common/errors/gateway.error.js';
import { type KeyUsage, UsageService } from './usage.service.js';

/** Tokens and cost per gateway key since usage was first recorded (admin keys only, see app.factory.ts). */
@Controller('admin')
@AdminThrottled()
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  @Get('usage')
  @Access('admin')
  async all(): Promise<{ object: 'list'; data: KeyUsage[] }> {
    return { object: 'list', data: await this.usage.all() };
  }

  @Get('usage/:keyId')
  @Access('admin')
  async forKey(@Param('keyId') keyId: string): Promise<KeyUsage> {
    const usage = await this.usage.forKey(keyId);
    if (!usage)
      throw new NotFoundError(`No usage is recorded for key '${echo(keyId)}'.`, 'key_usage_not_found', 'keyId');
    return usage;
  }
}
