/**
 * One request's upstream attempt budget, shared by routing (next deployment, fallbacks) and the transport's
 * own retries, so the total number of upstream HTTP requests is bounded however failures cascade.
 */
export class AttemptBudget {
  private used = 0;

  constructor(readonly max: number) {}

  take(): boolean {
    if (this.used >= this.max) return false;
    this.used++;
    return true;
  }

  get attempts(): number {
    return this.used;
  }

  get remaining(): number {
    return this.max - this.used;
  }
}
