/**
 * A dependency's health judged by the outcomes of its commands, not only by its connection: a frozen server (SIGSTOP,
 * a hung host) keeps the TCP connection open while every command times out. Degraded while the last command failed,
 * and for `recoveryMs` after the last failure, so that one success amid timeouts does not flap it back to up.
 */
import type { DependencyState } from '../metrics/gateway-metrics.js';

export class CommandHealth {
  private lastFailureAt = -Infinity;
  private lastSuccessAt = -Infinity;

  constructor(
    private readonly recoveryMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  succeeded(): void {
    this.lastSuccessAt = this.now();
  }

  failed(): void {
    this.lastFailureAt = this.now();
  }

  state(connected: boolean): Exclude<DependencyState, 'disabled'> {
    if (!connected || this.lastFailureAt > this.lastSuccessAt) return 'degraded';
    return this.now() - this.lastFailureAt < this.recoveryMs ? 'degraded' : 'up';
  }
}
