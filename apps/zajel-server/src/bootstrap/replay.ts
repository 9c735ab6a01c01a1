/** Replay fields of registrations and heartbeats (§4.2.3). */
import { z } from "zod";
import { HttpError } from "../http/errors.js";

export const NONCE_TTL_MS = 5 * 60_000;
const nonceSchema = z.string().min(16);
const timestampSchema = z.number().finite();
const sequenceSchema = z.number().int().min(0);

const present = (v: unknown) => v !== undefined && v !== null;

/** Validated replay fields; `nonce` is undefined when replay checks do not apply. */
export interface ReplayFields {
  nonce?: string;
}

/**
 * Checks `timestamp` and `nonce` (not their uniqueness). `what` is `Registration` or `Heartbeat`,
 * as in the error texts.
 */
export function checkTimestampAndNonce(body: Record<string, unknown>, required: boolean, what: "Registration" | "Heartbeat", now: number): ReplayFields {
  if (!required && !present(body.timestamp) && !present(body.nonce)) return {};
  if (!timestampSchema.safeParse(body.timestamp).success) throw HttpError.of(400, "Missing or invalid timestamp");
  const timestamp = body.timestamp as number;
  if (now - timestamp > 120_000) throw HttpError.of(400, `${what} timestamp too old (max 2 minutes)`);
  if (timestamp - now > 30_000) throw HttpError.of(400, `${what} timestamp too far in future (max 30 seconds)`);
  if (!nonceSchema.safeParse(body.nonce).success) throw HttpError.of(400, "Missing or invalid nonce (must be string >= 16 chars)");
  return { nonce: body.nonce as string };
}

/** Whether a heartbeat's `sequenceNumber` must be checked, and whether it is valid if so. */
export function sequenceField(body: Record<string, unknown>, required: boolean): { check: false } | { check: true; valid: boolean; value?: number } {
  if (!required && !present(body.sequenceNumber)) return { check: false };
  const parsed = sequenceSchema.safeParse(body.sequenceNumber);
  return parsed.success ? { check: true, valid: true, value: parsed.data } : { check: true, valid: false };
}

export const DUPLICATE_NONCE = () => HttpError.of(409, "Replay detected: duplicate nonce");
