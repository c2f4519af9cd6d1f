/** Deployment selection strategies: pure functions over candidate stats, with an injectable random source. */
import type { RoutingStrategy } from '../config/gateway-config.js';
import { pickWeighted } from './weighted-choice.js';

export interface SelectableDeployment {
  readonly weight: number;
  readonly stats: { inFlight: number; latencyEwmaMs: number | undefined };
}

export interface SelectionState {
  /** Round-robin position of the group. */
  cursor: number;
}

export function selectDeployment<T extends SelectableDeployment>(
  strategy: RoutingStrategy,
  candidates: readonly T[],
  state: SelectionState,
  random: () => number,
): T {
  if (candidates.length === 1) return candidates[0];
  switch (strategy) {
    case 'round-robin':
      return candidates[state.cursor++ % candidates.length];
    case 'least-busy':
      return fewest(candidates, (d) => d.stats.inFlight, random);
    case 'lowest-latency': {
      // Unmeasured deployments are tried first so that every one gets a latency figure.
      const unmeasured = candidates.filter((d) => d.stats.latencyEwmaMs === undefined);
      if (unmeasured.length > 0) return pickWeighted(unmeasured, random);
      return fewest(candidates, (d) => d.stats.latencyEwmaMs ?? 0, random);
    }
    case 'weighted':
    default:
      return pickWeighted(candidates, random);
  }
}

/** The candidate with the lowest score; ties are broken by weight, at random. */
function fewest<T extends SelectableDeployment>(
  candidates: readonly T[],
  score: (d: T) => number,
  random: () => number,
): T {
  let best = Infinity;
  let ties: T[] = [];
  for (const candidate of candidates) {
    const value = score(candidate);
    if (value < best) {
      best = value;
      ties = [candidate];
    } else if (value === best) {
      ties.push(candidate);
    }
  }
  return pickWeighted(ties, random);
}

/** Exponentially weighted moving average; the first sample seeds it. */
export function ewma(previous: number | undefined, sample: number, alpha = 0.3): number {
  return previous === undefined ? sample : previous + alpha * (sample - previous);
}
