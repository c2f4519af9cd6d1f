/** Weighted random choice over items with non-negative weights; `random` is injectable for tests. */
export function pickWeighted<T extends { weight: number }>(items: readonly T[], random: () => number): T {
  if (items.length === 1) return items[0];
  let total = 0;
  for (const item of items) total += item.weight;
  let point = random() * total;
  for (const item of items) {
    point -= item.weight;
    if (point < 0) return item;
  }
  // Floating-point rounding can leave `point` at ~0 after the last positive weight.
  for (let i = items.length - 1; i >= 0; i--) if (items[i].weight > 0) return items[i];
  return items[items.length - 1];
}
