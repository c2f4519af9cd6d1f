/**
 * The management plane on PostgreSQL, imported only when the config has a `database` section (see app.module.ts):
 * the database and its migrations, the in-memory cache of its keys (key-cache.ts), the batched request log writer
 * (request-log.writer.ts), and the admin API for keys, teams, usage, the request log and the audit log.
 */
import { Module } from '@nestjs/common';
import { KeysController } from './admin/keys.controller.js';
import { KeysService } from './admin/keys.service.js';
import { ReportsController } from './admin/reports.controller.js';
import { ReportsService } from './admin/reports.service.js';
import { TeamsController } from './admin/teams.controller.js';
import { TeamsService } from './admin/teams.service.js';
import { AuthModule } from '../auth/auth.module.js';
import { DatabaseService } from './database.js';
import { KeyCache } from './key-cache.js';
import { RequestLogWriter } from './request-log.writer.js';
import { ObservabilityModule } from '../observability/observability.module.js';

@Module({
  imports: [AuthModule, ObservabilityModule],
  controllers: [KeysController, TeamsController, ReportsController],
  providers: [DatabaseService, KeyCache, RequestLogWriter, KeysService, TeamsService, ReportsService],
  exports: [DatabaseService],
})
export class ManagementModule {}
