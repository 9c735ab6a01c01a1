/**
 * Hot keys: a space-saving sketch (Metwally et al.) of the most frequent keys.
 *
 * It keeps `capacity` counters. A key it tracks adds to its own; a new key, when all are taken,
 * replaces the smallest and inherits its count as the key's possible overcount (`error`). Each
 * reported count is at most `error` above the truth, and `error` ≤ total / capacity; any key
 * whose true count exceeds total / capacity is sure to be tracked.
 */
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

export class HotKeys {
  private readonly counters = new Map<string, HotKey>();
  /** Weight offered in all, for the error bound. */
  total = 0;

  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError("capacity must be an integer from 1 to 4,096");
  }

  /** Counts `weight` (default 1) for `key`. */
  offer(key: string, weight = 1): void {
    this.total += weight;
    const known = this.counters.get(key);
    if (known) {
      known.count += weight;
      return;
    }
    if (this.counters.size < this.capacity) {
      this.counters.set(key, { key, count: weight, error: 0 });
      return;
    }
    let smallest: HotKey | undefined;
    for (const counter of this.counters.values()) if (!smallest || counter.count < smallest.count) smallest = counter;
    this.counters.delete(smallest!.key);
    this.counters.set(key, { key, count: smallest!.count + weight, error: smallest!.count });
  }

  /** The `n` keys with the largest counts, largest first. */
  top(n = 10): HotKey[] {
    return [...this.counters.values()]
      .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
      .slice(0, n)
      .map((c) => ({ ...c }));
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
    for (const k of snapshot.keys.slice(0, snapshot.capacity)) sketch.counters.set(k.key, { ...k });
    return sketch;
  }
}
