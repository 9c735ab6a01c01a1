import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_DEVICES } from "../../src/attestation/model.js";
import { signingKeyFromSeed, sign } from "../../src/crypto/ed25519.js";
import { toBase64, toBase64Url, utf8 } from "../../src/crypto/encoding.js";
import { CI, call, result } from "../helpers.js";

const REGISTRY = { Authorization: "Bearer test-registry-secret" };

describe("body-size limits (§3.4), checked after authentication", () => {
  const limits: [string, number, HeadersInit][] = [
    ["/servers", 4096, REGISTRY],
    ["/servers/heartbeat", 2048, REGISTRY],
    ["/servers/trusted-keys", 4096, CI],
    ["/attest/register", 8192, {}],
    ["/attest/upload-reference", 65_536, CI],
    ["/attest/challenge", 2048, {}],
    ["/attest/verify", 16_384, {}],
    ["/attest/versions", 4096, CI],
  ];
  it.each(limits)("%s refuses %i + 1 bytes with 413, by length and by bytes received", async (path, limit, headers) => {
    const over = `{"pad":"${"x".repeat(limit - 9)}"}`;
    expect(utf8(over).length).toBe(limit + 1);
    expect(await result(call(path, { method: "POST", headers, body: over }))).toEqual({ status: 413, body: { error: "Request body too large" } });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(utf8(over));
        controller.close();
      },
    });
    expect((await call(path, { method: "POST", headers, body: stream, duplex: "half" } as RequestInit)).status).toBe(413);
    // At the limit the body is read (and then judged on its content, never 413).
    const at = `{"pad":"${"x".repeat(limit - 10)}"}`;
    expect((await call(path, { method: "POST", headers, body: at })).status).not.toBe(413);
  });
});

describe("device cap (§4.3.2 row 11)", () => {
  it("refuses a new device at 100,000 devices and still registers known ones", async () => {
    const key = (await signingKeyFromSeed("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))!;
    const token = async () => {
      const payload = JSON.stringify({ version: "1.0.0", platform: "android", build_hash: "h", timestamp: Date.now() });
      return { payload, signature: toBase64Url(await sign(key, utf8(payload))) };
    };
    const register = async (device_id: string) => call("/attest/register", { method: "POST", json: { device_id, build_token: await token() } });
    expect((await register("known-device")).status).toBe(200);
    await runInDurableObject(env.DEVICE_INDEX.getByName("device-index:all"), (_, state) => {
      state.storage.transactionSync(() => {
        const have = state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members").one().n;
        for (let i = have; i < MAX_DEVICES; i++) state.storage.sql.exec("INSERT INTO members (device_id) VALUES (?)", `filler-${i}`);
      });
    });
    expect(await result(register("one-device-too-many"))).toEqual({ status: 503, body: { error: "Device registry full" } });
    expect((await register("known-device")).status).toBe(200);
  });
});

describe("build check (§4.2.8)", () => {
  it("marks a build verified only when its signature verifies and its key is trusted", async () => {
    const key = (await signingKeyFromSeed("0f".repeat(32)))!;
    const buildHash = "sha256:abc";
    const triple = { buildHash, buildSignature: toBase64(await sign(key, utf8(buildHash))), buildSigningKey: key.publicKeyBase64 };
    const register = (serverId: string, extra: Record<string, unknown>) =>
      call("/servers", { method: "POST", headers: REGISTRY, json: { serverId, endpoint: "wss://relay.example.org", publicKey: "pk", ...extra } });
    const entryOf = async (r: Promise<Response>) => ((await (await r).json()) as { server: { buildVerified: boolean; buildHash: string | null } }).server;

    await call("/servers/trusted-keys", { method: "POST", headers: CI, json: { keys: [] } });
    expect(await entryOf(register("ed25519:untrusted", triple))).toMatchObject({ buildVerified: false, buildHash });
    await call("/servers/trusted-keys", { method: "POST", headers: CI, json: { keys: [key.publicKeyBase64] } });
    expect(await entryOf(register("ed25519:trusted", triple))).toMatchObject({ buildVerified: true, buildHash });
    expect(await entryOf(register("ed25519:tampered", { ...triple, buildHash: "sha256:abd" }))).toMatchObject({ buildVerified: false });
    // A heartbeat with the triple re-runs the check.
    await call("/servers/trusted-keys", { method: "POST", headers: CI, json: { keys: ["someone-else"] } });
    const beat = await call("/servers/heartbeat", { method: "POST", headers: REGISTRY, json: { serverId: "ed25519:trusted", ...triple } });
    expect(beat.status).toBe(200);
    await call("/servers/trusted-keys", { method: "POST", headers: CI, json: { keys: [] } });
    const listed = JSON.parse(await (await call("/servers")).text()) as { servers: { serverId: string; buildVerified: boolean }[] };
    expect(listed.servers.find((s) => s.serverId === "ed25519:trusted")?.buildVerified).toBe(false);
  });
});
