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
  /** Counters as a min-heap on `count`, so the smallest is found in O(1) and replaced in O(log capacity). */
  private readonly heap: HotKey[] = [];
  private readonly index = new Map<string, number>();
  /** Weight offered in all, for the error bound. */
  total = 0;

  constructor(readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) throw new RangeError("capacity must be an integer from 1 to 4,096");
  }

  /** Counts `weight` (default 1) for `key`. */
  offer(key: string, weight = 1): void {
    this.total += weight;
    const at = this.index.get(key);
    if (at !== undefined) {
      this.heap[at]!.count += weight;
      this.down(at);
      return;
    }
    if (this.heap.length < this.capacity) {
      this.heap.push({ key, count: weight, error: 0 });
      this.index.set(key, this.heap.length - 1);
      this.up(this.heap.length - 1);
      return;
    }
    const smallest = this.heap[0]!;
    this.index.delete(smallest.key);
    this.heap[0] = { key, count: smallest.count + weight, error: smallest.count };
    this.index.set(key, 0);
    this.down(0);
  }

  /** The `n` keys with the largest counts, largest first. */
  top(n = 10): HotKey[] {
    return [...this.heap]
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
    for (const k of snapshot.keys.slice(0, snapshot.capacity)) {
      sketch.heap.push({ ...k });
      sketch.index.set(k.key, sketch.heap.length - 1);
      sketch.up(sketch.heap.length - 1);
    }
    return sketch;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.heap[parent]!.count <= this.heap[i]!.count) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < this.heap.length && this.heap[left]!.count < this.heap[least]!.count) least = left;
      if (right < this.heap.length && this.heap[right]!.count < this.heap[least]!.count) least = right;
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
    this.index.set(y.key, a);
    this.index.set(x.key, b);
  }
}
