import { describe, expect, it } from "vitest";
import { CI, call, callWith, result } from "../helpers.js";

const post = (json: unknown, headers: HeadersInit = CI) => call("/servers/trusted-keys", { method: "POST", headers, json });

describe("trusted build keys (§4.2.8)", () => {
  it("rejects missing configuration and bad credentials, before reading the body", async () => {
    expect(await result(callWith({ CI_UPLOAD_SECRET: undefined }, "/servers/trusted-keys", { method: "POST", headers: CI, json: {} }))).toEqual({
      status: 503,
      body: { error: "CI access not configured" },
    });
    expect(await result(callWith({ CI_UPLOAD_SECRET: undefined }, "/servers/trusted-keys", { headers: CI }))).toEqual({
      status: 503,
      body: { error: "Trusted key management not configured" },
    });
    for (const headers of [{}, { Authorization: "Bearer wrong" }, { Authorization: "test-ci-secret" }, { Authorization: "Bearer test-ci-secret-and-more" }] as Record<string, string>[]) {
      expect(await result(post({ keys: ["k"] }, headers))).toEqual({ status: 401, body: { error: "Unauthorized" } });
      expect(await result(call("/servers/trusted-keys", { headers }))).toEqual({ status: 401, body: { error: "Unauthorized" } });
    }
    // Authentication comes before the size check.
    expect((await post("x".repeat(5000), { Authorization: "Bearer wrong" })).status).toBe(401);
    expect(await result(post({ keys: ["x".repeat(5000)] }))).toEqual({ status: 413, body: { error: "Request body too large" } });
  });

  it("replaces, adds to and removes from the effective set, de-duplicated in order", async () => {
    // An empty stored set: the effective set is TRUSTED_BUILD_KEYS, and adding starts from it.
    expect(await result(post({ keys: [] }))).toEqual({ status: 200, body: { success: true, keys: [] } });
    expect(((await (await call("/servers/trusted-keys", { headers: CI })).json()) as { keys: string[] }).keys).toEqual([]);
    expect(await result(post({ addKeys: ["k3", "configured-key-1"] }))).toEqual({
      status: 200,
      body: { success: true, keys: ["configured-key-1", "configured-key-2", "k3"] },
    });
    expect(await result(post({ removeKeys: ["configured-key-2", 7] }))).toEqual({ status: 200, body: { success: true, keys: ["configured-key-1", "k3"] } });
    expect(await result(post({ keys: ["b", "a", "b"], addKeys: ["ignored"] }))).toEqual({ status: 200, body: { success: true, keys: ["b", "a"] } });
    const stored = (await (await call("/servers/trusted-keys", { headers: CI })).json()) as { keys: string[]; updatedAt: number };
    expect(stored.keys).toEqual(["b", "a"]);
    expect(stored.updatedAt).toBeGreaterThan(Date.now() - 60_000);
  });

  it("rejects malformed changes with the exact errors and changes nothing", async () => {
    await post({ keys: ["keep"] });
    const cases: [unknown, string][] = [
      [{}, "Must provide keys, addKeys, or removeKeys"],
      [{ keys: "k" }, "Must provide keys, addKeys, or removeKeys"],
      [{ keys: [""] }, "Invalid key format in keys array"],
      [{ keys: [1] }, "Invalid key format in keys array"],
      [{ keys: ["x".repeat(101)] }, "Invalid key format in keys array"],
      [{ addKeys: [null] }, "Invalid key format in addKeys array"],
      [{ keys: Array.from({ length: 51 }, (_, i) => `k${i}`) }, "Too many keys (max 50)"],
      [{ addKeys: Array.from({ length: 50 }, (_, i) => `k${i}`) }, "Too many keys (max 50)"],
    ];
    for (const [body, error] of cases) expect(await result(post(body)), JSON.stringify(body)).toEqual({ status: 400, body: { error } });
    expect(await result(post([1, 2]))).toEqual({ status: 400, body: { error: "Invalid JSON body" } });
    expect(((await (await call("/servers/trusted-keys", { headers: CI })).json()) as { keys: string[] }).keys).toEqual(["keep"]);
  });
});
