/**
 * Counts in-flight requests and drains them at shutdown: once draining, readiness fails and new requests
 * get 503 with Retry-After, while those in flight (streams included) get up to `server.drainTimeoutMs`.
 * Nest awaits `beforeApplicationShutdown` before it closes the HTTP server.
 */
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { GATEWAY_CONFIG } from '../config/config.tokens.js';
import type { GatewayConfig } from '../config/gateway-config.js';

@Injectable()
export class TrafficService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(TrafficService.name);
  private active = 0;
  private isDraining = false;
  private onIdle: (() => void) | undefined;

  constructor(@Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig) {}

  get inFlight(): number {
    return this.active;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  begin(): void {
    this.active++;
  }

  end(): void {
    this.active--;
    if (this.active === 0) this.onIdle?.();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.isDraining = true;
    if (this.active === 0) return;
    const limitMs = this.config.server.drainTimeoutMs;
    this.logger.log(`draining ${this.active} in-flight request(s), up to ${limitMs} ms`);
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => {
        this.onIdle = () => resolve(true);
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), limitMs);
      }),
    ]);
    clearTimeout(timer);
    this.onIdle = undefined;
    if (drained) this.logger.log('drained');
    else this.logger.warn(`drain time over with ${this.active} request(s) still in flight`);
  }
}
