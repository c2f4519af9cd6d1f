/**
 * A child AbortController that follows its parent signal and (optionally) a timeout: one listener and one
 * timer, both removed by `dispose()`. Cheaper on the hot path than AbortSignal.any + AbortSignal.timeout,
 * which allocate weak references and finalization records per call.
 */
export interface LinkedAbort {
  readonly signal: AbortSignal;
  /** Aborts the child (reason: `reason`, or the parent's). */
  abort(reason?: unknown): void;
  /** Detaches from the parent and clears the timer; the child stays as it is. */
  dispose(): void;
}

export class DeadlineExceeded extends Error {
  constructor(readonly ms: number) {
    super(`deadline of ${ms} ms exceeded`);
  }
}

export function linkedAbort(parent: AbortSignal, timeoutMs?: number): LinkedAbort {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onParentAbort = () => controller.abort(parent.reason);
  const dispose = () => {
    parent.removeEventListener('abort', onParentAbort);
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  if (parent.aborted) {
    controller.abort(parent.reason);
  } else {
    parent.addEventListener('abort', onParentAbort);
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => controller.abort(new DeadlineExceeded(timeoutMs)), timeoutMs);
      timer.unref();
    }
  }
  return {
    signal: controller.signal,
    abort: (reason?: unknown) => controller.abort(reason),
    dispose,
  };
}
