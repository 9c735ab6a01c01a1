import { describe, expect, it } from "vitest";
import { opens, signToken, verifyToken } from "../src/auth.js";

describe("tokens", () => {
  it("verify when signed with the secret and unexpired, and bind to exactly one user and org", async () => {
    const token = await signToken("s3cret", { userId: "alice", orgId: "acme" });
    const verified = await verifyToken("s3cret", token);
    expect(verified).toMatchObject({ claims: { sub: "alice", org: "acme" } });
    const claims = (verified as { claims: Parameters<typeof opens>[0] }).claims;
    expect(opens(claims, { userId: "alice", orgId: "acme" })).toBe(true);
    expect(opens(claims, { userId: "alice" })).toBe(false);
    expect(opens(claims, { userId: "bob", orgId: "acme" })).toBe(false);
  });

  it("refuse another secret, a changed payload or signature, an expired token, and garbage, each with a reason", async () => {
    const token = await signToken("s3cret", { userId: "alice" });
    const [payload, signature] = token.split(".") as [string, string];
    const forged = btoa(JSON.stringify({ sub: "bob", exp: 9_999_999_999 })).replace(/=+$/, "");
    const cases: [string, RegExp][] = [
      [token, /signature/], // checked under another secret below
      [`${forged}.${signature}`, /signature/],
      [`${payload}.${signature.slice(0, -2)}AA`, /signature/],
      [await signToken("s3cret", { userId: "alice" }, -10), /expired/],
      ["", /payload>\.<signature/],
      ["a.b.c", /payload>\.<signature/],
      ["only-one-part", /payload>\.<signature/],
      ["!!.??", /signature/],
      ["x".repeat(3000) + ".y", /payload>\.<signature/],
    ];
    for (const [i, [t, reason]] of cases.entries()) {
      const verified = await verifyToken(i === 0 ? "other-secret" : "s3cret", t);
      expect(verified, t.slice(0, 40)).toMatchObject({ error: expect.stringMatching(reason) });
    }
  });
});
