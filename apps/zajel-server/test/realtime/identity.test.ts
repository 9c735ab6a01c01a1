import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import { publicEndpoint, serverIdentityKey } from "../../src/realtime/identity.js";

describe("server identity (§2, §7.1.3)", () => {
  it("uses SERVER_IDENTITY_KEY when set, else one generated key kept for the deployment", async () => {
    const configured = await serverIdentityKey(env as unknown as Env);
    const unset = { ...(env as unknown as Env), SERVER_IDENTITY_KEY: undefined };
    const generated = await serverIdentityKey(unset);
    expect(generated.publicKeyBase64).not.toBe(configured.publicKeyBase64);
    expect((await serverIdentityKey(unset)).publicKeyBase64).toBe(generated.publicKeyBase64);
    expect((await serverIdentityKey({ ...unset, SERVER_IDENTITY_KEY: "not-a-seed" })).publicKeyBase64).toBe(generated.publicKeyBase64);
  });

  it("derives the endpoint from the upgrade unless PUBLIC_WS_ENDPOINT is set", () => {
    const base = env as unknown as Env;
    expect(publicEndpoint(base, "https://signal.example.org/ws?x=1")).toBe("wss://signal.example.org/");
    expect(publicEndpoint(base, "http://127.0.0.1:8787/")).toBe("ws://127.0.0.1:8787/");
    expect(publicEndpoint({ ...base, PUBLIC_WS_ENDPOINT: "wss://relay.example.org/" }, "http://x/")).toBe("wss://relay.example.org/");
  });
});
