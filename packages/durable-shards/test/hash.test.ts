import { describe, expect, it } from "vitest";
import { hashKey, slotForKey, slotOfHash } from "../src/hash.js";

/** Reference: the same algorithm over TextEncoder's bytes. */
function reference(key: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) h = Math.imul(h ^ byte, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe("hashKey", () => {
  it("hashes the UTF-8 encoding, including multi-byte characters, surrogate pairs and lone surrogates", () => {
    for (const key of ["a", "user:42", "é", "日本語", "emoji 😀 key", "\ud800 lone", "x\udc00", "\u07ff\u0800\uffff"]) {
      expect(hashKey(key)).toBe(reference(key));
    }
  });

  it("is a 32-bit unsigned integer and stable", () => {
    expect(hashKey("user:42")).toBe(hashKey("user:42"));
    for (let i = 0; i < 1000; i++) {
      const h = hashKey(`k${i}`);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });

  it("avalanches: flipping one input bit flips about half the output bits", () => {
    let flipped = 0;
    let trials = 0;
    for (let i = 0; i < 500; i++) {
      const a = hashKey(`key-${i}a`);
      const b = hashKey(`key-${i}c`); // 'a' (0x61) and 'c' (0x63) differ in one bit
      flipped += popcount(a ^ b);
      trials += 32;
    }
    expect(flipped / trials).toBeGreaterThan(0.45);
    expect(flipped / trials).toBeLessThan(0.55);
  });
});

describe("slots", () => {
  it("maps every hash into [0, slotCount) for any slot count", () => {
    for (const count of [1, 2, 3, 1000, 65_536]) {
      expect(slotOfHash(0, count)).toBe(0);
      expect(slotOfHash(0xffffffff, count)).toBe(count - 1);
    }
  });

  it("spreads sequential keys evenly over slots (chi-square within 5 sigma)", () => {
    const slots = 256;
    const n = 256_000;
    const counts = new Array<number>(slots).fill(0);
    for (let i = 0; i < n; i++) counts[slotForKey(`user:${i}`, slots)]!++;
    const expected = n / slots;
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // chi-square with 255 degrees of freedom: mean 255, sd ≈ 22.6
    expect(chi2).toBeLessThan(255 + 5 * 22.6);
  });
});

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}

describe("slotForKey input", () => {
  it("rejects non-string keys and impossible slot counts with typed errors", () => {
    expect(() => slotForKey(7 as never, 10)).toThrow("[InvalidKey] key: key must be a string");
    for (const count of [0, -1, 1.5, 65_537, NaN]) expect(() => slotForKey("k", count)).toThrow(/\[InvalidArgument\] slotCount/);
    expect(() => slotForKey("", 10)).toThrow("[InvalidKey] key: key must not be empty");
  });
});
