/**
 * Hot keys: a space-saving sketch (Metwally et al.) of the most frequent keys.
 *
 * It keeps `capacity` counters. A key it tracks adds to its own; a new key, when all are taken,
 * replaces the smallest and inherits its count as the key's possible overcount (`error`). Each
 * reported count is at most `error` above the truth, and `error` ≤ total / capacity; any key
 * whose true count exceeds total / capacity is sure to be tracked.
 *
 * Keys are tracked by their 32-bit hash (`hash.ts`, which routing computes anyway): a lookup by
 * number costs far less than one by string on the call path. Two keys of one hash would share a
 * counter (for the keys a sketch holds at once, odds around capacity² / 2³³, 1 in 2 million at 64).
 */
import { hashKey } from "./hash.js";

export interface HotKey {
  key: string;
  /** Counted weight: an overestimate by at most `error`. */
  count: number;
  /** How much of `count` may belong to keys this counter tracked before. */
  error: number;
}

/** The state of a sketch, to store and restore (or merge) it. */
export interface HotKeysSnapshot {
  capacity: number;
  total: number;
  keys: HotKey[];
}

/** A counter in the heap, knowing its own position so moving it costs no map update. */
interface Counter extends HotKey {
  hash: number;
  at: number;
}

export class HotKeys {
  /** Counters as a min-heap on `count`: the smallest is found in O(1) and replaced in O(log capacity). */
  private readonly heap: Counter[] = [];
  private readonly index = new Map<number, Counter>();
  /** Weight offered in all, for the error bound. */
  total = 0;

  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError("capacity must be an integer from 1 to 4,096");
  }

  /** Counts `weight` (default 1) for `key`, whose `hashKey` the caller may pass: one numeric lookup when it is tracked. */
  offer(key: string, weight = 1, hash = hashKey(key)): void {
    this.total += weight;
    const known = this.index.get(hash);
    if (known !== undefined) {
      known.count += weight;
      this.down(known.at);
      return;
    }
    if (this.heap.length < this.capacity) {
      const counter = { key, hash, count: weight, error: 0, at: this.heap.length };
      this.heap.push(counter);
      this.index.set(hash, counter);
      this.up(counter.at);
      return;
    }
    // Reused in place: the evicted key's counter becomes the new key's.
    const smallest = this.heap[0]!;
    this.index.delete(smallest.hash);
    smallest.error = smallest.count;
    smallest.count += weight;
    smallest.key = key;
    smallest.hash = hash;
    this.index.set(hash, smallest);
    this.down(0);
  }

  /** The `n` keys with the largest counts, largest first. */
  top(n = 10): HotKey[] {
    return [...this.heap]
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
      .slice(0, n)
      .map(({ key, count, error }) => ({ key, count, error }));
  }

  /** The most any reported count exceeds its key's true count: total / capacity. */
  errorBound(): number {
    return this.total / this.capacity;
  }

  snapshot(): HotKeysSnapshot {
    return { capacity: this.capacity, total: this.total, keys: this.top(this.capacity) };
  }

  /** A sketch holding `snapshot`'s counts. */
  static from(snapshot: HotKeysSnapshot): HotKeys {
    const sketch = new HotKeys(snapshot.capacity);
    sketch.total = snapshot.total;
    for (const k of snapshot.keys.slice(0, snapshot.capacity)) {
      const counter = { key: k.key, hash: hashKey(k.key), count: k.count, error: k.error, at: sketch.heap.length };
      sketch.heap.push(counter);
      sketch.index.set(counter.hash, counter);
      sketch.up(counter.at);
    }
    return sketch;
  }

  private up(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.count <= heap[i]!.count) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      let least = i;
      if (left < heap.length && heap[left]!.count < heap[least]!.count) least = left;
      if (left + 1 < heap.length && heap[left + 1]!.count < heap[least]!.count) least = left + 1;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    this.heap[a] = y;
    this.heap[b] = x;
    y.at = a;
    x.at = b;
  }
}

/**
 * Exact counts of the keys of one flush interval, in an open-addressing table of typed arrays
 * keyed by the key's hash: counting a key already seen is two array reads and an increment, with
 * no string hashing and no allocation (on the call path, this is what measurement costs). When
 * half full it is folded into a {@link HotKeys} sketch as weighted offers, which keeps the
 * sketch's bound, and emptied.
 */
export class KeyTally {
  private readonly hashes: Int32Array;
  private readonly counts: Uint32Array;
  private readonly keys: (string | undefined)[];
  private readonly mask: number;
  private size = 0;

  constructor(
    private readonly sketch: () => HotKeys,
    slots = 4096,
  ) {
    this.hashes = new Int32Array(slots);
    this.counts = new Uint32Array(slots);
    this.keys = new Array<string | undefined>(slots);
    this.mask = slots - 1;
  }

  count(key: string, hash: number): void {
    const h = hash | 0;
    let i = h & this.mask;
    while (this.counts[i] !== 0) {
      if (this.hashes[i] === h) {
        this.counts[i]!++;
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.hashes[i] = h;
    this.counts[i] = 1;
    this.keys[i] = key;
    if (++this.size > this.counts.length >> 1) this.fold();
  }

  /** Offers every tallied key to the sketch and empties the table. */
  fold(): void {
    if (this.size === 0) return;
    const sketch = this.sketch();
    for (let i = 0; i < this.counts.length; i++) {
      const n = this.counts[i]!;
      if (n === 0) continue;
      sketch.offer(this.keys[i]!, n, this.hashes[i]! >>> 0);
      this.counts[i] = 0;
      this.keys[i] = undefined;
    }
    this.size = 0;
  }
}
