import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_KEY_LENGTH, checkKey, isKey, isMapVersion, isSlotCount, keySchema, mapVersionSchema, slotCountSchema } from "../src/schema.js";

const around = (n: number) => fc.integer({ min: Math.max(0, n - 3), max: n + 3 });

describe("hot-path predicates agree with their schemas", () => {
  it("isKey accepts exactly what keySchema accepts", () => {
    const inputs = fc.oneof(
      fc.anything(),
      fc.string({ maxLength: 20 }),
      around(MAX_KEY_LENGTH).map((n) => "k".repeat(n)),
      fc.constantFrom("", " ", "\u0000", "😀".repeat(512), "😀".repeat(513)),
    );
    fc.assert(fc.property(inputs, (value) => isKey(value) === keySchema.safeParse(value).success), { numRuns: 2000 });
  });

  it("isMapVersion accepts exactly what mapVersionSchema accepts", () => {
    const inputs = fc.oneof(
      fc.anything(),
      fc.integer(),
      fc.double(),
      fc.constantFrom(0, -0, -1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 2 ** 60, "1", null),
    );
    fc.assert(fc.property(inputs, (value) => isMapVersion(value) === mapVersionSchema.safeParse(value).success), { numRuns: 2000 });
  });

  it("isSlotCount accepts exactly what slotCountSchema accepts", () => {
    const inputs = fc.oneof(fc.anything(), fc.integer(), fc.double(), around(65_536), fc.constantFrom(0, 1, 1.5, NaN, "8"));
    fc.assert(fc.property(inputs, (value) => isSlotCount(value) === slotCountSchema.safeParse(value).success), { numRuns: 2000 });
  });

  it("checkKey words rejections through the schema", () => {
    expect(checkKey("ok")).toBe("ok");
    expect(() => checkKey("")).toThrow("[InvalidKey] key: key must not be empty");
    expect(() => checkKey(3)).toThrow("[InvalidKey] key: key must be a string");
  });
});
