/**
 * Shard-map planning: which slots move when shards are added, removed or rebalanced.
 *
 * Every shard of the new set gets a target of ⌊S/n⌋ or ⌈S/n⌉ slots; the ⌈S/n⌉ targets go to the
 * shards that hold the most slots already, so as few slots as possible move. Slots then move only
 * from shards above their target (removed shards have target 0) to shards below it. Starting from
 * a balanced map, that means an added shard only receives, a removed shard only gives, and nothing
 * moves between unchanged shards: the movement is the minimum any balanced result needs.
 */
import { ShardError } from "./errors.js";
import { ShardMap, type ShardInfo, type SlotRange } from "./shard-map.js";

/** Slots that change owner from `from` to `to`. */
export interface SlotMove {
  from: string;
  to: string;
  ranges: SlotRange[];
}

/** A change to a keyspace's shard set. */
export interface ShardChange {
  add?: readonly ShardInfo[];
  remove?: readonly string[];
}

/** The outcome of planning: the next map and the moves that lead to it. */
export interface Plan {
  map: ShardMap;
  moves: SlotMove[];
  /** Number of slots that change owner. */
  movedSlots: number;
}

/** The balanced initial map of a new keyspace: contiguous ranges, sizes differing by at most one. */
export function initialMap(keyspace: string, slotCount: number, shards: readonly ShardInfo[]): ShardMap {
  assertDistinct(shards.map((s) => s.id));
  if (shards.length === 0) throw new ShardError("InvalidArgument", "a keyspace needs at least one shard");
  if (shards.length > slotCount) {
    throw new ShardError("InvalidArgument", `${shards.length} shards exceed the ${slotCount} slots of '${keyspace}'`);
  }
  const owners = new Uint16Array(slotCount);
  const base = Math.floor(slotCount / shards.length);
  const extra = slotCount % shards.length;
  let slot = 0;
  shards.forEach((_, i) => {
    const size = base + (i < extra ? 1 : 0);
    owners.fill(i, slot, slot + size);
    slot += size;
  });
  return ShardMap.fromOwners(keyspace, 1, shards, owners);
}

/**
 * Plans `change` against `current`. With no shards added or removed it rebalances. The result's
 * version is `current.version + 1` even when nothing moves, so callers can skip empty plans.
 */
export function planChange(current: ShardMap, change: ShardChange): Plan {
  const removeIds = new Set(change.remove ?? []);
  const added = change.add ?? [];
  const currentIds = new Set(current.shards.map((s) => s.id));
  for (const id of removeIds) {
    if (!currentIds.has(id)) throw new ShardError("UnknownShard", `shard '${id}' is not in keyspace '${current.keyspace}'`);
  }
  assertDistinct(added.map((s) => s.id));
  for (const shard of added) {
    if (currentIds.has(shard.id)) throw new ShardError("ShardExists", `shard '${shard.id}' is already in keyspace '${current.keyspace}'`);
  }

  const kept = current.shards.filter((s) => !removeIds.has(s.id));
  const next: ShardInfo[] = [...kept, ...added];
  if (kept.length === 0 && added.length === 0) {
    throw new ShardError("LastShard", `removing every shard of '${current.keyspace}' would leave its slots without an owner`);
  }
  const slotCount = current.slotCount;
  if (next.length > slotCount) {
    throw new ShardError("InvalidArgument", `${next.length} shards exceed the ${slotCount} slots of '${current.keyspace}'`);
  }

  // Index translation: old index → new index (or -1 when removed).
  const newIndexOf = new Map(next.map((s, i) => [s.id, i]));
  const oldToNew = current.shards.map((s) => newIndexOf.get(s.id) ?? -1);
  const counts = new Array<number>(next.length).fill(0);
  current.slotCounts().forEach((count, oldIndex) => {
    const n = oldToNew[oldIndex]!;
    if (n >= 0) counts[n] = count;
  });

  const targets = balancedTargets(slotCount, counts);
  const owners = current.ownerIndexes();
  const newOwners = new Uint16Array(slotCount);
  const surplus = counts.map((c, i) => c - targets[i]!);
  // Slots to hand out: every slot of a removed shard, and the highest slots of shards over target
  // (taking from the top keeps the donor's remaining slots contiguous).
  const freed: number[] = [];
  for (let slot = slotCount - 1; slot >= 0; slot--) {
    const n = oldToNew[owners[slot]!]!;
    if (n < 0) {
      freed.push(slot);
    } else if (surplus[n]! > 0) {
      surplus[n]!--;
      freed.push(slot);
    } else {
      newOwners[slot] = n;
    }
  }
  freed.reverse();

  const deficits = counts.map((c, i) => targets[i]! - c);
  let receiver = 0;
  for (const slot of freed) {
    while (deficits[receiver]! <= 0) receiver++;
    deficits[receiver]!--;
    newOwners[slot] = receiver;
  }

  return { map: ShardMap.fromOwners(current.keyspace, current.version + 1, next, newOwners), ...movesBetween(current, next, newOwners) };
}

/**
 * The moves from `current` to the map giving each slot to `shards[owners[slot]]`, grouped by
 * source and target shard (ranges ascending), and how many slots change owner.
 */
export function movesBetween(current: ShardMap, shards: readonly ShardInfo[], owners: Uint16Array): { moves: SlotMove[]; movedSlots: number } {
  const was = current.ownerIndexes();
  const byPair = new Map<string, SlotMove>();
  let movedSlots = 0;
  for (let slot = 0; slot < owners.length; slot++) {
    const from = current.shards[was[slot]!]!.id;
    const to = shards[owners[slot]!]!.id;
    if (from === to) continue;
    movedSlots++;
    const pair = `${from}\u0000${to}`;
    let move = byPair.get(pair);
    if (!move) byPair.set(pair, (move = { from, to, ranges: [] }));
    const last = move.ranges[move.ranges.length - 1];
    if (last && last[1] === slot) last[1] = slot + 1;
    else move.ranges.push([slot, slot + 1]);
  }
  return { moves: [...byPair.values()], movedSlots };
}

/**
 * Target slot counts: ⌊S/n⌋ each, plus one for the S mod n shards that hold the most slots now
 * (ties broken by position, so plans are deterministic).
 */
function balancedTargets(slotCount: number, counts: readonly number[]): number[] {
  const n = counts.length;
  const base = Math.floor(slotCount / n);
  const targets = new Array<number>(n).fill(base);
  const order = counts.map((_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
  for (let k = 0; k < slotCount % n; k++) targets[order[k]!]!++;
  return targets;
}

function assertDistinct(ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) throw new ShardError("InvalidArgument", `shard id '${id}' appears twice`);
    seen.add(id);
  }
}
