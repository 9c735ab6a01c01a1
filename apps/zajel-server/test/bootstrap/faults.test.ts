import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fromBase64, utf8 } from "../../src/crypto/encoding.js";
import { verify } from "../../src/crypto/ed25519.js";
import { MAX_SERVERS } from "../../src/bootstrap/entry.js";
import { call, result } from "../helpers.js";

const AUTH = { Authorization: "Bearer test-registry-secret" };
const TEST_PUBLIC_KEY = fromBase64("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")!;
const register = (serverId: string) =>
  call("/servers", { method: "POST", headers: AUTH, json: { serverId, endpoint: "wss://relay.example.org", publicKey: "pk" } });

/** Makes registry shard `shardId` throw on every list. */
async function breakShard(shardId: string): Promise<void> {
  await runInDurableObject(env.REGISTRY.getByName(`servers:${shardId}`), (shard) => {
    Object.assign(shard, { list: () => { throw new Error("registry shard down (expected fault)"); } });
  });
}

describe("GET /servers when a registry shard fails (§5.5)", () => {
  // The incomplete read is logged once: asserted here, not printed.
  const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  afterEach(() => warn.mockClear());

  it("never signs a partial list: 503 unsigned without a recent complete snapshot", async () => {
    await register("ed25519:fault-a");
    await abortAllDurableObjects(); // forget every snapshot
    await breakShard("s3");
    const response = await call("/servers?nonce=Zt3xQ9mK2pL7vR4w");
    expect(response.status).toBe(503);
    expect(response.headers.get("Retry-After")).toBe("5");
    expect(response.headers.get("X-Bootstrap-Signature")).toBeNull();
    expect(await response.json()).toEqual({ error: "Server registry temporarily unavailable" });
    expect(warn).toHaveBeenCalledWith("server list: registry read incomplete", ["s3"]);
  });

  it("serves the last complete snapshot (≤ 30 s old), correctly signed, while a shard is down", async () => {
    await abortAllDurableObjects();
    await register("ed25519:fault-b");
    const before = await call("/servers");
    expect(before.status).toBe(200);
    const complete = JSON.parse(await before.text()) as { servers: { serverId: string }[] };
    await breakShard("s5");
    const response = await call("/servers?nonce=AbCdEfGhIjKlMnOp");
    expect(response.status).toBe(200);
    const raw = await response.text();
    const signature = fromBase64(response.headers.get("X-Bootstrap-Signature")!)!;
    expect(await verify(TEST_PUBLIC_KEY, signature, utf8(raw))).toBe(true);
    const body = JSON.parse(raw) as { servers: { serverId: string }[]; nonce: string };
    expect(body.servers.map((s) => s.serverId)).toEqual(complete.servers.map((s) => s.serverId));
    expect(body.servers.map((s) => s.serverId)).toContain("ed25519:fault-b");
    expect(body.nonce).toBe("AbCdEfGhIjKlMnOp");
    expect(raw).not.toContain("shard_errors");
    expect(warn).toHaveBeenCalledWith("server list: registry read incomplete", ["s5"]);
  });
});

describe("registry cap (§4.2.4 step 9)", () => {
  it("refuses a new server at 1,000 live entries but lets known ones re-register", async () => {
    await abortAllDurableObjects();
    expect((await register("ed25519:known")).status).toBe(200);
    const index = env.REGISTRY_INDEX.getByName("registry-index:all");
    await runInDurableObject(index, (_, state) => {
      const now = Date.now();
      for (let i = 0; state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM members").one().n < MAX_SERVERS; i++) {
        state.storage.sql.exec("INSERT OR IGNORE INTO members (server_id, registered_at) VALUES (?, ?)", `filler-${i}`, now);
      }
    });
    expect(await result(register("ed25519:one-too-many"))).toEqual({ status: 503, body: { error: "Server registry full" } });
    expect((await register("ed25519:known")).status).toBe(200);
    expect(await result(call("/servers/ed25519%3Aknown", { method: "DELETE", headers: AUTH }))).toEqual({ status: 200, body: { success: true } });
    expect((await register("ed25519:now-fits")).status).toBe(200);
  });
});

describe("unexpected failures (§3.2)", () => {
  it("answer 500 Internal server error with the security headers, and lose nothing", async () => {
    const serverId = "ed25519:fails-once";
    await runInDurableObject(env.REGISTRY_INDEX.getByName("registry-index:all"), (_, state) => {
      state.storage.sql.exec("DELETE FROM members WHERE server_id LIKE 'filler-%'");
    });
    const shard = await env.DIRECTORY.getByName("durable-shards-directory").resolve("servers", serverId);
    await runInDurableObject(env.REGISTRY.getByName(`servers:${shard}`), (registry) => {
      Object.assign(registry, { register: () => { throw new Error("disk on fire (expected fault)"); } });
    });
    const response = await register(serverId);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: "Internal server error" });
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    await abortAllDurableObjects(); // the failing instance goes away
    expect((await register(serverId)).status).toBe(200);
  });
});
