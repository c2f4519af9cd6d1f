/**
 * A deployment's circuit breaker. Closed: failures are counted in a sliding window; `failureThreshold`
 * within `windowMs` opens it. Open: no traffic until the open period ends (a 429's Retry-After sets that
 * period directly). Then half-open: up to `halfOpenProbes` trial requests; a success closes it, a failure
 * re-opens it for twice as long (capped). A failure while open extends it too.
 */
import type { CircuitBreakerConfig } from '../config/gateway-config.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  private failures: number[] = [];
  private openUntil = 0;
  private openPeriodMs: number;
  private probesInFlight = 0;
  private opened = false;
  lastFailureAt = 0;

  constructor(
    private readonly config: CircuitBreakerConfig,
    private readonly now: () => number = Date.now,
  ) {
    this.openPeriodMs = config.openMs;
  }

  state(): BreakerState {
    if (!this.opened) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Whether a request may go to this deployment now; a half-open admission takes a probe slot. */
  tryAcquire(): boolean {
    const state = this.state();
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.probesInFlight >= this.config.halfOpenProbes) return false;
    this.probesInFlight++;
    return true;
  }

  /** Whether `tryAcquire` would admit, without taking a slot. */
  available(): boolean {
    const state = this.state();
    return state === 'closed' || (state === 'half-open' && this.probesInFlight < this.config.halfOpenProbes);
  }

  /** Admits a request although the breaker is open (every deployment of a group is open). */
  forceAcquire(): void {
    if (this.opened) this.probesInFlight++;
  }

  onSuccess(): void {
    if (this.opened) {
      this.opened = false;
      this.probesInFlight = 0;
      this.openPeriodMs = this.config.openMs;
    }
    this.failures = [];
  }

  /** Releases a probe slot without a verdict (the client left, or a caller error). */
  release(): void {
    if (this.probesInFlight > 0) this.probesInFlight--;
  }

  onFailure(retryAfterMs?: number): void {
    const now = this.now();
    this.lastFailureAt = now;
    if (retryAfterMs !== undefined && retryAfterMs > 0) {
      this.open(now, Math.min(retryAfterMs, this.config.maxOpenMs));
      return;
    }
    if (this.opened) {
      this.openPeriodMs = Math.min(this.openPeriodMs * 2, this.config.maxOpenMs);
      this.open(now, this.openPeriodMs);
      return;
    }
    const windowStart = now - this.config.windowMs;
    let keep = 0;
    while (keep < this.failures.length && this.failures[keep] <= windowStart) keep++;
    if (keep > 0) this.failures = this.failures.slice(keep);
    this.failures.push(now);
    if (this.failures.length >= this.config.failureThreshold) this.open(now, this.openPeriodMs);
  }

  snapshot(): { state: BreakerState; openUntil: number | null; recentFailures: number; lastFailureAt: number | null } {
    const state = this.state();
    return {
      state,
      openUntil: this.opened ? this.openUntil : null,
      recentFailures: this.failures.length,
      lastFailureAt: this.lastFailureAt || null,
    };
  }

  private open(now: number, periodMs: number): void {
    this.opened = true;
    this.probesInFlight = 0;
    this.failures = [];
    this.openUntil = Math.max(this.openUntil, now + periodMs);
  }
}
