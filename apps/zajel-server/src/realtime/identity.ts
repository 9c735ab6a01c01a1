/** The WebSocket server identity (§7.1.3): `server_info` and the signed `server_identity` proof. */
import { adminState } from "../admin/routes.js";
import { signingKeyFromSeed, sign, type SigningKey } from "../crypto/ed25519.js";
import { toBase64, toBase64Url } from "../crypto/encoding.js";
import type { Env } from "../env.js";

/** `SERVER_IDENTITY_KEY`, or the deployment's generated and stored seed when unset or unusable. */
export async function serverIdentityKey(env: Env): Promise<SigningKey> {
  const configured = await signingKeyFromSeed(env.SERVER_IDENTITY_KEY);
  if (configured) return configured;
  return (await signingKeyFromSeed(await adminState(env).generatedIdentitySeed()))!;
}

/** `PUBLIC_WS_ENDPOINT`, else `wss://<host>/` (HTTPS) or `ws://<host>/` (HTTP) of the upgrade. */
export function publicEndpoint(env: Env, requestUrl: string): string {
  if (env.PUBLIC_WS_ENDPOINT) return env.PUBLIC_WS_ENDPOINT;
  const url = new URL(requestUrl);
  return `${url.protocol === "https:" ? "wss" : "ws"}://${url.host}/`;
}

/** The two greeting frames, in order. */
export async function greeting(env: Env, requestUrl: string): Promise<[string, string]> {
  const key = await serverIdentityKey(env);
  const info = { type: "server_info", serverId: `ed25519:${toBase64Url(key.publicKey)}`, endpoint: publicEndpoint(env, requestUrl), region: env.REGION ?? null };
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const identity = { type: "server_identity", public_key: key.publicKeyBase64, nonce: toBase64(nonce), signature: toBase64(await sign(key, nonce)) };
  return [JSON.stringify(info), JSON.stringify(identity)];
}
