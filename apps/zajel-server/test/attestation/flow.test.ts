import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { signingKeyFromSeed, sign } from "../../src/crypto/ed25519.js";
import { toBase64Url, utf8 } from "../../src/crypto/encoding.js";
import { CI, call, callWith, result } from "../helpers.js";
import { REGIONS, SEED, VERSION, answer, buildToken, challenge, deviceId, deviceShardOf as shardOf, register, tokenFor, upload, verifiedTokenData } from "./helpers.js";

describe("attestation flow (§6.2)", () => {
  it("upload → register → challenge → verify → session token, for devices on different shards", async () => {
    const version = VERSION();
    expect((await upload(version)).status).toBe(200);
    // Two devices on two different device shards; the reference lives in the admin object.
    const devices: string[] = [];
    const shards = new Set<string>();
    for (let i = 0; devices.length < 2 && i < 50; i++) {
      const d = deviceId();
      await register(d, version);
      const shard = await shardOf(d);
      if (!shards.has(shard)) {
        shards.add(shard);
        devices.push(d);
      }
    }
    expect(shards.size).toBe(2);
    for (const device of devices) {
      const issued = (await (await challenge(device, version)).json()) as { nonce: string; regions: { index: number; offset: number; length: number }[] };
      expect(issued.nonce).toMatch(/^[0-9a-f]{64}$/);
      expect(issued.regions.length).toBeGreaterThanOrEqual(3);
      expect(issued.regions.length).toBeLessThanOrEqual(5);
      expect(issued.regions.map((r) => r.index)).toEqual(issued.regions.map((_, i) => i));
      expect(new Set(issued.regions.map((r) => r.offset)).size).toBe(issued.regions.length);
      const verified = (await (await call("/attest/verify", { method: "POST", json: { device_id: device, nonce: issued.nonce, responses: await answer(issued.nonce, issued.regions) } })).json()) as {
        valid: boolean;
        session_token: string;
      };
      expect(verified.valid).toBe(true);
      expect(await verifiedTokenData(verified.session_token)).toMatchObject({ device_id: device, build_version: version, platform: "android" });
      // The nonce is single use.
      expect(await result(call("/attest/verify", { method: "POST", json: { device_id: device, nonce: issued.nonce, responses: [] } }))).toEqual({
        status: 403,
        body: { error: "Invalid or expired nonce" },
      });
    }
  });

  it("refuses a blocked version on every device shard as soon as the policy write returns", async () => {
    const version = VERSION();
    // Twelve devices spanning at least four device shards, drawn until they do (random ids
    // would fall on three or fewer about once in 2,000 runs).
    let fresh: string[] = [];
    do fresh = Array.from({ length: 12 }, () => deviceId());
    while (new Set(await Promise.all(fresh.map(shardOf))).size < 4);
    expect((await call("/attest/versions", { method: "POST", headers: CI, json: { blocked_versions: [version] } })).status).toBe(200);
    for (const device of fresh) {
      expect(await result(register(device, version))).toEqual({ status: 403, body: { error: `Version ${version} has been blocked` } });
    }
    expect((await call("/attest/versions", { method: "POST", headers: CI, json: {} })).status).toBe(200);
    expect((await register(fresh[0]!, version)).status).toBe(200);
  });

  it("registers web devices with a 15-minute web_fallback token and limits them to 10 per hour", async () => {
    const device = deviceId();
    const first = (await (await register(device, "1.0.0", "web")).json()) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(["status", "device", "version_status", "attestation_mode", "session_token"]);
    expect(first).toMatchObject({ status: "registered", version_status: "current", attestation_mode: "web_fallback" });
    const payload = JSON.parse(atob((first.session_token as string).split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, number | string>;
    expect(payload.trust_level).toBe("web_fallback");
    expect((payload.expires_at as number) - (payload.issued_at as number)).toBe(15 * 60_000);
    for (let i = 2; i <= 10; i++) expect((await register(device, "1.0.0", "web")).status).toBe(200);
    expect(await result(register(device, "1.0.0", "web"))).toEqual({ status: 429, body: { error: "Too many registration attempts. Please try again later." } });
    expect(await result(challenge(device, "1.0.0"))).toEqual({
      status: 400,
      body: { error: "Binary attestation not available for web platform. Use registration token." },
    });
  });
});

describe("attestation error rows", () => {
  it("POST /attest/register (§4.3.2)", async () => {
    const device = deviceId();
    const good = await tokenFor("1.0.0");
    const post = (json: unknown) => call("/attest/register", { method: "POST", json });
    const rows: [unknown, number, string][] = [
      [{ device_id: device }, 400, "Missing required fields: build_token, device_id"],
      [{ build_token: good }, 400, "Missing required fields: build_token, device_id"],
      [{ build_token: "x", device_id: device }, 400, "Missing required fields: build_token, device_id"],
      [{ build_token: good, device_id: "bad id" }, 400, "Invalid device_id format"],
      [{ build_token: { payload: "", signature: "x" }, device_id: device }, 400, "Invalid build_token format: must include payload and signature"],
      [{ build_token: { payload: "p" }, device_id: device }, 400, "Invalid build_token format: must include payload and signature"],
      [{ build_token: { ...good, signature: "AAAA" }, device_id: device }, 403, "Invalid build token signature"],
      [{ build_token: { ...good, payload: good.payload.replace("abc123", "abc124") }, device_id: device }, 403, "Invalid build token signature"],
      [{ build_token: await buildToken(["array"] as never), device_id: device }, 400, "Invalid build token payload"],
      [{ build_token: await tokenFor("1.0.0", "", {}), device_id: device }, 400, "Build token missing required fields: version, platform, build_hash, timestamp"],
      [{ build_token: await tokenFor("1.0.0", "android", { timestamp: "now" }), device_id: device }, 400, "Build token missing required fields: version, platform, build_hash, timestamp"],
      [{ build_token: await tokenFor("1.0.0", "android", { timestamp: Date.now() + 120_000 }), device_id: device }, 403, "Build token has a future timestamp"],
      [{ build_token: await tokenFor("1.0.0", "android", { timestamp: Date.now() - 31 * 86_400_000 }), device_id: device }, 403, "Build token expired"],
      [{ build_token: await tokenFor("0.9.0"), device_id: device }, 403, "Version 0.9.0 is below minimum required version 1.0.0"],
      [{ build_token: await tokenFor("1.0"), device_id: device }, 403, "Invalid version format: 1.0"],
    ];
    for (const [body, status, error] of rows) expect(await result(post(body)), error).toEqual({ status, body: { error } });
    // A payload that is not JSON at all, correctly signed.
    const key = (await signingKeyFromSeed(SEED))!;
    const notJson = { payload: "not json", signature: toBase64Url(await sign(key, utf8("not json"))) };
    expect(await result(post({ build_token: notJson, device_id: device }))).toEqual({ status: 400, body: { error: "Invalid build token payload" } });
    // Configuration rows.
    const json = { build_token: good, device_id: device };
    expect(await result(callWith({ BUILD_TOKEN_VERIFY_KEY: "not-a-key" }, "/attest/register", { method: "POST", json }))).toEqual({
      status: 500,
      body: { error: "Build token verification configuration error" },
    });
    expect(await result(callWith({ ATTESTATION_SIGNING_KEY: "zz" }, "/attest/register", { method: "POST", json }))).toEqual({
      status: 500,
      body: { error: "Attestation service configuration error" },
    });
    expect(await result(callWith({ ATTESTATION_SIGNING_KEY: undefined }, "/attest/register", { method: "POST", json }))).toEqual({
      status: 503,
      body: { error: "Build token verification not configured" },
    });
    expect((await callWith({ BUILD_TOKEN_VERIFY_KEY: "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", ATTESTATION_SIGNING_KEY: undefined }, "/attest/register", { method: "POST", json })).status).toBe(200);
    // Policy: recommended version.
    await call("/attest/versions", { method: "POST", headers: CI, json: { recommended_version: "1.5.0" } });
    const recommended = (await (await post({ build_token: await tokenFor("1.2.0"), device_id: device })).json()) as Record<string, unknown>;
    expect(recommended).toMatchObject({ version_status: "update_recommended", recommended_version: "1.5.0" });
    expect(Object.keys(recommended)).toEqual(["status", "device", "version_status", "recommended_version"]);
    await call("/attest/versions", { method: "POST", headers: CI, json: {} });
  });

  it("POST /attest/upload-reference (§4.3.3)", async () => {
    const post = (json: unknown, headers: HeadersInit = CI) => call("/attest/upload-reference", { method: "POST", headers, json });
    expect(await result(callWith({ CI_UPLOAD_SECRET: undefined }, "/attest/upload-reference", { method: "POST", headers: CI, json: {} }))).toEqual({
      status: 503,
      body: { error: "CI upload not configured" },
    });
    expect(await result(post({}, { Authorization: "Bearer no" }))).toEqual({ status: 401, body: { error: "Unauthorized" } });
    const base = { version: "1.0.0", platform: "android", build_hash: "h", critical_regions: [{ offset: 0, length: 4 }] };
    const rows: [unknown, string][] = [
      [{ ...base, build_hash: undefined }, "Missing required fields: version, platform, build_hash"],
      [{ ...base, version: "bad version" }, "Invalid version or platform format"],
      [{ ...base, critical_regions: [] }, "critical_regions must be a non-empty array of { offset, length, hmac } objects"],
      [{ ...base, critical_regions: {} }, "critical_regions must be a non-empty array of { offset, length, hmac } objects"],
      [{ ...base, critical_regions: [{ offset: -1, length: 4 }] }, "Each critical_region must have numeric offset and length"],
      [{ ...base, critical_regions: [{ offset: 0, length: 0 }] }, "Each critical_region must have numeric offset and length"],
      [{ ...base, critical_regions: [5] }, "Each critical_region must have numeric offset and length"],
      [{ ...base, critical_regions: [{ offset: 0, length: 4, data_hex: "abc" }] }, "Each critical_region data_hex must be even-length hex"],
      [{ ...base, critical_regions: [{ offset: 0, length: 4, weight: 0 }] }, "Each critical_region weight must be a positive integer"],
      [{ ...base, size: -1 }, "Invalid size"],
    ];
    for (const [body, error] of rows) expect(await result(post(body)), error).toEqual({ status: 400, body: { error } });
    const ok = (await (await post(base)).json()) as { success: boolean; reference: Record<string, unknown> };
    expect(Object.keys(ok.reference)).toEqual(["version", "platform", "build_hash", "size", "critical_regions", "uploaded_at"]);
    expect(ok.reference.size).toBe(0);
  });

  it("POST /attest/challenge (§4.3.4)", async () => {
    const post = (json: unknown) => call("/attest/challenge", { method: "POST", json });
    const device = deviceId();
    expect(await result(post({ device_id: device }))).toEqual({ status: 400, body: { error: "Missing required fields: device_id, build_version" } });
    expect(await result(post({ device_id: "bad id", build_version: "1.0.0" }))).toEqual({ status: 400, body: { error: "Invalid device_id format" } });
    expect(await result(post({ device_id: device, build_version: "1 0" }))).toEqual({ status: 400, body: { error: "Invalid build_version format" } });
    expect(await result(post({ device_id: device, build_version: "1.0.0" }))).toEqual({ status: 404, body: { error: "Device not registered" } });
    const version = VERSION();
    await register(device, version);
    expect(await result(post({ device_id: device, build_version: version }))).toEqual({
      status: 404,
      body: { error: "No reference binary found for this version and platform" },
    });
    await upload(version);
    for (let i = 0; i < 5; i++) expect((await post({ device_id: device, build_version: version })).status).toBe(200);
    expect(await result(post({ device_id: device, build_version: version }))).toEqual({
      status: 429,
      body: { error: "Too many pending challenges. Please complete or wait for existing challenges to expire." },
    });
  });

  it("POST /attest/verify (§4.3.5)", async () => {
    const post = (json: unknown) => call("/attest/verify", { method: "POST", json });
    const version = VERSION();
    await upload(version, "android", [...REGIONS.slice(0, 5), { offset: 500, length: 4 }]);
    const device = deviceId();
    const other = deviceId();
    await register(device, version);
    await register(other, version);
    const issue = async () => (await (await challenge(device, version)).json()) as { nonce: string; regions: { index: number; offset: number }[] };

    expect(await result(post({ device_id: device, nonce: "x" }))).toEqual({ status: 400, body: { error: "Missing required fields: device_id, nonce, responses (array)" } });
    expect(await result(post({ device_id: "bad id", nonce: "x", responses: [] }))).toEqual({ status: 400, body: { error: "Invalid device_id format" } });
    expect(await result(post({ device_id: device, nonce: "ABC", responses: [] }))).toEqual({ status: 403, body: { error: "Invalid or expired nonce" } });
    expect(await result(post({ device_id: device, nonce: "0".repeat(64), responses: [] }))).toEqual({ status: 403, body: { error: "Invalid or expired nonce" } });

    const c1 = await issue();
    expect(await result(post({ device_id: other, nonce: c1.nonce, responses: [] }))).toEqual({ status: 403, body: { error: "Device ID mismatch" } });
    expect(await result(post({ device_id: device, nonce: c1.nonce, responses: [] }))).toEqual({ status: 200, body: { valid: false, error: "Wrong number of responses" } });
    const wrongShape = c1.regions.map((r) => ({ region_index: r.index, hmac: "A".repeat(64) }));
    expect(await result(post({ device_id: device, nonce: c1.nonce, responses: wrongShape }))).toEqual({ status: 200, body: { valid: false, error: "Verification failed" } });
    const duplicate = c1.regions.map(() => ({ region_index: 0, hmac: "a".repeat(64) }));
    expect(await result(post({ device_id: device, nonce: c1.nonce, responses: duplicate }))).toEqual({ status: 200, body: { valid: false, error: "Verification failed" } });
    // Those left the challenge usable; a wrong HMAC consumes it.
    const wrong = c1.regions.map((r) => ({ region_index: r.index, hmac: "0".repeat(64) }));
    const answered = await result(post({ device_id: device, nonce: c1.nonce, responses: wrong }));
    expect(answered.status).toBe(200);
    expect(["HMAC mismatch", "Verification failed"]).toContain((answered.body as { error: string }).error);
    expect(await result(post({ device_id: device, nonce: c1.nonce, responses: wrong }))).toEqual({ status: 403, body: { error: "Invalid or expired nonce" } });

    // Expired challenge.
    const c2 = await issue();
    await runInDurableObject(env.CHALLENGES.getByName(`challenges:${await env.DIRECTORY.getByName("durable-shards-directory").resolve("challenges", c2.nonce)}`), (_, state) => {
      state.storage.sql.exec("UPDATE challenges SET record = json_set(record, '$.created_at', 0) WHERE nonce = ?", c2.nonce);
    });
    expect(await result(post({ device_id: device, nonce: c2.nonce, responses: [] }))).toEqual({ status: 403, body: { error: "Challenge expired" } });

  });

  it("POST /attest/verify rows 9–12 with a three-region reference (every region is challenged)", async () => {
    const post = (json: unknown, overrides?: Record<string, string | undefined>) =>
      overrides ? callWith(overrides, "/attest/verify", { method: "POST", json }) : call("/attest/verify", { method: "POST", json });
    const device = deviceId();
    const version = VERSION();
    await upload(version, "android", REGIONS.slice(0, 3));
    await register(device, version);
    const issue = async () => (await (await challenge(device, version)).json()) as { nonce: string; regions: { index: number; offset: number }[] };

    const c1 = await issue();
    expect(c1.regions).toHaveLength(3);
    const mismatched = (await answer(c1.nonce, c1.regions)).map((r, i) => (i === 1 ? { ...r, hmac: "0".repeat(64) } : r));
    expect(await result(post({ device_id: device, nonce: c1.nonce, responses: mismatched }))).toEqual({ status: 200, body: { valid: false, error: "HMAC mismatch" } });

    const c2 = await issue();
    expect(await result(post({ device_id: device, nonce: c2.nonce, responses: await answer(c2.nonce, c2.regions) }, { ATTESTATION_SIGNING_KEY: undefined }))).toEqual({
      status: 200,
      body: { valid: true, error: "Session token signing not configured" },
    });

    // The reference loses a region's bytes (row 10), then disappears (row 9).
    const c3 = await issue();
    await upload(version, "android", [...REGIONS.slice(0, 2), { offset: 200, length: 6 }]);
    expect(await result(post({ device_id: device, nonce: c3.nonce, responses: await answer(c3.nonce, c3.regions) }))).toEqual({
      status: 200,
      body: { valid: false, error: "Verification failed" },
    });
    await upload(version, "android", REGIONS.slice(0, 3));
    const c4 = await issue();
    await runInDurableObject(env.ADMIN.getByName("admin:config"), (_, state) => {
      state.storage.sql.exec("DELETE FROM reference_binaries WHERE version = ?", version);
    });
    expect(await result(post({ device_id: device, nonce: c4.nonce, responses: await answer(c4.nonce, c4.regions) }))).toEqual({
      status: 200,
      body: { valid: false, error: "Reference binary no longer available" },
    });
  });
});
