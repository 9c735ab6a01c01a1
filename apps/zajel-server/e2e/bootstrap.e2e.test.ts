// End to end: the README's start command, then the bootstrap API over real HTTP as relays and
// clients use it: register, heartbeat, list and verify the signature, delete.
import { createPublicKey, verify as verifySignature } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "./server.js";

const SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
const SECRET = `e2e-secret-${Date.now()}`;
let server: RunningServer;
let base = "";

function verifyBody(body: string, signatureBase64: string): boolean {
  const spki = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(PUBLIC_KEY, "base64")]);
  return verifySignature(null, Buffer.from(body, "utf8"), createPublicKey({ key: spki, format: "der", type: "spki" }), Buffer.from(signatureBase64, "base64"));
}

// Values from the environment win over .dev.vars: the known test seed and a fresh secret.
beforeAll(async () => {
  server = await startServer({ BOOTSTRAP_SIGNING_KEY: SEED, SERVER_REGISTRY_SECRET: SECRET, LIST_SNAPSHOT_FRESH_MS: "0" });
  base = server.base;
}, 100_000);
afterAll(() => server?.stop(), 20_000);

describe("bootstrap API over HTTP", () => {
  it("registers, heartbeats, lists a verifiable signed list, and deletes", async () => {
    const auth = { Authorization: `Bearer ${SECRET}`, "Content-Type": "application/json" };
    const serverId = `ed25519:e2e-${Date.now()}`;
    expect(server.output()).toContain(`Bootstrap public key (base64, raw 32 bytes): ${PUBLIC_KEY}`);

    const registered = await fetch(`${base}/servers`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ serverId, endpoint: "wss://relay.example.org", publicKey: "pk", region: "eu-west", timestamp: Date.now(), nonce: `e2e-nonce-${Date.now()}` }),
    });
    expect(registered.status).toBe(200);
    expect(((await registered.json()) as { server: { serverId: string } }).server.serverId).toBe(serverId);

    const beat = await fetch(`${base}/servers/heartbeat`, { method: "POST", headers: auth, body: JSON.stringify({ serverId, connections: 4, sequenceNumber: 1 }) });
    expect(beat.status).toBe(200);

    const nonce = `e2e${Date.now()}abcdefgh`;
    const listed = await fetch(`${base}/servers?nonce=${nonce}`);
    expect(listed.status).toBe(200);
    const raw = await listed.text();
    expect(verifyBody(raw, listed.headers.get("x-bootstrap-signature")!)).toBe(true);
    const body = JSON.parse(raw) as { servers: { serverId: string; connections: number }[]; nonce: string; timestamp: number };
    expect(body.nonce).toBe(nonce);
    expect(Math.abs(body.timestamp - Date.now())).toBeLessThan(300_000);
    expect(body.servers.find((s) => s.serverId === serverId)?.connections).toBe(4);

    expect((await fetch(`${base}/servers/${encodeURIComponent(serverId)}`, { method: "DELETE", headers: auth })).status).toBe(200);
    const after = await fetch(`${base}/servers`);
    const afterRaw = await after.text();
    expect(verifyBody(afterRaw, after.headers.get("x-bootstrap-signature")!)).toBe(true);
    expect((JSON.parse(afterRaw) as { servers: { serverId: string }[] }).servers.map((s) => s.serverId)).not.toContain(serverId);

    expect((await fetch(`${base}/servers`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).toBe(401);
  });
});
