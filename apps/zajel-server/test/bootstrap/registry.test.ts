import { describe, expect, it, vi } from "vitest";
import { fromBase64, utf8 } from "../../src/crypto/encoding.js";
import { verify } from "../../src/crypto/ed25519.js";
import { call, callWith, result } from "../helpers.js";

const AUTH = { Authorization: "Bearer test-registry-secret" };
const TEST_PUBLIC_KEY = fromBase64("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")!;
let counter = 0;
const id = (prefix = "srv") => `ed25519:${prefix}${Date.now().toString(36)}${counter++}`;
const nonce = () => `nonce-${crypto.randomUUID()}`;

function register(json: Record<string, unknown>, headers: HeadersInit = AUTH) {
  return call("/servers", { method: "POST", headers, json });
}
function heartbeat(json: Record<string, unknown>, headers: HeadersInit = AUTH) {
  return call("/servers/heartbeat", { method: "POST", headers, json });
}
const server = (serverId: string, extra: Record<string, unknown> = {}) => ({
  serverId,
  endpoint: "wss://relay.example.org",
  publicKey: "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
  region: "eu-west",
  connections: 3.7,
  ...extra,
});

/** The list, its signature verified with the test public key over the exact body bytes. */
async function signedList(query = ""): Promise<{ servers: { serverId: string; region: string }[]; nonce?: string; timestamp: number; raw: string }> {
  const response = await call(`/servers${query}`);
  expect(response.status).toBe(200);
  const raw = await response.text();
  const signature = fromBase64(response.headers.get("X-Bootstrap-Signature") ?? "")!;
  expect(signature).toHaveLength(64);
  expect(await verify(TEST_PUBLIC_KEY, signature, utf8(raw))).toBe(true);
  return { ...JSON.parse(raw), raw };
}

