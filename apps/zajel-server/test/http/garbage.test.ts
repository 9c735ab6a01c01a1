// Bad input never produces a 500 (issue: at least 100 malformed bodies across every POST endpoint).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CI, call } from "../helpers.js";

const REGISTRY = { Authorization: "Bearer test-registry-secret" };
const ENDPOINTS: [string, HeadersInit][] = [
  ["/servers", REGISTRY],
  ["/servers/heartbeat", REGISTRY],
  ["/servers/trusted-keys", CI],
  ["/attest/versions", CI],
  ["/attest/register", {}],
  ["/attest/upload-reference", CI],
  ["/attest/challenge", {}],
  ["/attest/verify", {}],
];

const FIELDS = [
  "serverId", "endpoint", "publicKey", "region", "connections", "timestamp", "nonce", "sequenceNumber", "buildHash", "buildSignature",
  "buildSigningKey", "buildVersion", "keys", "addKeys", "removeKeys", "minimum_version", "recommended_version", "blocked_versions",
  "sunset_dates", "build_token", "device_id", "version", "platform", "build_hash", "critical_regions", "size", "build_version",
  "responses",
];

const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 40 }),
  fc.constant("x".repeat(3000)),
  fc.array(fc.anything(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.anything(), { maxKeys: 4 }),
);
const body = fc.oneof(
  fc.string({ maxLength: 60 }), // mostly invalid JSON
  fc.constantFrom("", "{", "}", "[]", "null", "0", '"s"', "{\"a\":}", deep(50), deep(20_000), `{"a":${deep(5000)}}`),
  fc.dictionary(fc.constantFrom(...FIELDS), wrongValue, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
  fc.anything().map((v) => JSON.stringify(v) ?? "undefined"),
);

describe("malformed bodies", () => {
  it("never produce a 500 on any POST endpoint", async () => {
    const samples = fc.sample(fc.tuple(fc.constantFrom(...ENDPOINTS), body), { numRuns: 160, seed: 20261123 });
    const statuses = new Map<number, number>();
    for (const [[path, headers], text] of samples) {
      const response = await call(path, { method: "POST", headers, body: text });
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      expect(response.status, `${path} ${text.slice(0, 80)}`).toBeLessThan(500);
      await response.arrayBuffer();
    }
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(100);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(50);
  });
});
