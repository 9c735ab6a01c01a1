/**
 * Ed25519 with WebCrypto: keys from 32-byte RFC 8032 seeds (64 hex characters, §2), raw public
 * keys as standard base64.
 */
import { fromHex, toBase64 } from "./encoding.js";

/** A usable signing key: the private key and its public key. */
export interface SigningKey {
  privateKey: CryptoKey;
  /** Raw 32-byte public key. */
  publicKey: Uint8Array;
  /** The public key as published to clients: standard base64 with padding (44 characters). */
  publicKeyBase64: string;
}

// PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix, then the seed.
const PKCS8_PREFIX = fromHex("302e020100300506032b657004220420")!;
const SEED = /^[0-9a-fA-F]{64}$/;

const cache = new Map<string, Promise<SigningKey | undefined>>();

/**
 * The signing key of a 64-hex-character seed, or `undefined` when `seedHex` is unset or not a
 * seed. Keys are derived once per isolate.
 */
export function signingKeyFromSeed(seedHex: string | undefined): Promise<SigningKey | undefined> {
  if (!seedHex || !SEED.test(seedHex)) return Promise.resolve(undefined);
  let key = cache.get(seedHex);
  if (!key) {
    key = derive(seedHex);
    cache.set(seedHex, key);
  }
  return key;
}

async function derive(seedHex: string): Promise<SigningKey | undefined> {
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX);
  der.set(fromHex(seedHex)!, PKCS8_PREFIX.length);
  try {
    const privateKey = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    const jwk = (await crypto.subtle.exportKey("jwk", privateKey)) as JsonWebKey;
    const publicKey = Uint8Array.from(atob(jwk.x!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    return { privateKey, publicKey, publicKeyBase64: toBase64(publicKey) };
  } catch {
    return undefined;
  }
}

/** Ed25519 signature (64 bytes) of `message`. */
export async function sign(key: SigningKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, message));
}

/** Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte `publicKey`. */
export async function verify(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return false;
  }
}
