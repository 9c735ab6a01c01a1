import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

const auth = { authorization: "Bearer test-admin-token" };

describe("/_shards (the library's admin API, mounted)", () => {
  it("serves status, metrics and the dashboard behind ADMIN_TOKEN", async () => {
    // A request that routes through the codes keyspace makes sure it exists.
    await SELF.fetch("https://zajel.test/servers");
    expect((await SELF.fetch("https://zajel.test/_shards/api/status")).status).toBe(401);
    expect((await SELF.fetch("https://zajel.test/_shards/api/status", { headers: { authorization: "Bearer nope" } })).status).toBe(401);
    const status = await SELF.fetch("https://zajel.test/_shards/api/status", { headers: auth });
    expect(status.status).toBe(200);
    const body = (await status.json()) as { keyspaces: { name: string }[] };
    expect(body.keyspaces.length).toBeGreaterThan(0);
    const metrics = await SELF.fetch("https://zajel.test/_shards/metrics", { headers: auth });
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
    expect(await metrics.text()).toContain("durable_shards_map_version");
    const page = await SELF.fetch("https://zajel.test/_shards/");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>durable-shards</title>");
  });

  it("answers bad input with 4xx JSON, not the server's 404 hint", async () => {
    const response = await SELF.fetch("https://zajel.test/_shards/api/keyspaces/bad%20name", { headers: auth });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "InvalidArgument" });
  });
});
