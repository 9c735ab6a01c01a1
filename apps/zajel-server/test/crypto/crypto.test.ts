// Test vectors of docs/zajel-protocol.md §5.6, §6.1, §6.4 and §6.5.
import { describe, expect, it } from "vitest";
import { signingKeyFromSeed, sign, verify } from "../../src/crypto/ed25519.js";
import { fromAnyBase64, fromBase64, fromHex, toBase64, toBase64Url, toHex, utf8 } from "../../src/crypto/encoding.js";
import { constantTimeEqual, hmacSha256Hex } from "../../src/crypto/hmac.js";

const TEST_SEED = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const TEST_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";

describe("Ed25519 from seeds", () => {
  it("derives the published public key of the test seed (§5.6)", async () => {
    const key = await signingKeyFromSeed(TEST_SEED);
    expect(key?.publicKeyBase64).toBe(TEST_PUBLIC_KEY);
    expect((await signingKeyFromSeed(TEST_SEED.toUpperCase()))?.publicKeyBase64).toBe(TEST_PUBLIC_KEY);
  });

  it("signs the worked example body exactly as §5.6 shows", async () => {
    const key = (await signingKeyFromSeed(TEST_SEED))!;
    const body = '{"servers":[],"nonce":"Zt3xQ9mK2pL7vR4w","timestamp":1767225600000}';
    expect(utf8(body).length).toBe(67);
    expect(toBase64(await sign(key, utf8(body)))).toBe(
      "jjT7KIba2ZayJ/KLpJD7XYcWwsI+5ps3R199J9ERUl9jGPuq8RzaY5QzutOxhiFBa6ZegQGe8/RbpZJCBiqfDQ==",
    );
  });

  it("verifies the build token test vector (§6.1) and rejects tampering", async () => {
    const payload =
      '{"version":"1.2.3","platform":"android","build_hash":"50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c","timestamp":1767225600000}';
    const signature = fromAnyBase64("G1Ri2DRFeEpiS-zjzHga8xUWW7XcfOVu1gUl5LfMB2BoyS2rfQF33GmanpG-AtIN33ZDBZwey9XTa5IwXCE5AA")!;
    const publicKey = fromBase64(TEST_PUBLIC_KEY)!;
    expect(await verify(publicKey, signature, utf8(payload))).toBe(true);
    expect(await verify(publicKey, signature, utf8(payload.replace("1.2.3", "1.2.4")))).toBe(false);
    expect(await verify(publicKey, signature.slice(1), utf8(payload))).toBe(false);
    expect(await verify(new Uint8Array(32), signature, utf8(payload))).toBe(false);
  });

  it("produces the session token of §6.5", async () => {
    const key = (await signingKeyFromSeed(TEST_SEED))!;
    const p = '{"device_id":"a1b2c3d4","build_version":"1.2.3","platform":"android","issued_at":1767225600000,"expires_at":1767229200000}';
    const token = `${toBase64Url(utf8(p))}.${toBase64Url(await sign(key, utf8(p)))}`;
    expect(token).toBe(
      "eyJkZXZpY2VfaWQiOiJhMWIyYzNkNCIsImJ1aWxkX3ZlcnNpb24iOiIxLjIuMyIsInBsYXRmb3JtIjoiYW5kcm9pZCIsImlzc3VlZF9hdCI6MTc2NzIyNTYwMDAwMCwiZXhwaXJlc19hdCI6MTc2NzIyOTIwMDAwMH0.q_DQEJgzbyH87pN7Feu6GEVwhgheoUr9i828RxupE7MHWdQ_v2PFWQrr_xuAO5lkGoxmEz6yuvbha2_e-k4NDA",
    );
  });

  it("returns no key for unset or malformed seeds", async () => {
    for (const seed of [undefined, "", "00", TEST_SEED.slice(1) + "g", TEST_SEED + "00"]) {
      expect(await signingKeyFromSeed(seed)).toBeUndefined();
    }
  });
});

describe("HMAC and encodings", () => {
  it("matches the region response vector (§6.4)", async () => {
    const nonce = fromHex("0f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff")!;
    expect(await hmacSha256Hex(nonce, fromHex("7f454c460201010000000000")!)).toBe(
      "818b7b93c0bfefab481d392821443b3337b4ee8f13bdf26b2785991c42e88df2",
    );
  });

  it("compares in constant time and rejects different lengths", () => {
    expect(constantTimeEqual("Bearer abc", "Bearer abc")).toBe(true);
    expect(constantTimeEqual("Bearer abc", "Bearer abd")).toBe(false);
    expect(constantTimeEqual("Bearer abc", "Bearer abcd")).toBe(false);
  });

  it("round-trips and rejects malformed encodings", () => {
    const bytes = Uint8Array.from([0, 1, 250, 251, 252, 253, 254, 255]);
    expect(fromHex(toHex(bytes))).toEqual(bytes);
    expect(fromBase64(toBase64(bytes))).toEqual(bytes);
    expect(fromAnyBase64(toBase64Url(bytes))).toEqual(bytes);
    expect(fromAnyBase64(toBase64(bytes))).toEqual(bytes);
    expect(fromAnyBase64(toBase64(bytes).replace(/=+$/, ""))).toEqual(bytes);
    for (const bad of ["abc", "zz", "0"]) expect(fromHex(bad)).toBeUndefined();
    for (const bad of ["a", "ab=c", "****", "YQ"]) expect(fromBase64(bad)).toBeUndefined();
    for (const bad of ["a", "a+b_", "!!!!"]) expect(fromAnyBase64(bad)).toBeUndefined();
  });
});
