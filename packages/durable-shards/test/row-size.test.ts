import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { slotsSize } from "../src/capture.js";
import { rowBytes } from "../src/row-size.js";
import { createKv, kvRouter } from "./helpers.js";

describe("row sizes", () => {
  it("are the same in SQL (a source's totals) as in JS (the pages a move copies): strings by length, numbers and NULL 8", async () => {
    const keyspace = await createKv(1);
    const { router } = kvRouter(keyspace);
    for (let i = 0; i < 20; i++) await router.get(`k${i}`).put("v".repeat(i * 7), i % 2 ? 60_000 : undefined);
    const { sqlBytes, jsBytes, rows } = await runInDurableObject(env.KV.getByName(`${keyspace}:s0`), (_o, state) => {
      const all = state.storage.sql.exec("SELECT * FROM kv").toArray();
      return { sqlBytes: slotsSize(state.storage.sql, ["kv"], [[0, 65_536]]).bytes, jsBytes: all.reduce((n, r) => n + rowBytes(r), 0), rows: all.length };
    });
    expect(rows).toBe(20);
    expect(sqlBytes).toBe(jsBytes);
  });
});
