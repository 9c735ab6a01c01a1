import { describe, expect, it } from "vitest";
import { Histogram, LATENCY_BUCKETS } from "../src/index.js";

describe("Histogram", () => {
  it("counts into the first bucket whose bound is not below the value, and sums", () => {
    const h = new Histogram();
    for (const v of [0.0005, 0.001, 0.002, 0.3, 20]) h.observe(v);
    const snap = h.snapshot();
    expect(snap.buckets).toHaveLength(LATENCY_BUCKETS.length + 1);
    expect(snap.buckets[0]).toBe(2); // ≤ 1 ms
    expect(snap.buckets[1]).toBe(1); // ≤ 2.5 ms
    expect(snap.buckets[8]).toBe(1); // ≤ 0.5 s
    expect(snap.buckets.at(-1)).toBe(1); // +Inf
    expect(snap.count).toBe(5);
    expect(snap.sum).toBeCloseTo(20.3035, 6);
  });

  it("estimates quantiles within their bucket, like histogram_quantile, and merges", () => {
    const a = new Histogram();
    for (let i = 0; i < 99; i++) a.observe(0.004);
    a.observe(0.9);
    expect(a.quantile(0.5)).toBeGreaterThan(0.0025);
    expect(a.quantile(0.5)).toBeLessThanOrEqual(0.005);
    expect(a.quantile(1)).toBeGreaterThan(0.5);
    expect(a.quantile(1)).toBeLessThanOrEqual(1);
    const b = new Histogram();
    b.merge(a.snapshot());
    b.merge(a.snapshot());
    expect(b.count).toBe(200);
    expect(b.quantile(0.99)).toBeCloseTo(a.quantile(0.99), 6);
    expect(new Histogram().quantile(0.99)).toBe(0);
  });
});
