/**
 * The admin web UI (`ui.enabled`, on by default; see docs/ui.md): the built front-end at `/ui`, sign-in for a
 * session cookie, and the two admin endpoints the UI's screens need. Global only to provide ADMIN_SESSIONS to the
 * auth module's access gate, which takes the session cookie on admin routes while this module is loaded.
 */
import { Global, Module } from '@nestjs/common';
import { ADMIN_SESSIONS } from '../auth/access-gate.js';
import { RoutingModule } from '../routing/routing.module.js';
import { UiAdminController } from './ui-admin.controller.js';
import { UiAssets } from './ui-assets.js';
import { UI_ASSETS, UiRoutes } from './ui-routes.js';
import { UiSessions } from './ui-sessions.js';
import { UiStatsService } from './ui-stats.service.js';

@Global()
@Module({
  imports: [RoutingModule],
  controllers: [UiAdminController],
  providers: [
    UiSessions,
    { provide: ADMIN_SESSIONS, useExisting: UiSessions },
    { provide: UI_ASSETS, useFactory: () => UiAssets.load() },
    UiRoutes,
    UiStatsService,
  ],
  exports: [ADMIN_SESSIONS],
})
export class UiModule {}
