/**
 * `GET /admin/openapi.json`: the admin API document, limited to the routes this instance serves (without a
 * `database` section there are no key, team or log routes).
 */
import { Controller, Get } from '@nestjs/common';
import { RouteTable } from '../http/request-gates.js';
import { Access } from '../http/route-config.js';
import { AdminThrottled } from '../rate-limit/admin-throttle.js';
import { ADMIN_OPENAPI, openApiPath } from './admin-openapi.js';

@Controller('admin')
@AdminThrottled()
export class AdminDocsController {
  private document: object | undefined;

  constructor(private readonly routes: RouteTable) {}

  @Get('openapi.json')
  @Access('admin')
  openapi(): object {
    // Built on the first call: the route table is complete only once every module has registered its routes.
    this.document ??= this.build();
    return this.document;
  }

  private build(): object {
    const served = new Set(
      this.routes.routes.filter((route) => route.access === 'admin').map((route) => openApiPath(route.url)),
    );
    const paths = Object.fromEntries(Object.entries(ADMIN_OPENAPI.paths).filter(([path]) => served.has(path)));
    return { ...ADMIN_OPENAPI, paths };
  }
}
