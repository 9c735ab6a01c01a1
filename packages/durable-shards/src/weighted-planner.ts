/**
 * Balancing by measured weight (load or storage), moving whole slots.
 *
 * Each round takes the heaviest shard and the lightest, and moves from the first to the second
 * about as much weight as the smaller of the donor's excess and the receiver's room, walking down
 * the donor's slots from its highest so what moves stays mostly contiguous. It stops once the
 * heaviest shard is within the tolerance of the mean, or when the per-change slot limit is
 * reached. A slot heavier than the mean alone is a hot slot: no placement of whole slots can even
 * it out, so it stays where it is and is reported (with its hot keys, by the caller) instead of
 * being moved back and forth.
 */
import { ShardMap } from "./shard-map.js";
import { movesBetween, type Plan } from "./planner.js";

/** Limits of a weighted rebalance. */
export interface WeightedPlanOptions {
  /** Most slots the change moves. Default: a quarter of the keyspace's slots. */
  maxSlots?: number;
  /** Stop once the heaviest shard is at most this far above the mean (0.05: 5 %). Default 0.05. */
  tolerance?: number;
}

/** A slot heavier than a shard's fair share: it cannot be balanced by moving slots. */
export interface HotSlot {
  slot: number;
  shard: string;
  weight: number;
}

/** A plan with the balance it predicts: heaviest shard over the mean, before and after. */
export interface WeightedPlan extends Plan {
  before: number;
  after: number;
  hotSlots: HotSlot[];
}

/** Plans moves of whole slots so that each shard's summed `weights` (per slot) near the mean. */
export function planByWeight(current: ShardMap, weights: ArrayLike<number>, options: WeightedPlanOptions = {}): WeightedPlan {
  const slotCount = current.slotCount;
  const maxSlots = options.maxSlots ?? Math.floor(slotCount / 4);
  const tolerance = options.tolerance ?? 0.05;
  const n = current.shards.length;
  const owners = current.ownerIndexes();
  const load = new Array<number>(n).fill(0);
  let total = 0;
  for (let slot = 0; slot < slotCount; slot++) {
    const w = weights[slot] ?? 0;
    load[owners[slot]!]! += w;
    total += w;
  }
  const mean = total / n;
  const ratio = () => (mean > 0 ? Math.max(...load) / mean : 1);
  const before = ratio();
  const hotSlots: HotSlot[] = [];
  const pinned = new Uint8Array(slotCount);
  for (let slot = 0; slot < slotCount; slot++) {
    if (mean > 0 && (weights[slot] ?? 0) > mean) {
      pinned[slot] = 1;
      hotSlots.push({ slot, shard: current.shards[owners[slot]!]!.id, weight: weights[slot]! });
    }
  }

  let moved = 0;
  const exhausted = new Set<number>();
  // Walks down the donor's slots from its highest, giving the receiver those `fits` allows, until
  // about `amount` moved. Slots without weight are taken only inside a run already started, so
  // what moves stays in few ranges (a compact map for routers, few ranges per move) without moving
  // cold slots for nothing; a run's trailing weightless slots (after its last weighted one) go back.
  const takeSlots = (donor: number, receiver: number, amount: number, fits: (taken: number, w: number) => boolean) => {
    let taken = 0;
    let takenSlots = 0;
    let inRun = false;
    let tail: number[] = [];
    const endRun = () => {
      for (const slot of tail) owners[slot] = donor;
      takenSlots -= tail.length;
      tail = [];
      inRun = false;
    };
    for (let slot = slotCount - 1; slot >= 0 && moved + takenSlots < maxSlots; slot--) {
      const w = weights[slot] ?? 0;
      if (owners[slot] !== donor || pinned[slot] || !fits(taken, w) || (w === 0 && !inRun)) {
        if (inRun) endRun();
        continue;
      }
      owners[slot] = receiver;
      inRun = true;
      taken += w;
      takenSlots++;
      if (w === 0) tail.push(slot);
      else tail = [];
      if (taken >= amount * 0.99) break;
    }
    endRun();
    return { taken, takenSlots };
  };
  for (let round = 0; round < 4 * n && mean > 0 && moved < maxSlots; round++) {
    const donors = load.map((w, i) => [w, i] as const).filter(([, i]) => !exhausted.has(i));
    if (donors.length === 0) break;
    const [donorLoad, donor] = donors.reduce((a, b) => (b[0] > a[0] ? b : a));
    if (donorLoad <= mean * (1 + tolerance)) break;
    const receiver = load.reduce((best, w, i) => (w < load[best]! ? i : best), 0);
    const amount = Math.min(donorLoad - mean, mean - load[receiver]!);
    // First without pushing the receiver over the tolerance, so one round's move does not make the
    // receiver the next donor. Only when that takes nothing (few, heavy slots: a small keyspace),
    // a slot is taken whenever it lowers the pair's larger load (receiver + taken + w < donor −
    // taken, i.e. 2·taken + w < donor − receiver), which still evens the pair out.
    const room = mean * (1 + tolerance) - load[receiver]!;
    let { taken, takenSlots } = takeSlots(donor, receiver, amount, (taken, w) => taken + w <= room);
    if (takenSlots === 0) {
      const limit = donorLoad - load[receiver]!;
      ({ taken, takenSlots } = takeSlots(donor, receiver, amount, (taken, w) => 2 * taken + w < limit));
    }
    if (takenSlots === 0) {
      exhausted.add(donor);
      continue;
    }
    load[donor]! -= taken;
    load[receiver]! += taken;
    moved += takenSlots;
  }

  const map = ShardMap.fromOwners(current.keyspace, current.version + 1, current.shards, owners);
  return { map, ...movesBetween(current, current.shards, owners), before, after: ratio(), hotSlots };
}
