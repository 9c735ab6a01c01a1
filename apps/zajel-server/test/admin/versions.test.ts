import { describe, expect, it } from "vitest";
import { checkVersion, compareVersions, DEFAULT_POLICY } from "../../src/admin/policy.js";
import { CI, call, callWith, result } from "../helpers.js";

const post = (json: unknown, headers: HeadersInit = CI) => call("/attest/versions", { method: "POST", headers, json });

describe("version policy (§4.3.1, §4.3.6, §4.3.7)", () => {
  it("serves the default policy, then exactly the last written one", async () => {
    expect(await result(call("/attest/versions"))).toEqual({ status: 200, body: DEFAULT_POLICY });
    const policy = { minimum_version: "1.2.0", recommended_version: "1.10.0", blocked_versions: ["1.5.0"], sunset_dates: { "1.2.0": "2027-01-01" } };
    expect(await result(post(policy))).toEqual({ status: 200, body: { success: true, policy } });
    expect(await result(call("/attest/versions"))).toEqual({ status: 200, body: policy });
    // A write replaces the whole policy: omitted or empty fields take their defaults.
    expect(await result(post({ minimum_version: "", blocked_versions: null }))).toEqual({ status: 200, body: { success: true, policy: DEFAULT_POLICY } });
  });

  it("rejects bad credentials and malformed fields with the exact errors", async () => {
    expect(await result(callWith({ CI_UPLOAD_SECRET: undefined }, "/attest/versions", { method: "POST", headers: CI, json: {} }))).toEqual({
      status: 503,
      body: { error: "Admin access not configured" },
    });
    expect(await result(post({}, { Authorization: "Bearer nope" }))).toEqual({ status: 401, body: { error: "Unauthorized" } });
    const cases: [unknown, string][] = [
      [{ minimum_version: "1.0" }, "Invalid minimum_version format (expected X.Y.Z)"],
      [{ minimum_version: 1 }, "Invalid minimum_version format (expected X.Y.Z)"],
      [{ recommended_version: "v1.0.0" }, "Invalid recommended_version format (expected X.Y.Z)"],
      [{ blocked_versions: "1.0.0" }, "Invalid blocked_versions (expected array of strings)"],
      [{ blocked_versions: [1] }, "Invalid blocked_versions (expected array of strings)"],
      [{ sunset_dates: ["x"] }, "Invalid sunset_dates (expected object of strings)"],
      [{ sunset_dates: { "1.0.0": 5 } }, "Invalid sunset_dates (expected object of strings)"],
    ];
    for (const [body, error] of cases) expect(await result(post(body)), JSON.stringify(body)).toEqual({ status: 400, body: { error } });
    expect(await result(post("x".repeat(5000)))).toEqual({ status: 413, body: { error: "Request body too large" } });
  });

  it("checks versions in the documented order", () => {
    const policy = { minimum_version: "1.2.0", recommended_version: "1.10.0", blocked_versions: ["1.5.0", "bad"], sunset_dates: {} };
    expect(checkVersion(policy, "1.5.0")).toEqual({ allowed: false, reason: "Version 1.5.0 has been blocked" });
    expect(checkVersion(policy, "bad")).toEqual({ allowed: false, reason: "Version bad has been blocked" });
    expect(checkVersion(policy, "1.2")).toEqual({ allowed: false, reason: "Invalid version format: 1.2" });
    expect(checkVersion(policy, "1.1.9")).toEqual({ allowed: false, reason: "Version 1.1.9 is below minimum required version 1.2.0" });
    expect(checkVersion(policy, "1.9.0")).toEqual({ allowed: true, status: "update_recommended" });
    expect(checkVersion(policy, "1.10.0")).toEqual({ allowed: true, status: "current" });
    expect(compareVersions("1.10.0", "1.9.9")).toBeGreaterThan(0);
  });
});
