/** The admin API's OpenAPI document (`GET /admin/openapi.json`). */
import { Module } from '@nestjs/common';
import { HttpModule } from '../http/http.module.js';
import { AdminDocsController } from './admin-docs.controller.js';

@Module({ imports: [HttpModule], controllers: [AdminDocsController] })
export class AdminDocsModule {}
