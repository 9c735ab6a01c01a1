// Dev secrets of the Zajel server: the names the environment may set, and their generation.
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";

/** Configuration names (docs/zajel-protocol.md §2, then our own) that the environment may set. */
export const CONFIG_NAMES = [
  "BOOTSTRAP_SIGNING_KEY",
  "ATTESTATION_SIGNING_KEY",
  "BUILD_TOKEN_VERIFY_KEY",
  "CI_UPLOAD_SECRET",
  "SERVER_REGISTRY_SECRET",
  "DEV_MODE",
  "REQUIRE_REPLAY_PROTECTION",
  "ALLOWED_ORIGINS",
  "TRUSTED_BUILD_KEYS",
  "SERVER_IDENTITY_KEY",
  "PUBLIC_WS_ENDPOINT",
  "REGION",
  "REQUIRE_WS_ATTESTATION",
  "WS_MAX_CONNECTIONS",
  "LOG_LEVEL",
  // Our own settings (not in the protocol):
  "LIST_SNAPSHOT_FRESH_MS",
  "ADMIN_TOKEN",
];

/** Fresh dev secrets: Ed25519 seeds as 64 hex characters, bearer secrets as random base64url. */
export function generateDevVars() {
  const seed = () => randomBytes(32).toString("hex");
  const secret = () => randomBytes(24).toString("base64url");
  return {
    DEV_MODE: "true",
    BOOTSTRAP_SIGNING_KEY: seed(),
    ATTESTATION_SIGNING_KEY: seed(),
    SERVER_IDENTITY_KEY: seed(),
    CI_UPLOAD_SECRET: secret(),
    SERVER_REGISTRY_SECRET: secret(),
    // The admin API and dashboard at /_shards (durable-shards).
    ADMIN_TOKEN: secret(),
  };
}

/** Base64 of the raw 32-byte Ed25519 public key of a 64-hex-character seed. */
export function publicKeyOfSeed(seedHex) {
  if (!/^[0-9a-fA-F]{64}$/.test(seedHex)) throw new Error("expected 64 hex characters");
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): fixed 16-byte prefix, then the seed.
  const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), Buffer.from(seedHex, "hex")]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  return Buffer.from(jwk.x, "base64url").toString("base64");
}
