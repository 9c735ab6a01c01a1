import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HotKeys, hashKey } from "../src/index.js";
import { KeyTally } from "../src/hot-keys.js";

/** A zipf-like stream (s = 0.99) over `keys` keys, seeded, with `n` draws. */
function zipfStream(keys: number, n: number, seed: number): string[] {
  const weights = Array.from({ length: keys }, (_, i) => 1 / (i + 1) ** 0.99);
  const total = weights.reduce((a, b) => a + b, 0);
  let state = seed >>> 0 || 1;
  const random = () => ((state = (state * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let r = random() * total;
    let k = 0;
    while (k < keys - 1 && (r -= weights[k]!) > 0) k++;
    out.push(`key-${k}`);
  }
  return out;
}

describe("HotKeys (space-saving)", () => {
  it("finds keys planted among a zipf stream, each count within the stated error of the truth", () => {
    const stream = zipfStream(5_000, 40_000, 7);
    const planted = ["hot-a", "hot-b", "hot-c"];
    for (let i = 0; i < 3_000; i++) stream.splice((i * 13) % stream.length, 0, planted[i % 3]!);
    const sketch = new HotKeys(64);
    const exact = new Map<string, number>();
    for (const key of stream) {
      sketch.offer(key);
      exact.set(key, (exact.get(key) ?? 0) + 1);
    }
    const top = sketch.top(10);
    for (const key of planted) expect(top.map((t) => t.key)).toContain(key);
    const trueTop5 = [...exact].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
    for (const key of trueTop5) expect(top.map((t) => t.key)).toContain(key);
    for (const t of top) {
      const truth = exact.get(t.key)!;
      expect(t.count).toBeGreaterThanOrEqual(truth);
      expect(t.count - truth).toBeLessThanOrEqual(t.error);
      expect(t.error).toBeLessThanOrEqual(sketch.errorBound());
    }
  });

  it("never undercounts and stays within total / capacity of the truth, for any stream", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 400 }), fc.integer({ min: 1, max: 16 }), (draws, capacity) => {
        const sketch = new HotKeys(capacity);
        const exact = new Map<string, number>();
        for (const d of draws) {
          sketch.offer(`k${d}`);
          exact.set(`k${d}`, (exact.get(`k${d}`) ?? 0) + 1);
        }
        for (const t of sketch.top(capacity)) {
          const truth = exact.get(t.key) ?? 0;
          if (t.count < truth || t.count - truth > sketch.errorBound()) return false;
        }
        // A key above total / capacity is always tracked.
        return [...exact].every(([k, n]) => n <= sketch.errorBound() || sketch.top(capacity).some((t) => t.key === k));
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  it("survives a snapshot and rejects a bad capacity", () => {
    const sketch = new HotKeys(4);
    for (const k of ["a", "a", "b", "c", "a", "d", "e"]) sketch.offer(k);
    const restored = HotKeys.from(JSON.parse(JSON.stringify(sketch.snapshot())));
    expect(restored.top()).toEqual(sketch.top());
    expect(restored.total).toBe(7);
    expect(() => new HotKeys(0)).toThrow(RangeError);
  });

  it("keeps its bound when fed through a tally that folds as it fills (weighted offers)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 600 }), fc.integer({ min: 1, max: 16 }), (draws, capacity) => {
        const sketch = new HotKeys(capacity);
        // 16 table slots: it folds after 8 distinct keys, many times over the stream.
        const tally = new KeyTally(() => sketch, 16);
        const exact = new Map<string, number>();
        for (const d of draws) {
          tally.count(`k${d}`, hashKey(`k${d}`));
          exact.set(`k${d}`, (exact.get(`k${d}`) ?? 0) + 1);
        }
        tally.fold();
        if (sketch.total !== draws.length) return false;
        for (const t of sketch.top(capacity)) {
          const truth = exact.get(t.key) ?? 0;
          if (t.count < truth || t.count - truth > sketch.errorBound()) return false;
        }
        return [...exact].every(([k, n]) => n <= sketch.errorBound() || sketch.top(capacity).some((t) => t.key === k));
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});
