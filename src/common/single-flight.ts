/**
 * Coalesces identical concurrent work: while a call for a key is in flight, later callers for the same key
 * get the same promise instead of starting their own (e.g. N identical cache misses → one upstream call).
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  run(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.inFlight.get(key);
    if (running) return running;
    // The async wrapper turns a synchronous throw in `fn` into a rejection shared by every caller.
    const promise = (async () => fn())();
    this.inFlight.set(key, promise);
    // Registered before any caller's handlers, so the key is free again by the time callers resume.
    const release = () => {
      this.inFlight.delete(key);
    };
    promise.then(release, release);
    return promise;
  }

  /** Number of keys currently in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}
