/** The build check of registrations and heartbeats (§4.2.8). */
import { verify } from "../crypto/ed25519.js";
import { fromBase64, utf8 } from "../crypto/encoding.js";

/** The build triple when all three fields are strings. */
export function buildTriple(body: Record<string, unknown>): { hash: string; signature: string; signingKey: string } | undefined {
  const { buildHash, buildSignature, buildSigningKey } = body;
  if (typeof buildHash !== "string" || typeof buildSignature !== "string" || typeof buildSigningKey !== "string") return undefined;
  return { hash: buildHash, signature: buildSignature, signingKey: buildSigningKey };
}

/** Whether the triple verifies and its key is in the effective trusted set. */
export async function buildVerified(triple: { hash: string; signature: string; signingKey: string }, trusted: readonly string[]): Promise<boolean> {
  if (!trusted.includes(triple.signingKey)) return false;
  const key = fromBase64(triple.signingKey);
  const signature = fromBase64(triple.signature);
  if (!key || key.length !== 32 || !signature || signature.length !== 64) return false;
  return verify(key, signature, utf8(triple.hash));
}
