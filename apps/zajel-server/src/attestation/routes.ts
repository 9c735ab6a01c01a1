/** Attestation endpoints (§4.3.2–4.3.5); the flow is described in §6. */
import { Hono } from "hono";
import { z } from "zod";
import { adminState } from "../admin/routes.js";
import { checkVersion } from "../admin/policy.js";
import { fromHex } from "../crypto/encoding.js";
import { constantTimeEqual, hmacSha256Hex } from "../crypto/hmac.js";
import type { Env } from "../env.js";
import { requireSecret } from "../http/auth.js";
import { readJsonObject } from "../http/body.js";
import { HttpError, json } from "../http/errors.js";
import { issueChallenge, verifyResponses } from "./flow.js";
import { challengeStore } from "./challenge-store.js";
import { deviceIndex } from "./device-index.js";
import { deviceStore } from "./device-store.js";
import { idSchema, type ChallengeRecord } from "./model.js";
import { referenceFromBody } from "./references.js";
import { selectRegions } from "./regions.js";
import { VERIFIED_TOKEN_MS, WEB_TOKEN_MS, buildTokenVerifier, sessionKey, sessionToken, verifyBuildToken } from "./tokens.js";

export const attestation = new Hono<{ Bindings: Env }>();

const nonEmpty = z.string().min(1);
const isId = (v: unknown): v is string => idSchema.safeParse(v).success;
const isString = (v: unknown): v is string => typeof v === "string";
const TOKEN_FIELDS = z.object({ version: nonEmpty, platform: nonEmpty, build_hash: nonEmpty, timestamp: z.number().finite() });
const NONCE = /^[0-9a-f]{64}$/;
const HMAC = /^[0-9a-f]{64}$/;
const THIRTY_DAYS_MS = 2_592_000_000;

attestation.post("/attest/register", async (c) => {
  const body = await readJsonObject(c.req.raw, 8192);
  const { build_token: token, device_id: deviceId } = body;
  const tokenObject = typeof token === "object" && token !== null && !Array.isArray(token) ? (token as Record<string, unknown>) : undefined;
  if (!tokenObject || !isString(deviceId)) throw HttpError.of(400, "Missing required fields: build_token, device_id");
  if (!isId(deviceId)) throw HttpError.of(400, "Invalid device_id format");
  const { payload, signature } = tokenObject;
  if (!nonEmpty.safeParse(payload).success || !nonEmpty.safeParse(signature).success) {
    throw HttpError.of(400, "Invalid build_token format: must include payload and signature");
  }
  const verifier = await buildTokenVerifier(c.env);
  if (!(await verifyBuildToken(verifier, payload as string, signature as string))) throw HttpError.of(403, "Invalid build token signature");
  let data: unknown;
  try {
    data = JSON.parse(payload as string);
  } catch {
    throw HttpError.of(400, "Invalid build token payload");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw HttpError.of(400, "Invalid build token payload");
  const fields = TOKEN_FIELDS.safeParse(data);
  if (!fields.success) throw HttpError.of(400, "Build token missing required fields: version, platform, build_hash, timestamp");
  const { version, platform, build_hash, timestamp } = fields.data;
  const now = Date.now();
  if (timestamp - now > 60_000) throw HttpError.of(403, "Build token has a future timestamp");
  if (now - timestamp > THIRTY_DAYS_MS) throw HttpError.of(403, "Build token expired");
  const policy = await adminState(c.env).policy();
  const verdict = checkVersion(policy, version);
  if (!verdict.allowed) throw HttpError.of(403, verdict.reason);

  const devices = deviceStore(c.env, deviceId);
  const isNew = !(await devices.exists());
  if (isNew && !(await deviceIndex(c.env).admit(deviceId))) throw HttpError.of(503, "Device registry full");
  const outcome = await devices.register({ version, platform, build_hash });
  if (outcome.status === "web-limit") throw HttpError.of(429, "Too many registration attempts. Please try again later.");

  const response: Record<string, unknown> = { status: "registered", device: outcome.device, version_status: verdict.status };
  if (platform === "web") {
    response.attestation_mode = "web_fallback";
    const key = await sessionKey(c.env);
    if (key) {
      response.session_token = await sessionToken(key, {
        device_id: deviceId,
        build_version: version,
        platform: "web",
        issued_at: now,
        expires_at: now + WEB_TOKEN_MS,
        trust_level: "web_fallback",
      });
    }
  }
  if (verdict.status === "update_recommended") response.recommended_version = policy.recommended_version;
  return json(response);
});

attestation.post("/attest/upload-reference", async (c) => {
  requireSecret(c.req.raw, c.env.CI_UPLOAD_SECRET, "CI upload not configured");
  const reference = referenceFromBody(await readJsonObject(c.req.raw, 65_536), Date.now());
  return json({ success: true, reference: await adminState(c.env).putReference(reference) });
});

attestation.post("/attest/challenge", async (c) => {
  const body = await readJsonObject(c.req.raw, 2048);
  const { device_id: deviceId, build_version: buildVersion } = body;
  if (!isString(deviceId) || !isString(buildVersion)) throw HttpError.of(400, "Missing required fields: device_id, build_version");
  return json(await issueChallenge(c.env, deviceId, buildVersion));
});

attestation.post("/attest/verify", async (c) => {
  const body = await readJsonObject(c.req.raw, 16_384);
  const { device_id: deviceId, nonce, responses } = body;
  if (!isString(deviceId) || !isString(nonce) || !Array.isArray(responses)) {
    throw HttpError.of(400, "Missing required fields: device_id, nonce, responses (array)");
  }
  return json(await verifyResponses(c.env, deviceId, nonce, responses));
});
