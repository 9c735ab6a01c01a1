/** The server registry endpoints (§4.2.4–4.2.7) and the signed list (§5). */
import { Hono } from "hono";
import { adminState } from "../admin/routes.js";
import { flag } from "../config.js";
import { signingKeyFromSeed, sign } from "../crypto/ed25519.js";
import { toBase64, utf8 } from "../crypto/encoding.js";
import type { Env } from "../env.js";
import { readJsonObject } from "../http/body.js";
import { HttpError, json, jsonError } from "../http/errors.js";
import { requireRegistryAuth } from "./auth.js";
import { buildTriple, buildVerified } from "./build-check.js";
import {
  LIVE_MS,
  endpointError,
  heartbeatMetrics,
  normalizeRegion,
  registrationMetrics,
  serverIdSchema,
  type ServerEntry,
} from "./entry.js";
import { nonceStore } from "./nonce-store.js";
import { registryIndex } from "./registry-index.js";
import { registryRouter } from "./registry.js";
import { DUPLICATE_NONCE, checkTimestampAndNonce, sequenceField } from "./replay.js";
import { freshMs, listBody, serverList, type Snapshot } from "./snapshot.js";

export const bootstrap = new Hono<{ Bindings: Env }>();

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** The build fields of an entry from a registration or heartbeat body. */
async function buildCheck(env: Env, body: Record<string, unknown>): Promise<{ verified: boolean; hash: string } | undefined> {
  const triple = buildTriple(body);
  if (!triple) return undefined;
  const trusted = await adminState(env).effectiveTrustedKeys();
  return { verified: await buildVerified(triple, trusted), hash: triple.hash };
}

// Isolate-level copy of the last snapshot, so most list and heartbeat requests cost no call; the
// signed body is kept as bytes, encoded once per snapshot rather than once per request.
let cachedSnapshot: (Snapshot & { signedBytes?: Uint8Array }) | undefined;

async function snapshot(env: Env): Promise<(Snapshot & { signedBytes?: Uint8Array }) | null> {
  if (cachedSnapshot && Date.now() - cachedSnapshot.takenAt < freshMs(env)) return cachedSnapshot;
  const fresh = await serverList(env).current();
  if (fresh) cachedSnapshot = { ...fresh, signedBytes: fresh.signedBody === undefined ? undefined : utf8(fresh.signedBody) };
  return cachedSnapshot && fresh ? cachedSnapshot : fresh;
}

bootstrap.post("/servers", async (c) => {
  requireRegistryAuth(c.req.raw, c.env);
  const body = await readJsonObject(c.req.raw, 4096);
  const { serverId, endpoint, publicKey } = body;
  if (!nonEmpty(serverId) || !nonEmpty(endpoint) || !nonEmpty(publicKey)) {
    throw HttpError.of(400, "Missing required fields: serverId, endpoint, publicKey");
  }
  const now = Date.now();
  const { nonce } = checkTimestampAndNonce(body, flag(c.env.REQUIRE_REPLAY_PROTECTION), "Registration", now);
  if (nonce !== undefined && (await nonceStore(c.env, nonce).seen())) throw DUPLICATE_NONCE();
  if (!serverIdSchema.safeParse(serverId).success) throw HttpError.of(400, "Invalid serverId format");
  const endpointProblem = endpointError(endpoint, flag(c.env.DEV_MODE));
  if (endpointProblem) throw HttpError.of(400, endpointProblem);
  if (publicKey.length > 1024) throw HttpError.of(400, "Invalid publicKey: too long");

  const build = await buildCheck(c.env, body);
  const entry: ServerEntry = {
    serverId,
    endpoint,
    publicKey,
    region: normalizeRegion(body.region),
    ...registrationMetrics(body),
    buildVerified: build?.verified ?? false,
    buildHash: build?.hash ?? null,
    buildVersion: typeof body.buildVersion === "string" ? body.buildVersion : null,
    registeredAt: now,
    lastSeen: now,
  };
  const index = registryIndex(c.env);
  if (!(await index.admit(serverId, now))) throw HttpError.of(503, "Server registry full");
  try {
    if (nonce !== undefined && !(await nonceStore(c.env, nonce).claim())) throw DUPLICATE_NONCE();
    const server = await registryRouter(c.env).get(serverId).register(entry);
    return json({ success: true, server });
  } catch (error) {
    // The admission was for this registration only; give the place back.
    await index.release([{ serverId, registeredAt: now }]);
    throw error;
  }
});

