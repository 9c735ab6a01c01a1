import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { classify } from "../../src/ratelimit/classes.js";

function call(path: string, ip: string | null, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (ip !== null) headers.set("CF-Connecting-IP", ip);
  return SELF.fetch(`https://zajel.test${path}`, { ...init, headers });
}

describe("rate limits (§3.5)", () => {
  it("classifies every request into exactly one class", () => {
    expect(classify("OPTIONS", "/servers")).toBe("read");
    expect(classify("GET", "/health")).toBe("read");
    expect(classify("GET", "/attest/versions")).toBe("read");
    expect(classify("GET", "/servers")).toBe("GET:/servers");
    expect(classify("GET", "/servers/trusted-keys")).toBe("GET:/servers/trusted-keys");
    expect(classify("POST", "/servers")).toBe("POST:/servers");
    expect(classify("POST", "/servers/trusted-keys")).toBe("POST:/servers/trusted-keys");
    expect(classify("POST", "/attest/upload-reference")).toBe("admin");
    expect(classify("DELETE", "/attest/versions")).toBe("admin");
    expect(classify("POST", "/attest/register")).toBe("attest");
    expect(classify("POST", "/servers/heartbeat")).toBe("write");
    expect(classify("DELETE", "/servers/x")).toBe("write");
    expect(classify("PUT", "/whatever")).toBe("write");
  });

  it("refuses the request that exceeds the limit, with the exact 429 and headers, per IP and class", async () => {
    const ip = "203.0.113.7";
    for (let i = 1; i <= 200; i++) {
      const response = await call("/health", ip);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-ratelimit-limit")).toBe("200");
      expect(response.headers.get("x-ratelimit-remaining")).toBe(String(200 - i));
    }
    const refused = await call("/health", ip);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: "Too Many Requests" });
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(refused.headers.get("x-ratelimit-limit")).toBe("200");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get("x-frame-options")).toBe("DENY");
    // Other classes and other IPs have their own counters.
    expect((await call("/servers/heartbeat", ip, { method: "POST" })).headers.get("x-ratelimit-limit")).toBe("30");
    expect((await call("/health", "203.0.113.8")).status).toBe(200);
  });

  it("counts requests without CF-Connecting-IP in the shared 'unknown' bucket, concurrently and exactly", async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, () => call("/attest/register", null, { method: "POST" })));
    const refused = responses.filter((r) => r.status === 429).length;
    expect(refused).toBe(20);
  });
});
