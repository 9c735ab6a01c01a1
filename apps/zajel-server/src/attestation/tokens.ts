/** Build tokens (§6.1) and session tokens (§6.5). */
import { signingKeyFromSeed, sign, verify, type SigningKey } from "../crypto/ed25519.js";
import { fromAnyBase64, fromBase64, toBase64Url, utf8 } from "../crypto/encoding.js";
import type { Env } from "../env.js";
import { HttpError } from "../http/errors.js";

export const VERIFIED_TOKEN_MS = 3_600_000;
export const WEB_TOKEN_MS = 15 * 60_000;

/** The key that verifies build tokens (§4.3.2 row 4), or the configuration error to answer. */
export async function buildTokenVerifier(env: Env): Promise<Uint8Array> {
  if (env.BUILD_TOKEN_VERIFY_KEY) {
    const key = fromBase64(env.BUILD_TOKEN_VERIFY_KEY);
    if (!key || key.length !== 32) throw HttpError.of(500, "Build token verification configuration error");
    return key;
  }
  if (env.ATTESTATION_SIGNING_KEY) {
    const key = await signingKeyFromSeed(env.ATTESTATION_SIGNING_KEY);
    if (!key) throw HttpError.of(500, "Attestation service configuration error");
    return key.publicKey;
  }
  throw HttpError.of(503, "Build token verification not configured");
}

/** Whether `signature` (base64url or base64) is the Ed25519 signature of `payload` by `key`. */
export async function verifyBuildToken(key: Uint8Array, payload: string, signature: string): Promise<boolean> {
  const bytes = fromAnyBase64(signature);
  return !!bytes && bytes.length === 64 && (await verify(key, bytes, utf8(payload)));
}

/** The session-token signing key, when `ATTESTATION_SIGNING_KEY` is usable. */
export function sessionKey(env: Env): Promise<SigningKey | undefined> {
  return signingKeyFromSeed(env.ATTESTATION_SIGNING_KEY);
}

/** `base64url(P).base64url(sig(P))` for the token data `data` (keys in the order given). */
export async function sessionToken(key: SigningKey, data: Record<string, unknown>): Promise<string> {
  const payload = utf8(JSON.stringify(data));
  return `${toBase64Url(payload)}.${toBase64Url(await sign(key, payload))}`;
}
