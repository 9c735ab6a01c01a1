/** Attestation test data shared by the HTTP flow tests and the WebSocket tests: tokens, references, answers. */
import { env } from "cloudflare:test";
import { expect } from "vitest";
import { signingKeyFromSeed, sign, verify } from "../../src/crypto/ed25519.js";
import { fromHex, toBase64Url, utf8 } from "../../src/crypto/encoding.js";
import { hmacSha256Hex } from "../../src/crypto/hmac.js";
import { CI, call } from "../helpers.js";

/** The test seed: ATTESTATION_SIGNING_KEY of vitest.config.ts, so it also verifies build tokens. */
export const SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
let n = 0;
/** A new device id. */
export const deviceId = () => `dev-${Date.now().toString(36)}-${n++}`;
/** A new X.Y.Z version, so each test has references of its own. */
export const VERSION = () => `2.${n}.${Date.now() % 1000}`;

export async function buildToken(fields: Record<string, unknown>): Promise<{ payload: string; signature: string }> {
  const key = (await signingKeyFromSeed(SEED))!;
  const payload = JSON.stringify(fields);
  return { payload, signature: toBase64Url(await sign(key, utf8(payload))) };
}
export const tokenFor = (version: string, platform = "android", extra: Record<string, unknown> = {}) =>
  buildToken({ version, platform, build_hash: "abc123", timestamp: Date.now(), ...extra });

/** Region bytes of the reference binary; region `i` is at offset `i * 100`. */
export const BYTES = ["7f454c460201010000000000", "00112233445566778899", "deadbeefcafe", "0102030405", "a0a1a2a3a4a5a6", "ff00ff00"];
export const REGIONS = BYTES.map((hex, i) => ({ offset: i * 100, length: hex.length / 2, data_hex: hex, weight: i + 1 }));

export async function upload(version: string, platform = "android", regions: unknown = REGIONS) {
  return call("/attest/upload-reference", { method: "POST", headers: CI, json: { version, platform, build_hash: "abc123", size: 4096, critical_regions: regions } });
}
export const register = async (device: string, version: string, platform = "android") =>
  call("/attest/register", { method: "POST", json: { device_id: device, build_token: await tokenFor(version, platform) } });
export const challenge = (device: string, version: string) => call("/attest/challenge", { method: "POST", json: { device_id: device, build_version: version } });

/** The shard of `device` in the devices keyspace. */
export async function deviceShardOf(device: string): Promise<string> {
  return (await env.DIRECTORY.getByName("durable-shards-directory").resolve("devices", device)) as string;
}

/** Correct answers (§6.4) to a challenge over the regions of {@link REGIONS}. */
export async function answer(nonce: string, regions: { index: number; offset: number }[]) {
  return Promise.all(
    regions.map(async (r) => ({ region_index: r.index, hmac: await hmacSha256Hex(fromHex(nonce)!, fromHex(BYTES[r.offset / 100]!)!) })),
  );
}

/** Bytes of base64url text (decoded here, not with the server's own decoder). */
const base64UrlBytes = (text: string) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));

/** Checks that `token` is a verified session token (§6.5) signed with the test key; returns its data. */
export async function verifiedTokenData(token: string): Promise<Record<string, unknown>> {
  const [payload, signature] = token.split(".") as [string, string];
  const bytes = base64UrlBytes(payload);
  const key = (await signingKeyFromSeed(SEED))!;
  expect(await verify(key.publicKey, base64UrlBytes(signature), bytes)).toBe(true);
  const data = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  expect(Object.keys(data)).toEqual(["device_id", "build_version", "platform", "issued_at", "expires_at"]);
  expect((data.expires_at as number) - (data.issued_at as number)).toBe(3_600_000);
  return data;
}