describe("server registry (§4.2)", () => {
  it("registers, heartbeats, lists (signed, with and without nonce) and deletes", async () => {
    const a = id("a");
    const b = id("b");
    const registered = await result(register(server(a, { buildVersion: "1.0.0", activeCodes: -4, relayConnections: "x" })));
    expect(registered.status).toBe(200);
    const entry = (registered.body as { server: Record<string, unknown> }).server;
    expect(Object.keys(entry)).toEqual([
      "serverId", "endpoint", "publicKey", "region", "connections", "relayConnections", "signalingConnections", "activeCodes",
      "buildVerified", "buildHash", "buildVersion", "registeredAt", "lastSeen",
    ]);
    expect(entry).toMatchObject({ serverId: a, region: "eu-west", connections: 3, relayConnections: 0, activeCodes: 0, buildVerified: false, buildHash: null, buildVersion: "1.0.0" });
    expect((await register(server(b, { region: "bad region!" }))).status).toBe(200);

    const beat = await result(heartbeat({ serverId: a, connections: 9 }));
    expect(beat.status).toBe(200);
    const peers = (beat.body as { peers: { serverId: string }[] }).peers.map((p) => p.serverId);
    expect(peers).toContain(b);
    expect(peers).not.toContain(a);

    const plain = await signedList();
    expect(Object.keys(JSON.parse(plain.raw))).toEqual(["servers", "timestamp"]);
    const mine = plain.servers.filter((s) => s.serverId === a || s.serverId === b);
    expect(mine.map((s) => s.serverId)).toEqual([a, b].sort());
    expect(mine.find((s) => s.serverId === b)!.region).toBe("unknown");
    const ids = plain.servers.map((s) => s.serverId);
    expect(ids).toEqual([...ids].sort());

    const withNonce = await signedList("?nonce=Zt3xQ9mK2pL7vR4w&nonce=ignored");
    expect(Object.keys(JSON.parse(withNonce.raw))).toEqual(["servers", "nonce", "timestamp"]);
    expect(withNonce.nonce).toBe("Zt3xQ9mK2pL7vR4w");
    expect(Math.abs(withNonce.timestamp - Date.now())).toBeLessThan(5_000);

    expect(await result(call(`/servers/${encodeURIComponent(a)}`, { method: "DELETE", headers: AUTH }))).toEqual({ status: 200, body: { success: true } });
    expect(await result(call(`/servers/${encodeURIComponent(a)}`, { method: "DELETE", headers: AUTH }))).toEqual({ status: 200, body: { success: true } });
    expect((await signedList()).servers.map((s) => s.serverId)).not.toContain(a);
    expect(await result(heartbeat({ serverId: a }))).toEqual({ status: 404, body: { error: "Server not registered" } });
  });

  it("lists a server that moves region once", async () => {
    const s = id("mover");
    await register(server(s, { region: "eu-west" }));
    await register(server(s, { region: "us-east" }));
    const listed = (await signedList()).servers.filter((e) => e.serverId === s);
    expect(listed).toHaveLength(1);
    expect(listed[0]!.region).toBe("us-east");
  });

  it("authenticates registry writes and fails closed outside dev mode (§4.2.2)", async () => {
    const s = id("auth");
    for (const headers of [{}, { Authorization: "Bearer nope" }] as Record<string, string>[]) {
      expect(await result(register(server(s), headers))).toEqual({ status: 401, body: { error: "Unauthorized" } });
      expect(await result(heartbeat({ serverId: s }, headers))).toEqual({ status: 401, body: { error: "Unauthorized" } });
      expect(await result(call(`/servers/${s}`, { method: "DELETE", headers }))).toEqual({ status: 401, body: { error: "Unauthorized" } });
    }
    const closed = { SERVER_REGISTRY_SECRET: undefined, DEV_MODE: "false" };
    expect(await result(callWith(closed, "/servers", { method: "POST", json: server(s) }))).toEqual({
      status: 503,
      body: { error: "Server authentication not configured" },
    });
    const open = { SERVER_REGISTRY_SECRET: undefined, DEV_MODE: "true" };
    expect((await callWith(open, "/servers", { method: "POST", json: server(s, { endpoint: "ws://localhost:8787" }) })).status).toBe(200);
    expect(await result(callWith(open, `/servers/${s}`, { method: "DELETE", headers: { Authorization: "Bearer not-the-key" } }))).toEqual({
      status: 403,
      body: { error: "Not authorized to delete this server" },
    });
    expect((await callWith(open, `/servers/${s}`, { method: "DELETE", headers: { Authorization: "Bearer A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=" } })).status).toBe(200);
  });

  it("answers every registration error row with the exact text (§4.2.4)", async () => {
    const s = id("bad");
    const rows: [Record<string, unknown>, number, string][] = [
      [{ endpoint: "wss://x.org", publicKey: "k" }, 400, "Missing required fields: serverId, endpoint, publicKey"],
      [{ serverId: s, endpoint: "", publicKey: "k" }, 400, "Missing required fields: serverId, endpoint, publicKey"],
      [{ serverId: s, endpoint: "wss://x.org", publicKey: 5 }, 400, "Missing required fields: serverId, endpoint, publicKey"],
      [server(s, { timestamp: "now", nonce: nonce() }), 400, "Missing or invalid timestamp"],
      [server(s, { timestamp: Date.now() - 200_000, nonce: nonce() }), 400, "Registration timestamp too old (max 2 minutes)"],
      [server(s, { timestamp: Date.now() + 60_000, nonce: nonce() }), 400, "Registration timestamp too far in future (max 30 seconds)"],
      [server(s, { timestamp: Date.now(), nonce: "short" }), 400, "Missing or invalid nonce (must be string >= 16 chars)"],
      [server(s, { timestamp: Date.now() }), 400, "Missing or invalid nonce (must be string >= 16 chars)"],
      [server("bad id!"), 400, "Invalid serverId format"],
      [server("x".repeat(129)), 400, "Invalid serverId format"],
      [server(s, { endpoint: "not a url" }), 400, "Invalid endpoint: must be a valid URL"],
      [server(s, { endpoint: "http://relay.example.org" }), 400, "Invalid endpoint: must use HTTPS or WSS protocol"],
      [server(s, { endpoint: "wss://192.168.1.4/" }), 400, "Invalid endpoint: must not point to private or internal addresses"],
      [server(s, { endpoint: "wss://localhost:8080" }), 400, "Invalid endpoint: must not point to private or internal addresses"],
      [server(s, { endpoint: "wss://172.20.0.1" }), 400, "Invalid endpoint: must not point to private or internal addresses"],
      [server(s, { endpoint: `wss://relay.example.org/${"p".repeat(2100)}` }), 400, "Invalid endpoint: URL too long (max 2048 characters)"],
      [server(s, { publicKey: "k".repeat(1025) }), 400, "Invalid publicKey: too long"],
    ];
    for (const [body, status, error] of rows) expect(await result(register(body)), error).toEqual({ status, body: { error } });
    expect(await result(register(server(s, { publicKey: "k".repeat(5000) })))).toEqual({ status: 413, body: { error: "Request body too large" } });
    expect(await result(call("/servers", { method: "POST", headers: AUTH, body: "{oops" }))).toEqual({ status: 400, body: { error: "Invalid JSON body" } });
    expect((await signedList()).servers.map((e) => e.serverId)).not.toContain(s);
  });

  it("rejects replayed registration nonces across the deployment, recording only successful ones (§4.2.3)", async () => {
    const n = nonce();
    const first = id("n1");
    // A failing request does not record its nonce.
    expect((await register(server(first, { endpoint: "http://x.org", timestamp: Date.now(), nonce: n }))).status).toBe(400);
    expect((await register(server(first, { timestamp: Date.now(), nonce: n }))).status).toBe(200);
    expect(await result(register(server(id("n2"), { timestamp: Date.now(), nonce: n })))).toEqual({
      status: 409,
      body: { error: "Replay detected: duplicate nonce" },
    });
    expect(await result(callWith({ REQUIRE_REPLAY_PROTECTION: "true" }, "/servers", { method: "POST", headers: AUTH, json: server(id("n3")) }))).toEqual({
      status: 400,
      body: { error: "Missing or invalid timestamp" },
    });
  });

  it("checks heartbeat rows in order: serverId, replay fields, registration, sequence (§4.2.5)", async () => {
    const s = id("hb");
    expect(await result(heartbeat({}))).toEqual({ status: 400, body: { error: "Missing serverId" } });
    expect(await result(heartbeat({ serverId: "bad id" }))).toEqual({ status: 400, body: { error: "Invalid serverId format" } });
    expect(await result(heartbeat({ serverId: s, timestamp: Date.now() - 500_000, nonce: nonce() }))).toEqual({
      status: 400,
      body: { error: "Heartbeat timestamp too old (max 2 minutes)" },
    });
    expect(await result(heartbeat({ serverId: s }))).toEqual({ status: 404, body: { error: "Server not registered" } });
    await register(server(s));
    expect(await result(heartbeat({ serverId: s, sequenceNumber: -1 }))).toEqual({ status: 400, body: { error: "Invalid sequenceNumber" } });
    expect(await result(heartbeat({ serverId: s, sequenceNumber: 1.5 }))).toEqual({ status: 400, body: { error: "Invalid sequenceNumber" } });
    expect((await heartbeat({ serverId: s, sequenceNumber: 5 })).status).toBe(200);
    expect(await result(heartbeat({ serverId: s, sequenceNumber: 5 }))).toEqual({
      status: 409,
      body: { error: "Replay detected: sequence number must be greater than last accepted", lastSequenceNumber: 5 },
    });
    const n = nonce();
    expect((await heartbeat({ serverId: s, timestamp: Date.now(), nonce: n, sequenceNumber: 6 })).status).toBe(200);
    expect(await result(heartbeat({ serverId: s, timestamp: Date.now(), nonce: n, sequenceNumber: 7 }))).toEqual({
      status: 409,
      body: { error: "Replay detected: duplicate nonce" },
    });
    // Heartbeat nonces are per server; re-registering clears the sequence number.
    const other = id("hb2");
    await register(server(other));
    expect((await heartbeat({ serverId: other, timestamp: Date.now(), nonce: n })).status).toBe(200);
    await register(server(s));
    expect((await heartbeat({ serverId: s, sequenceNumber: 1 })).status).toBe(200);
    expect(await result(callWith({ REQUIRE_REPLAY_PROTECTION: "true" }, "/servers/heartbeat", { method: "POST", headers: AUTH, json: { serverId: s, timestamp: Date.now(), nonce: nonce() } }))).toEqual({
      status: 400,
      body: { error: "Invalid sequenceNumber" },
    });
  });

  it("sends the list unsigned, and logs, when the signing key is unset or unusable (§5.3)", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    for (const key of [undefined, "not-a-seed"]) {
      const response = await callWith({ BOOTSTRAP_SIGNING_KEY: key }, "/servers?nonce=UnsignedNonce12345");
      expect(response.status).toBe(200);
      expect(response.headers.get("X-Bootstrap-Signature")).toBeNull();
      expect(Object.keys(JSON.parse(await response.text()))).toEqual(["servers", "nonce", "timestamp"]);
    }
    expect(logged.mock.calls).toEqual([
      ["GET /servers: BOOTSTRAP_SIGNING_KEY is unset or unusable; sending the list unsigned"],
      ["GET /servers: BOOTSTRAP_SIGNING_KEY is unset or unusable; sending the list unsigned"],
    ]);
    logged.mockRestore();
  });

  it("answers DELETE path and id errors (§4.2.6) and bad list nonces (§5.1)", async () => {
    expect(await result(call("/servers/a/b", { method: "DELETE", headers: AUTH }))).toEqual({ status: 400, body: { error: "Invalid path format" } });
    expect(await result(call("/servers/bad%20id", { method: "DELETE", headers: AUTH }))).toEqual({ status: 400, body: { error: "Invalid server ID" } });
    expect(await result(call("/servers/%E0%A4%A", { method: "DELETE", headers: AUTH }))).toEqual({ status: 400, body: { error: "Invalid server ID" } });
    for (const bad of ["short", "x".repeat(129), "has%20space", ""]) {
      const response = await call(`/servers?nonce=${bad}`);
      expect(response.status).toBe(400);
      expect(response.headers.get("X-Bootstrap-Signature")).toBeNull();
      expect(await response.json()).toEqual({ error: "Invalid nonce: must be 16-128 URL-safe characters" });
    }
  });
});
