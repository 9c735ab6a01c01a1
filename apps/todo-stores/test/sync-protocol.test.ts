import { describe, expect, it } from "vitest";
import { encodeMessage, frame, parseFrame } from "../src/sync-protocol.js";

describe("TinyBase's synchronizer frames", () => {
  it("round-trip a message, undefined included, and forward with the sender's id", () => {
    const remainder = encodeMessage("r1", 3, [{ t: [{ r: [{ c: [undefined, "hlc"] }] }] }]);
    const parsed = parseFrame(frame("", remainder));
    expect(parsed).toMatchObject({ to: "", remainder, message: ["r1", 3, [{ t: [{ r: [{ c: [undefined, "hlc"] }] }] }]] });
    expect(frame("client-a", remainder)).toBe(`client-a\n${remainder}`);
    expect(parseFrame('S\n[null,1,""]')).toMatchObject({ to: "S", message: [null, 1, ""] });
  });

  it("refuse what is not a frame, with why", () => {
    for (const [input, reason] of [
      ["no newline", /client id line/],
      ["S\nnot json", /not JSON/],
      ["S\n[1,2,3]", /requestId, type 0-7/],
      ['S\n[null,8,""]', /type 0-7/],
      ['S\n[null,1]', /type 0-7/],
      [`${"x".repeat(257)}\n[null,1,""]`, /client id over 256/],
      ["S\nmsgid\n0\n2\nfragment", /fragmented frames are not accepted/],
      [`S\n${"x".repeat(600_000)}`, /frame over/],
    ] as const) {
      expect(parseFrame(input), input.slice(0, 30)).toEqual({ error: expect.stringMatching(reason) });
    }
  });
});
