/**
 * Attestation over WebSocket (§7.8): the same challenge/verify logic and data as the HTTP API,
 * counted in the client IP's `attest` rate class, and the opt-in gate of the chunk messages.
 */
import { issueChallenge, verifyResponses } from "../attestation/flow.js";
import { idSchema } from "../attestation/model.js";
import { RATE_LIMITS } from "../ratelimit/classes.js";
import { rateLimitRouter } from "../ratelimit/middleware.js";
import { fail, type Frame, type SocketContext } from "./socket.js";

export const ATTESTED_FOR_MS = 3_600_000;
export const ATTESTATION_GRACE_MS = 30_000;

/** Counts one attestation message in the IP's `attest` class; false when the class is exhausted. */
async function attestAllowed(ctx: SocketContext): Promise<boolean> {
  return (await rateLimitRouter(ctx.env).get(`attest|${ctx.state.ip}`).hit(RATE_LIMITS.attest)).allowed;
}

export async function attestRequest(ctx: SocketContext, frame: Frame): Promise<void> {
  const buildVersion = frame.build_version;
  if (buildVersion !== undefined && typeof buildVersion !== "string") {
    return fail(ctx, "Invalid message: attest_request: build_version must be a string");
  }
  const deviceId = frame.device_id as string;
  const refused = { type: "attest_error", message: "Failed to get attestation challenge from bootstrap" };
  // Only a well-formed id is kept: the socket's attachment is small (16 KiB).
  ctx.state.attestDevice = idSchema.safeParse(deviceId).success ? deviceId : undefined;
  if (!(await attestAllowed(ctx))) return ctx.reply(refused);
  try {
    const challenge = await issueChallenge(ctx.env, deviceId, buildVersion);
    ctx.reply({ type: "attest_challenge", nonce: challenge.nonce, regions: challenge.regions });
  } catch (error) {
    ctx.log.debug("attestation challenge refused", { error: String(error) });
    ctx.reply(refused);
  }
}

export async function attestResponse(ctx: SocketContext, frame: Frame): Promise<void> {
  const responses = frame.responses as unknown[];
  if (responses.length === 0) return fail(ctx, "Missing or empty responses array");
  const deviceId = ctx.state.attestDevice;
  let verdict: Awaited<ReturnType<typeof verifyResponses>> | undefined;
  if (deviceId !== undefined && (await attestAllowed(ctx))) {
    verdict = await verifyResponses(ctx.env, deviceId, frame.nonce as string, responses).catch((error: unknown) => {
      ctx.log.debug("attestation verification refused", { error: String(error) });
      return undefined;
    });
  }
  if (verdict?.valid && "session_token" in verdict) {
    ctx.state.attestedUntil = Date.now() + ATTESTED_FOR_MS;
    return ctx.reply({ type: "attest_success", session_token: verdict.session_token });
  }
  if (verdict?.valid) return ctx.reply({ type: "attest_success", session_token: null });
  ctx.reply({ type: "attest_failed", message: "Attestation verification failed" });
  ctx.close(4001, "Attestation failed");
}

/**
 * The gate of the chunk messages (only with `REQUIRE_WS_ATTESTATION=true`): attested within the
 * hour, or accepted less than 30 s ago. Answers `NOT_ATTESTED` and returns false otherwise.
 */
export function attestationGate(ctx: SocketContext): boolean {
  if (!ctx.state.requireAttestation) return true;
  const now = Date.now();
  if ((ctx.state.attestedUntil ?? 0) > now || now - ctx.state.connectedAt < ATTESTATION_GRACE_MS) return true;
  ctx.reply({ type: "error", code: "NOT_ATTESTED", message: "Attestation required" });
  return false;
}
