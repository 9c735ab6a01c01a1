import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

let ip = 0;
/** A request from its own client IP, so rate limits of other tests do not interfere. */
function call(path: string, init: RequestInit = {}, from = `198.51.100.${++ip % 250}`) {
  const headers = new Headers(init.headers);
  if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", from);
  return SELF.fetch(`https://zajel.test${path}`, { ...init, headers });
}

const SECURITY_HEADERS = {
  "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
  "access-control-allow-headers": "Content-Type, Authorization",
  "access-control-expose-headers": "X-Bootstrap-Signature, X-Attestation-Token",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

describe("info endpoints (§4.1)", () => {
  it("answers / and /api/info with the info document for any method", async () => {
    for (const [method, path] of [["GET", "/"], ["POST", "/api/info"], ["DELETE", "/"]] as const) {
      const response = await call(path, { method });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/json");
      const body = (await response.json()) as { name: string; endpoints: Record<string, string> };
      expect(body).toMatchObject({ name: "Zajel Bootstrap Server", description: "VPS server discovery and attestation service" });
      expect(Object.keys(body.endpoints)).toEqual([
        "health", "listServers", "registerServer", "unregisterServer", "heartbeat", "attestRegister", "attestUploadReference",
        "attestChallenge", "attestVerify", "attestVersions", "attestSetVersions", "trustedKeys", "websocket",
      ]);
    }
  });

  it("answers /health with compact JSON", async () => {
    const text = await (await call("/health")).text();
    expect(text).toMatch(/^\{"status":"ok","service":"zajel-bootstrap","timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"\}$/);
  });
});

describe("HTTP conventions (§3)", () => {
  it("puts the security headers on every response, errors and OPTIONS included", async () => {
    for (const response of [await call("/health"), await call("/nope"), await call("/anything", { method: "OPTIONS" })]) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), name).toBe(value);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
    }
  });

  it("answers OPTIONS on any path with 200 and an empty body", async () => {
    const response = await call("/servers/whatever", { method: "OPTIONS" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  it("allows listed origins and any port of http://localhost only with the wildcard entry", async () => {
    const allowed = await call("/health", { headers: { Origin: "https://zajel.hamzalabs.dev" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://zajel.hamzalabs.dev");
    expect(allowed.headers.get("vary")).toContain("Origin");
    const other = await call("/health", { headers: { Origin: "https://evil.example" } });
    expect(other.status).toBe(200);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const localhost = await call("/health", { headers: { Origin: "http://localhost:3000" } });
    expect(localhost.headers.get("access-control-allow-origin")).toBeNull(); // not in the default list
  });

  it("answers unknown paths with the exact 404 bodies", async () => {
    expect(await (await call("/nope")).json()).toEqual({ error: "Not Found", hint: "Use GET /servers to list VPS servers" });
    expect(await (await call("/servers/a/b/c", { method: "PUT" })).json()).toEqual({ error: "Not Found" });
    expect(await (await call("/attest/nothing")).json()).toEqual({ error: "Not Found" });
  });

  it("keeps upgrade requests to HTTP route paths as plain HTTP", async () => {
    const response = await call("/health", { headers: { Upgrade: "websocket" } });
    expect(response.status).toBe(200);
  });
});
