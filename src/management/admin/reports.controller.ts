/** What the gateway recorded, for admins: daily usage, the request log, the audit log. */
import { Controller, Get, Query } from '@nestjs/common';
import { Access } from '../../http/route-config.js';
import { AdminThrottled } from '../../rate-limit/admin-throttle.js';
import { parseInput } from './admin-input.js';
import { AuditLogQuery, RequestLogQuery, UsageQuery } from './admin.dto.js';
import { ReportsService } from './reports.service.js';

@Controller('admin')
@AdminThrottled()
export class ReportsController {
  constructor(private readonly reports: ReportsService) {}

  /** Not under /admin/usage: `/admin/usage/:keyId` (the per-key totals) would shadow key ids. */
  @Get('daily-usage')
  @Access('admin')
  usage(@Query() query: unknown) {
    return this.reports.usage(parseInput(UsageQuery, query, 'query'));
  }

  @Get('request-log')
  @Access('admin')
  requests(@Query() query: unknown) {
    return this.reports.requests(parseInput(RequestLogQuery, query, 'query'));
  }

  @Get('audit-log')
  @Access('admin')
  audit(@Query() query: unknown) {
    return this.reports.audit(parseInput(AuditLogQuery, query, 'query'));
  }
}
