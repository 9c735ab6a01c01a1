import { env } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { adminApp } from "../src/index.js";
import { createKv, directory, kvRouter, until } from "./helpers.js";
import type { TestEnv } from "./fixtures/worker.js";

const TOKEN = "test-admin-token-0123456789";
const app = adminApp<TestEnv>({ directory: (e) => e.DIRECTORY, token: () => TOKEN, eventIntervalMs: 50 });
const closed = adminApp<TestEnv>({ directory: (e) => e.DIRECTORY, token: () => undefined });

async function call(path: string, init: RequestInit = {}, token: string | null = TOKEN): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return app.request(path, { ...init, headers }, env);
}
const post = (path: string, body?: unknown) => call(path, { method: "POST", ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }) });
const json = async <T = Record<string, unknown>>(response: Response): Promise<T> => (await response.json()) as T;

describe("admin API", () => {
  it("refuses without a token, with a wrong one, and when no token is configured (fails closed)", async () => {
    const name = await createKv(1);
    const path = `/api/keyspaces/${name}`;
    expect((await call(path, {}, null)).status).toBe(401);
    expect((await call(path, {}, "wrong")).status).toBe(401);
    expect((await call(path, {}, `${TOKEN}x`)).status).toBe(401);
    const none = await closed.request(path, { headers: { authorization: `Bearer ${TOKEN}` } }, env);
    expect(none.status).toBe(401);
    expect(await json(none)).toMatchObject({ error: "Unauthorized", message: expect.stringMatching(/no token configured/) });
    expect((await closed.request(path, { headers: { authorization: "Bearer " } }, env)).status).toBe(401);
    expect((await call(path)).status).toBe(200);
    // The page holds no data and is served without a token; the metrics are not.
    const page = await call("/", {}, null);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>durable-shards</title>");
    expect((await call("/metrics", {}, null)).status).toBe(401);
  });

  it("answers bad input on every route with a 4xx and a JSON message", async () => {
    const name = await createKv(1);
    const k = `/api/keyspaces/${name}`;
    const cases: [string, RequestInit | undefined, number][] = [
      ["/api/keyspaces/bad%20name", undefined, 400],
      ["/api/keyspaces/no-such-keyspace", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/map", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/shards", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/hot-keys", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/load-history", undefined, 404],
      [`${k}/add-shards`, { method: "POST", body: "{not json" }, 400],
      [`${k}/add-shards`, { method: "POST", body: JSON.stringify({ shards: -1 }) }, 400],
      [`${k}/add-shards`, { method: "POST", body: JSON.stringify({ shards: 1, colour: "red" }) }, 400],
      [`${k}/add-shards`, { method: "POST", body: JSON.stringify({ shards: 1, copyBytesPerSecond: 5 }) }, 400],
      [`${k}/remove-shards`, { method: "POST", body: JSON.stringify({ shards: [] }) }, 400],
      [`${k}/remove-shards`, { method: "POST", body: JSON.stringify({ shards: ["s9"] }) }, 404],
      [`${k}/remove-shards`, { method: "POST", body: JSON.stringify({ shards: ["s0"] }) }, 409],
      [`${k}/rebalance`, { method: "POST", body: JSON.stringify({ by: "mood" }) }, 400],
      [`${k}/rebalance`, { method: "POST", body: "[]" }, 400],
      [`${k}/change/abort`, { method: "POST" }, 409],
      [`${k}/change/abort`, { method: "POST", body: JSON.stringify({ force: true }) }, 400],
      [`${k}/autoscaler/pause`, { method: "POST", body: "pause" }, 400],
      [`${k}/autoscaler/resume`, { method: "POST", body: JSON.stringify({ now: 1 }) }, 400],
      ["/api/alerts?all=yes", undefined, 400],
      // Only the mount point serves the page; another path ending in a slash is not a route.
      [`${k}/`, undefined, 404],
      ["/api/keyspaces/", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/diagnose", undefined, 404],
      ["/api/keyspaces/no-such-keyspace/change", undefined, 404],
      [`${k}/settings`, { method: "PATCH", body: JSON.stringify({ alerts: { errorRate: 7 } }) }, 400],
      [`${k}/settings`, { method: "PATCH", body: JSON.stringify({ nothing: 1 }) }, 400],
      ["/api/keyspaces/no-such-keyspace/autoscaler/pause", { method: "POST" }, 404],
      [`${k}/backups`, { method: "POST", body: JSON.stringify({ now: true }) }, 400],
      [`${k}/backups/bk-missing/restore`, { method: "POST", body: "{}" }, 404],
      [`${k}/backups/..%2F..%2Fx/restore`, { method: "POST", body: "{}" }, 400],
      [`${k}/backups/bk-x/restore`, { method: "POST", body: JSON.stringify({ into: "bad name" }) }, 400],
      [`${k}/backups/bk-missing`, { method: "DELETE" }, 404],
      ["/api/jobs/nope", undefined, 404],
      ["/api/jobs/bad%20id", undefined, 400],
      ["/api/nothing-here", undefined, 404],
    ];
    // Every route that names a keyspace refuses a bad name with 400.
    for (const [method, rest] of [
      ["GET", ""], ["GET", "/map"], ["GET", "/shards"], ["GET", "/hot-keys"], ["GET", "/load-history"], ["POST", "/add-shards"], ["POST", "/remove-shards"], ["POST", "/rebalance"],
      ["GET", "/change"], ["POST", "/change/abort"], ["GET", "/diagnose"], ["GET", "/settings"], ["PATCH", "/settings"], ["GET", "/autoscaler"],
      ["POST", "/autoscaler/pause"], ["POST", "/autoscaler/resume"], ["GET", "/backups"], ["POST", "/backups"], ["POST", "/backups/bk-x/restore"], ["DELETE", "/backups/bk-x"],
    ] as const) {
      cases.push([`/api/keyspaces/bad%20name${rest}`, { method, ...(method === "GET" || method === "DELETE" ? {} : { body: "{}" }) }, 400]);
    }
    for (const [path, init, status] of cases) {
      const response = await call(path, init);
      const body = await json<{ error: string; message: string }>(response);
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(typeof body.message).toBe("string");
    }
    // Nothing changed.
    expect(await json(await call(k))).toMatchObject({ version: 1, shards: [expect.objectContaining({ id: "s0" })] });
  });

  it("answers every read and operator route that takes no change with its data", async () => {
    const name = await createKv(2);
    const { router } = kvRouter(name);
    for (let i = 0; i < 20; i++) await router.get(`k${i}`).put("v");
    const ok = async <T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<T> => {
      const response = await call(path, init);
      expect({ path, status: response.status }).toEqual({ path, status: 200 });
      return json<T>(response);
    };
    const k = `/api/keyspaces/${name}`;
    expect((await ok<{ name: string }[]>("/api/keyspaces")).map((x) => x.name)).toContain(name);
    const metrics = await ok<{ keyspace: string; shards: unknown[] }[]>("/api/metrics");
    expect(metrics.find((m) => m.keyspace === name)?.shards).toHaveLength(2);
    expect(await ok(`${k}/map`)).toMatchObject({ version: 1 });
    expect(await ok(`${k}/hot-keys`)).toMatchObject({ keys: expect.any(Array) });
    expect(await ok(`${k}/load-history`)).toMatchObject({ keyspace: name, columns: expect.any(Array) });
    expect(await ok(`${k}/diagnose`)).toMatchObject({ keyspace: name });
    expect(Array.isArray(await ok("/api/alerts"))).toBe(true);
    await directory().observe(name);
    const all = await ok<{ keyspace: string; name: string }[]>("/api/alerts?all=1");
    expect(all.filter((a) => a.keyspace === name).map((a) => a.name)).toContain("error_rate");
    expect((await ok<{ alerts: { errorRate: number } }>(`${k}/settings`)).alerts.errorRate).toBe(0.01);
    const patched = await ok<{ alerts: { errorRate: number; p99Seconds: number } }>(`${k}/settings`, { method: "PATCH", body: JSON.stringify({ alerts: { errorRate: 0.05 } }) });
    expect(patched.alerts).toMatchObject({ errorRate: 0.05, p99Seconds: 1 });
    expect(await ok(`${k}/autoscaler`)).toMatchObject({ state: { paused: false } });
    expect(await ok(`${k}/autoscaler/pause`, { method: "POST" })).toMatchObject({ paused: true });
    expect(await ok(`${k}/autoscaler`)).toMatchObject({ state: { paused: true } });
    expect(await ok(`${k}/autoscaler/resume`, { method: "POST", body: "{}" })).toMatchObject({ paused: false });
    expect(await ok(`${k}/change`)).toMatchObject({ version: 1, phase: "done" });
    // The page is served at the mount point with its slash, without a token.
    const app2 = new Hono<{ Bindings: TestEnv }>().route("/_shards", app);
    for (const path of ["/_shards", "/_shards/"]) {
      const page = await app2.request(path, {}, env);
      expect({ path, status: page.status }).toEqual({ path, status: 200 });
      expect(await page.text()).toContain("<title>durable-shards</title>");
    }
    expect((await app2.request(`/_shards${k}/`, { headers: { authorization: `Bearer ${TOKEN}` } }, env)).status).toBe(404);
  });

  it("plans a dry run, starts the change, and reports its status until done", async () => {
    const name = await createKv(2);
    const { router } = kvRouter(name);
    for (let i = 0; i < 50; i++) await router.get(`k${i}`).put("v");
    const dry = await post(`/api/keyspaces/${name}/add-shards`, { shards: 1, dryRun: true });
    expect(dry.status).toBe(200);
    expect(await json(dry)).toMatchObject({ dryRun: true, moves: [expect.objectContaining({ to: "s2" }), expect.objectContaining({ to: "s2" })], predicted: { by: "slots" } });
    expect((await json(await call(`/api/keyspaces/${name}`))).version).toBe(1);

    const started = await post(`/api/keyspaces/${name}/add-shards`, { shards: 1 });
    expect(started.status).toBe(202);
    expect(await json(started)).toMatchObject({ started: true, version: 2 });
    const change = await until(() => call(`/api/keyspaces/${name}/change`).then((r) => json<{ phase: string; totals: { movesDone: number } }>(r)), (c) => c.phase === "done", "the change");
    expect(change.totals.movesDone).toBe(2);
    expect(await json(await call(`/api/keyspaces/${name}`))).toMatchObject({ version: 2, shards: [{ id: "s0" }, { id: "s1" }, { id: "s2" }].map((s) => expect.objectContaining(s)) });
    for (let i = 0; i < 50; i++) expect(await router.get(`k${i}`).get()).toBe("v");
    const shards = await json<{ shards: { shard: string; up: boolean }[] }>(await call(`/api/keyspaces/${name}/shards`));
    expect(shards.shards.map((s) => s.up)).toEqual([true, true, true]);
    const metrics = await call("/metrics");
    expect(metrics.headers.get("content-type")).toMatch(/^text\/plain; version=0.0.4/);
    expect(await metrics.text()).toContain(`durable_shards_map_version{keyspace="${name}"} 2`);
  });

  it("aborts a running change", async () => {
    const name = await createKv(1);
    const { router } = kvRouter(name);
    // About 10 MB, so half of it (what moves) spans more than one 4 MiB page: at 64 KiB/s the
    // second page waits a minute, and the change is surely still copying when it is aborted.
    for (let i = 0; i < 160; i++) await router.get(`big${i}`).put("x".repeat(64_000));
    const started = await post(`/api/keyspaces/${name}/add-shards`, { shards: 1, copyBytesPerSecond: 65_536 });
    expect(started.status).toBe(202);
    await until(() => call(`/api/keyspaces/${name}/change`).then((r) => json<{ phase: string }>(r)), (c) => c.phase === "copying", "the copy");
    const aborted = await post(`/api/keyspaces/${name}/change/abort`);
    expect(aborted.status).toBe(200);
    expect(await json(aborted)).toMatchObject({ phase: "rolled back" });
    expect(await json(await call(`/api/keyspaces/${name}`))).toMatchObject({ shards: [expect.objectContaining({ id: "s0" })] });
    for (let i = 0; i < 160; i++) expect(await router.get(`big${i}`).get()).toHaveLength(64_000);
  });

  it("backs up and restores through the API, following the jobs", async () => {
    const name = await createKv(2);
    const { router } = kvRouter(name);
    for (let i = 0; i < 30; i++) await router.get(`k${i}`).put(`v${i}`);
    const started = await post(`/api/keyspaces/${name}/backups`);
    expect(started.status).toBe(202);
    const { id } = await json<{ id: string }>(started);
    await until(() => call(`/api/jobs/${id}`).then((r) => json<{ phase: string }>(r)), (j) => j.phase === "done", "the backup");
    const listed = await json<{ id: string; rows: number }[]>(await call(`/api/keyspaces/${name}/backups`));
    expect(listed).toEqual([expect.objectContaining({ id, rows: 30 })]);
    const into = `${name}-copy`;
    const restore = await post(`/api/keyspaces/${name}/backups/${id}/restore`, { into });
    expect(restore.status).toBe(202);
    const job = await json<{ id: string }>(restore);
    const done = await until(() => call(`/api/jobs/${job.id}`).then((r) => json<{ phase: string; verified?: boolean }>(r)), (j) => j.phase === "done", "the restore");
    expect(done.verified).toBe(true);
    expect((await json<{ shards: unknown[] }>(await call(`/api/keyspaces/${into}`))).shards).toHaveLength(2);
    expect((await call(`/api/keyspaces/${name}/backups/${id}`, { method: "DELETE" })).status).toBe(200);
    expect(await json(await call(`/api/keyspaces/${name}/backups`))).toEqual([]);
  });

  it("streams snapshots as server-sent events", async () => {
    await createKv(1);
    const controller = new AbortController();
    const response = await call("/api/events", { signal: controller.signal });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n\n")) text += (await reader.read()).value ?? "";
    controller.abort();
    await reader.cancel().catch(() => undefined);
    expect(text.startsWith("event: snapshot\ndata: ")).toBe(true);
    const data = JSON.parse(text.split("\n")[1]!.slice(6)) as { keyspaces: unknown[]; metrics: unknown[] };
    expect(data.keyspaces.length).toBeGreaterThan(0);
    expect(Array.isArray(data.metrics)).toBe(true);
  });
});
