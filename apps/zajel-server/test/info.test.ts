import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("GET /health", () => {
  it("answers any method with the status document", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      const response = await SELF.fetch("https://zajel.test/health", { method });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { status: string; service: string; timestamp: string };
      expect(body.status).toBe("ok");
      expect(body.service).toBe("zajel-bootstrap");
      expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    }
  });

  it("answers unknown paths with 404, not 500", async () => {
    const response = await SELF.fetch("https://zajel.test/definitely-not-here");
    expect(response.status).toBe(404);
  });
});
