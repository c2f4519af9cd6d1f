/**
 * The management plane on PostgreSQL, imported only when the config has a `database` section (see app.module.ts):
 * the database and its migrations.
 */
import { Module } from '@nestjs/common';
import { DatabaseService } from './database.js';

@Module({
  providers: [DatabaseService],
  exports: [DatabaseService],
})
export class ManagementModule {}
