import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { OverloadedError, ShardError, errorResponse, errorStatus } from "../src/index.js";

describe("errorResponse", () => {
  it("maps library errors to statuses and leaves foreign errors alone", async () => {
    expect(errorResponse(new ShardError("UnknownKeyspace", "x"))!.status).toBe(404);
    expect(errorResponse(new ShardError("InvalidKey", "x"))!.status).toBe(400);
    expect(errorResponse(new ShardError("RetriesExhausted", "x", { retryable: true }))!.status).toBe(503);
    const incomplete = errorResponse(new ShardError("Incomplete", "count: 1 of 4 shards failed"))!;
    expect([incomplete.status, incomplete.headers.get("Retry-After")]).toEqual([503, "1"]);
    const overloaded = errorResponse(new OverloadedError("busy", { retryAfterSeconds: 3 }))!;
    expect(overloaded.status).toBe(503);
    expect(overloaded.headers.get("Retry-After")).toBe("3");
    expect(await errorResponse(new ShardError("LastShard", "no"))!.json()).toEqual({ error: "LastShard", message: "no" });
    expect(errorResponse(new Error("other"))).toBeUndefined();
  });

  it("gives the same statuses alone, for an app that answers in its own shape", () => {
    const errors = [new ShardError("UnknownKeyspace", "x"), new ShardError("NoChange", "x"), new ShardError("RetriesExhausted", "x", { retryable: true }), new OverloadedError("busy")];
    expect(errors.map((e) => errorStatus(e))).toEqual([404, 409, 503, 503]);
    expect(errors.map((e) => errorResponse(e)!.status)).toEqual([404, 409, 503, 503]);
    expect(errorStatus(new Error("other"))).toBeUndefined();
  });
});

describe("the example kv Worker over HTTP", () => {
  it("creates the keyspace, stores, counts, grows and rejects bad input with 4xx", async () => {
    const call = (path: string, init?: RequestInit) => SELF.fetch(`https://kv.test${path}`, init);
    expect((await call("/keyspace", { method: "POST", body: JSON.stringify({ shards: 3 }) })).status).toBe(201);
    expect((await call("/keyspace", { method: "POST", body: JSON.stringify({ shards: 3 }) })).status).toBe(409);
    for (let i = 0; i < 12; i++) expect((await call(`/kv/item${i}`, { method: "PUT", body: `value ${i}` })).status).toBe(204);
    expect(await (await call("/kv/item3")).text()).toBe("value 3");
    expect(await (await call("/kv/counter/increment", { method: "POST" })).json()).toEqual({ value: 1 });
    expect(await (await call("/kv")).json()).toEqual({ total: 13, complete: true, failedShards: [] });
    expect((await call("/keyspace/shards", { method: "POST", body: JSON.stringify({ count: 2 }) })).status).toBe(200);
    expect(await (await call("/kv/item7")).text()).toBe("value 7");
    expect(await (await call("/kv")).json()).toEqual({ total: 13, complete: true, failedShards: [] });

    expect((await call("/kv/missing")).status).toBe(404);
    expect((await call("/keyspace/shards", { method: "POST", body: "{not json" })).status).toBe(400);
    expect((await call("/keyspace/shards", { method: "POST", body: JSON.stringify({ count: "two" }) })).status).toBe(400);
    expect((await call(`/kv/${"x".repeat(1100)}`)).status).toBe(400);
    expect((await call("/kv/big", { method: "PUT", body: "y".repeat(70_000) })).status).toBe(400);
  });
});