bootstrap.post("/servers/heartbeat", async (c) => {
  requireRegistryAuth(c.req.raw, c.env);
  const body = await readJsonObject(c.req.raw, 2048);
  const { serverId } = body;
  if (!nonEmpty(serverId)) throw HttpError.of(400, "Missing serverId");
  if (!serverIdSchema.safeParse(serverId).success) throw HttpError.of(400, "Invalid serverId format");
  const required = flag(c.env.REQUIRE_REPLAY_PROTECTION);
  const { nonce } = checkTimestampAndNonce(body, required, "Heartbeat", Date.now());
  const build = await buildCheck(c.env, body);
  const outcome = await registryRouter(c.env)
    .get(serverId)
    .heartbeat({ metrics: heartbeatMetrics(body), nonce, sequence: sequenceField(body, required), build });
  switch (outcome.status) {
    case "duplicate-nonce":
      throw DUPLICATE_NONCE();
    case "not-registered":
      throw HttpError.of(404, "Server not registered");
    case "invalid-sequence":
      throw HttpError.of(400, "Invalid sequenceNumber");
    case "stale-sequence":
      throw HttpError.of(409, "Replay detected: sequence number must be greater than last accepted", { lastSequenceNumber: outcome.last });
  }
  // Peers are best effort (§4.2.5): from the latest complete snapshot, or none.
  const current = await snapshot(c.env).catch(() => null);
  const now = Date.now();
  const peers = current ? (JSON.parse(current.serversJson) as ServerEntry[]).filter((e) => e.serverId !== serverId && now - e.lastSeen < LIVE_MS) : [];
  return json({ success: true, peers });
});

bootstrap.delete("/servers/*", async (c) => {
  const { publicKey } = requireRegistryAuth(c.req.raw, c.env);
  const segments = new URL(c.req.url).pathname.split("/").slice(1);
  if (segments.length !== 2 || segments[0] !== "servers" || segments[1] === "") throw HttpError.of(400, "Invalid path format");
  let serverId: string;
  try {
    serverId = decodeURIComponent(segments[1]!);
  } catch {
    throw HttpError.of(400, "Invalid server ID");
  }
  if (!serverIdSchema.safeParse(serverId).success) throw HttpError.of(400, "Invalid server ID");
  const removed = await registryRouter(c.env).get(serverId).remove(publicKey);
  if (removed === "forbidden") throw HttpError.of(403, "Not authorized to delete this server");
  if (removed === "removed") await registryIndex(c.env).release([{ serverId }]);
  return json({ success: true });
});

const LIST_NONCE = /^[A-Za-z0-9_-]{16,128}$/;

bootstrap.get("/servers", async (c) => {
  const nonce = new URL(c.req.url).searchParams.get("nonce") ?? undefined;
  if (nonce !== undefined && !LIST_NONCE.test(nonce)) throw HttpError.of(400, "Invalid nonce: must be 16-128 URL-safe characters");
  const current = await snapshot(c.env);
  if (!current) return jsonError(503, "Server registry temporarily unavailable", undefined, { "Retry-After": "5" });
  let body: string | Uint8Array;
  let signature: string | undefined;
  if (nonce === undefined && current.signedBody) {
    body = "signedBytes" in current && current.signedBytes ? current.signedBytes : current.signedBody;
    signature = current.signature;
  } else {
    body = listBody(current.serversJson, nonce === undefined ? current.takenAt : Date.now(), nonce);
    const key = await signingKeyFromSeed(c.env.BOOTSTRAP_SIGNING_KEY);
    if (key) signature = toBase64(await sign(key, utf8(body)));
  }
  if (!signature) console.error("GET /servers: BOOTSTRAP_SIGNING_KEY is unset or unusable; sending the list unsigned");
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (signature) headers["X-Bootstrap-Signature"] = signature;
  return new Response(body, { status: 200, headers });
});
