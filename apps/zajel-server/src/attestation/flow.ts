/**
 * The challenge/verify steps of the attestation flow (§4.3.4, §4.3.5, §6.2), shared by the HTTP
 * endpoints and attestation over WebSocket (§7.8). Failures are thrown as {@link HttpError}s with
 * the HTTP status and text of the endpoint tables.
 */
import { z } from "zod";
import { adminState } from "../admin/routes.js";
import { fromHex } from "../crypto/encoding.js";
import { constantTimeEqual, hmacSha256Hex } from "../crypto/hmac.js";
import type { Env } from "../env.js";
import { HttpError } from "../http/errors.js";
import { challengeStore } from "./challenge-store.js";
import { deviceStore } from "./device-store.js";
import { idSchema, type ChallengeRecord, type ChallengeRegion } from "./model.js";
import { selectRegions } from "./regions.js";
import { VERIFIED_TOKEN_MS, sessionKey, sessionToken } from "./tokens.js";

const isId = (v: unknown): v is string => idSchema.safeParse(v).success;
const NONCE = /^[0-9a-f]{64}$/;
const HMAC = /^[0-9a-f]{64}$/;

/** The answer of `POST /attest/verify` (a 200 body). */
export type Verification = { valid: true; session_token: string } | { valid: true; error: string } | { valid: false; error: string };

/**
 * Issues a challenge for `deviceId`; `buildVersion` undefined means the device's registered
 * version (the WebSocket default, §7.8).
 */
export async function issueChallenge(env: Env, deviceId: string, buildVersion: string | undefined): Promise<{ nonce: string; regions: ChallengeRegion[] }> {
  if (!isId(deviceId)) throw HttpError.of(400, "Invalid device_id format");
  if (buildVersion !== undefined && !isId(buildVersion)) throw HttpError.of(400, "Invalid build_version format");
  const devices = deviceStore(env, deviceId);
  const begun = await devices.beginChallenge();
  if (begun.status === "not-registered") throw HttpError.of(404, "Device not registered");
  if (begun.status === "web") throw HttpError.of(400, "Binary attestation not available for web platform. Use registration token.");
  if (begun.status === "too-many") {
    throw HttpError.of(429, "Too many pending challenges. Please complete or wait for existing challenges to expire.");
  }
  const version = buildVersion ?? begun.buildVersion;
  const reference = await adminState(env).reference(version, begun.platform);
  if (!reference) {
    await devices.forgetChallenge(begun.nonce);
    throw HttpError.of(404, "No reference binary found for this version and platform");
  }
  const challenge: ChallengeRecord = {
    nonce: begun.nonce,
    device_id: deviceId,
    build_version: version,
    platform: begun.platform,
    regions: selectRegions(reference.critical_regions),
    created_at: Date.now(),
  };
  await challengeStore(env, begun.nonce).put(challenge);
  return { nonce: challenge.nonce, regions: challenge.regions };
}

const responseSchema = z.object({ region_index: z.number().int().min(0), hmac: z.string().regex(HMAC) });

/** Verifies the answers to challenge `nonce` of `deviceId`; refusals of the 403 rows are thrown. */
export async function verifyResponses(env: Env, deviceId: string, nonce: string, responses: unknown[]): Promise<Verification> {
  if (!isId(deviceId)) throw HttpError.of(400, "Invalid device_id format");
  if (!NONCE.test(nonce)) throw HttpError.of(403, "Invalid or expired nonce");
  const challenges = challengeStore(env, nonce);
  const found = await challenges.inspect(deviceId);
  if (found.status === "missing") throw HttpError.of(403, "Invalid or expired nonce");
  if (found.status === "expired") throw HttpError.of(403, "Challenge expired");
  if (found.status === "mismatch") throw HttpError.of(403, "Device ID mismatch");
  const { challenge } = found;
  if (responses.length !== challenge.regions.length) return { valid: false, error: "Wrong number of responses" };
  const seen = new Set<number>();
  for (const response of responses) {
    const parsed = responseSchema.safeParse(response);
    if (!parsed.success || parsed.data.region_index >= challenge.regions.length || seen.has(parsed.data.region_index)) {
      return { valid: false, error: "Verification failed" };
    }
    seen.add(parsed.data.region_index);
  }
  if (!(await challenges.consume())) throw HttpError.of(403, "Invalid or expired nonce");
  await deviceStore(env, deviceId).forgetChallenge(nonce);

  const reference = await adminState(env).reference(challenge.build_version, challenge.platform);
  if (!reference) return { valid: false, error: "Reference binary no longer available" };
  const checks = (responses as { region_index: number; hmac: string }[]).map((r) => {
    const asked = challenge.regions[r.region_index]!;
    const region = reference.critical_regions.find((x) => x.offset === asked.offset && x.length === asked.length);
    return { response: r, bytes: region?.data_hex === undefined ? undefined : fromHex(region.data_hex) };
  });
  if (checks.some((check) => check.bytes === undefined)) return { valid: false, error: "Verification failed" };
  const key = fromHex(nonce)!;
  for (const check of checks) {
    if (!constantTimeEqual(await hmacSha256Hex(key, check.bytes!), check.response.hmac)) return { valid: false, error: "HMAC mismatch" };
  }
  const signing = await sessionKey(env);
  if (!signing) return { valid: true, error: "Session token signing not configured" };
  const now = Date.now();
  const token = await sessionToken(signing, {
    device_id: deviceId,
    build_version: challenge.build_version,
    platform: challenge.platform,
    issued_at: now,
    expires_at: now + VERIFIED_TOKEN_MS,
  });
  return { valid: true, session_token: token };
}
