/**
 * Bearer tokens that bind a request to one user (and org): `<payload>.<signature>`, both base64url,
 * the payload `{"sub": userId, "org"?: orgId, "exp": seconds}` and the signature its HMAC-SHA256
 * under the deployment's `TOKEN_SECRET`. A token opens only the store of its own user and org.
 */
import { z } from "zod";
import { idSchema, type StoreRef } from "./store-key.js";

const claimsSchema = z.strictObject({ sub: idSchema, org: idSchema.optional(), exp: z.number().int().positive() });
export type Claims = z.infer<typeof claimsSchema>;

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const keys = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"])));
  return key;
}

/** A token for `ref`, valid for `ttlSeconds` (default 30 days). */
export async function signToken(secret: string, ref: StoreRef, ttlSeconds = 30 * 86_400): Promise<string> {
  const claims: Claims = { sub: ref.userId, ...(ref.orgId === undefined ? {} : { org: ref.orgId }), exp: Math.floor(Date.now() / 1000) + ttlSeconds };
  const payload = base64url(encoder.encode(JSON.stringify(claims)));
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(payload)));
  return `${payload}.${base64url(signature)}`;
}

/** The claims of a valid, unexpired token, or why it is refused. */
export async function verifyToken(secret: string, token: string): Promise<{ claims: Claims } | { error: string }> {
  const [payload, signature, extra] = token.split(".");
  if (!payload || !signature || extra !== undefined || token.length > 2048) return { error: "token is not <payload>.<signature>" };
  const sig = fromBase64url(signature);
  if (!sig || !(await crypto.subtle.verify("HMAC", await hmacKey(secret), sig, encoder.encode(payload)))) return { error: "token signature is not valid" };
  const bytes = fromBase64url(payload);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { error: "token payload is not JSON" };
  }
  const claims = claimsSchema.safeParse(json);
  if (!claims.success) return { error: "token claims are not {sub, org?, exp}" };
  if (claims.data.exp * 1000 < Date.now()) return { error: "token expired" };
  return { claims: claims.data };
}

/** Whether `claims` open the store `ref`: the same user, and the same org (or none on both). */
export function opens(claims: Claims, ref: StoreRef): boolean {
  return claims.sub === ref.userId && claims.org === ref.orgId;
}
