/** The admin web UI served at `/ui` (see src/ui/ui.module.ts and docs/ui.md). */
import { IsBoolean, IsIn, IsInt, Max, Min } from 'class-validator';

export class UiConfig {
  /** Serve the UI, its sign-in and session cookie; false removes every `/ui` route (admin keys still work). */
  @IsBoolean() enabled: boolean = true;
  /** A session ends this long after sign-in, whatever the activity. */
  @IsInt() @Min(5) @Max(7 * 24 * 60) sessionTtlMinutes: number = 480;
  /** Sessions held at once; signing in past this ends the oldest. */
  @IsInt() @Min(1) @Max(100_000) maxSessions: number = 1_000;
  /**
   * The cookie's `Secure` attribute: `auto` sets it when the request came over TLS (directly, or through a proxy
   * Fastify trusts); `always` sets it even when the gateway sees plain HTTP behind a TLS-terminating proxy.
   */
  @IsIn(['auto', 'always']) secureCookie: 'auto' | 'always' = 'auto';
}
