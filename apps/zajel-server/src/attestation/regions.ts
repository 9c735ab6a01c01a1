/** Region selection of a challenge (§4.3.4), with unbiased cryptographic randomness. */
import type { ChallengeRegion, CriticalRegion } from "./model.js";

/** A uniform integer in [0, n) by rejection sampling over 32-bit random words. */
export function randomInt(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) throw new RangeError(`randomInt: bad bound ${n}`);
  const limit = Math.floor(2 ** 32 / n) * n;
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    if (word[0]! < limit) return word[0]! % n;
  }
}

/**
 * `k` ∈ {3, 4, 5} (capped at the number of regions) distinct regions, each draw weighted by
 * `weight` (default 1) among the regions not drawn yet.
 */
export function selectRegions(regions: readonly CriticalRegion[]): ChallengeRegion[] {
  const k = Math.min(3 + randomInt(3), regions.length);
  const remaining = regions.map((r) => ({ region: r, weight: r.weight ?? 1 }));
  const chosen: ChallengeRegion[] = [];
  for (let index = 0; index < k; index++) {
    const total = remaining.reduce((sum, r) => sum + r.weight, 0);
    let pick = randomInt(total);
    const at = remaining.findIndex((r) => (pick -= r.weight) < 0);
    const [{ region }] = remaining.splice(at, 1) as [{ region: CriticalRegion; weight: number }];
    chosen.push({ index, offset: region.offset, length: region.length });
  }
  return chosen;
}
