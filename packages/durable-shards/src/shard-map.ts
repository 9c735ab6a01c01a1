/**
 * The versioned slot → shard map of one keyspace.
 *
 * On the wire and in the directory the map is a list of ranges; in a router it is expanded into a
 * dense `Uint16Array` (slot → shard index), so a lookup is one hash, one multiply and one array
 * read. At the default 65,536 slots that table is 128 KiB per keyspace.
 */
import { ShardError } from "./errors.js";
import { hashKey, slotOfHash } from "./hash.js";
import type { LocationHint } from "./schema.js";

/** One shard of a keyspace. */
export interface ShardInfo {
  id: string;
  locationHint?: LocationHint;
}

/**
 * A contiguous run of slots `[start, next range's start)` owned by `shards[shard]`; the last range
 * ends at `slotCount`.
 */
export type SlotRun = [start: number, shard: number];

/** Serializable form of a map: what the directory stores and serves. */
export interface ShardMapSnapshot {
  keyspace: string;
  version: number;
  slotCount: number;
  shards: ShardInfo[];
  runs: SlotRun[];
}

/** Half-open slot interval `[start, end)`. */
export type SlotRange = [start: number, end: number];

/** An immutable, expanded shard map for fast lookups. */
export class ShardMap {
  private constructor(
    readonly keyspace: string,
    readonly version: number,
    readonly slotCount: number,
    readonly shards: readonly ShardInfo[],
    private readonly owners: Uint16Array,
  ) {}

  /** Expands a snapshot; throws `InvalidArgument` when it is not a valid total assignment. */
  static fromSnapshot(snapshot: ShardMapSnapshot): ShardMap {
    const { slotCount, shards, runs } = snapshot;
    if (shards.length === 0 || shards.length > 65_536) {
      throw new ShardError("InvalidArgument", `map of '${snapshot.keyspace}' has ${shards.length} shards`);
    }
    const owners = new Uint16Array(slotCount);
    let expected = 0;
    for (let i = 0; i < runs.length; i++) {
      const [start, shard] = runs[i]!;
      const end = i + 1 < runs.length ? runs[i + 1]![0] : slotCount;
      if (start !== expected || end <= start || shard < 0 || shard >= shards.length) {
        throw new ShardError("InvalidArgument", `map of '${snapshot.keyspace}' has a malformed run at slot ${start}`);
      }
      owners.fill(shard, start, end);
      expected = end;
    }
    if (expected !== slotCount) {
      throw new ShardError("InvalidArgument", `map of '${snapshot.keyspace}' does not cover every slot`);
    }
    return new ShardMap(snapshot.keyspace, snapshot.version, slotCount, [...shards], owners);
  }

  /**
   * Builds a map from one owner per slot (shard ids). Used by the planner and the directory.
   */
  static fromOwners(keyspace: string, version: number, shards: readonly ShardInfo[], owners: ArrayLike<number>): ShardMap {
    return new ShardMap(keyspace, version, owners.length, [...shards], Uint16Array.from(owners));
  }

  /** The slot of `key` in this keyspace. */
  slotFor(key: string): number {
    return slotOfHash(hashKey(key), this.slotCount);
  }

  /** Index into {@link shards} of the owner of `slot`. */
  shardIndexOf(slot: number): number {
    return this.owners[slot]!;
  }

  /** The shard that owns `slot`. */
  shardOfSlot(slot: number): ShardInfo {
    return this.shards[this.owners[slot]!]!;
  }

  /** The shard that owns `key`. */
  shardOfKey(key: string): ShardInfo {
    return this.shards[this.owners[slotOfHash(hashKey(key), this.slotCount)]!]!;
  }

  /** The slots of `shardId` as sorted half-open ranges (empty when the shard owns none). */
  rangesOf(shardId: string): SlotRange[] {
    const index = this.shards.findIndex((s) => s.id === shardId);
    const ranges: SlotRange[] = [];
    if (index < 0) return ranges;
    let start = -1;
    for (let slot = 0; slot <= this.slotCount; slot++) {
      const mine = slot < this.slotCount && this.owners[slot] === index;
      if (mine && start < 0) start = slot;
      if (!mine && start >= 0) {
        ranges.push([start, slot]);
        start = -1;
      }
    }
    return ranges;
  }

  /** Slots owned by each shard, in {@link shards} order. */
  slotCounts(): number[] {
    const counts = new Array<number>(this.shards.length).fill(0);
    for (const owner of this.owners) counts[owner]!++;
    return counts;
  }

  /** A copy of the per-slot owner indexes. */
  ownerIndexes(): Uint16Array {
    return this.owners.slice();
  }

  /** The compact, serializable form. */
  toSnapshot(): ShardMapSnapshot {
    const runs: SlotRun[] = [];
    for (let slot = 0; slot < this.slotCount; slot++) {
      const owner = this.owners[slot]!;
      if (slot === 0 || owner !== this.owners[slot - 1]) runs.push([slot, owner]);
    }
    return { keyspace: this.keyspace, version: this.version, slotCount: this.slotCount, shards: [...this.shards], runs };
  }
}

/** Sum of the lengths of `ranges`. */
export function countSlots(ranges: readonly SlotRange[]): number {
  let total = 0;
  for (const [start, end] of ranges) total += end - start;
  return total;
}

/** Whether `slot` lies in one of the sorted `ranges`. */
export function rangesContain(ranges: readonly SlotRange[], slot: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [start, end] = ranges[mid]!;
    if (slot < start) hi = mid - 1;
    else if (slot >= end) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Merges sorted or unsorted ranges into sorted, non-overlapping, non-adjacent ranges. */
export function normalizeRanges(ranges: readonly SlotRange[]): SlotRange[] {
  const sorted = ranges.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const out: SlotRange[] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/** `ranges` minus `removed`, both sorted and normalized. */
export function subtractRanges(ranges: readonly SlotRange[], removed: readonly SlotRange[]): SlotRange[] {
  const out: SlotRange[] = [];
  for (const [start, end] of ranges) {
    let cursor = start;
    for (const [rs, re] of removed) {
      if (re <= cursor || rs >= end) continue;
      if (rs > cursor) out.push([cursor, rs]);
      cursor = Math.max(cursor, re);
    }
    if (cursor < end) out.push([cursor, end]);
  }
  return out;
}
