import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Timers } from "../src/index.js";
import { createKv, kvRouter, uniqueName } from "./helpers.js";

describe("Timers", () => {
  it("multiplexes named timers onto one alarm, earliest first, surviving re-creation", async () => {
    const stub = env.FLAKY.getByName(uniqueName("timers"));
    await runInDurableObject(stub, async (_, state) => {
      const timers = new Timers(state.storage);
      await timers.schedule("cleanup", 5_000_000_000_000);
      await timers.schedule("flush", 4_000_000_000_000, { batch: 7 });
      expect(await state.storage.getAlarm()).toBe(4_000_000_000_000);
      await timers.cancel("flush");
      expect(await state.storage.getAlarm()).toBe(5_000_000_000_000);
      const again = new Timers(state.storage);
      expect(again.dueAt("cleanup")).toBe(5_000_000_000_000);
      expect(again.names()).toEqual(["cleanup"]);
      const seen: unknown[] = [];
      expect(await again.run({ cleanup: (p) => void seen.push(p) }, 4_000_000_000_000)).toEqual([]);
      await again.schedule("flush", 1, { batch: 7 });
      expect(await again.run({ flush: (p) => void seen.push(p) })).toEqual(["flush"]);
      expect(seen).toEqual([{ batch: 7 }]);
      expect(await state.storage.getAlarm()).toBe(5_000_000_000_000);
      await again.cancel("cleanup");
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  it("ensure() sets a timer only when it is not set, keeping the earlier time", async () => {
    const stub = env.FLAKY.getByName(uniqueName("timers"));
    await runInDurableObject(stub, async (_, state) => {
      const timers = new Timers(state.storage);
      await timers.ensure("sweep", 60_000);
      const first = timers.dueAt("sweep")!;
      expect(first).toBeGreaterThan(Date.now() + 50_000);
      await timers.ensure("sweep", 600_000);
      expect(timers.dueAt("sweep")).toBe(first);
      expect(await state.storage.getAlarm()).toBe(first);
    });
  });

  it("puts a timer back when its handler throws, so the alarm retry runs it again", async () => {
    const stub = env.FLAKY.getByName(uniqueName("timers"));
    await runInDurableObject(stub, async (_, state) => {
      const timers = new Timers(state.storage);
      await timers.schedule("job", 1);
      await expect(timers.run({ job: () => Promise.reject(new Error("boom")) })).rejects.toThrow("boom");
      expect(timers.dueAt("job")).toBe(1);
      expect(await timers.run({ job: () => undefined })).toEqual(["job"]);
      expect(timers.dueAt("job")).toBeUndefined();
    });
  });

  it("drives expiry in the example store through the object's alarm", async () => {
    const keyspace = await createKv(1, 8);
    const { router } = kvRouter(keyspace);
    await router.get("short").put("gone soon", 30);
    await router.get("long").put("stays");
    const stub = env.KV.getByName(`${keyspace}:s0`);
    expect(await runInDurableObject(stub, (o) => o.entries().map((e) => e.key))).toEqual(["long", "short"]);
    // The runtime fires the alarm by itself; the sweep deletes the row (not just hides it).
    let keys: string[] = [];
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      keys = await runInDurableObject(stub, (o) => o.entries().map((e) => e.key));
      if (keys.length === 1) break;
    }
    expect(keys).toEqual(["long"]);
    // Nothing is left to expire, so the sweep is not scheduled again (the alarm stays set for
    // the shard's measurement flush).
    expect(await runInDurableObject(stub, (_, state) => new Timers(state.storage).names())).not.toContain("sweep-expired");
  });
});

describe("Timers input", () => {
  it("rejects empty names and non-finite times", async () => {
    await runInDurableObject(env.FLAKY.getByName(uniqueName("timers")), async (_, state) => {
      const timers = new Timers(state.storage);
      await expect(timers.schedule("", 1)).rejects.toThrow(/\[InvalidArgument\] timer name/);
      await expect(timers.schedule("x".repeat(200), 1)).rejects.toThrow(/at most 128/);
      await expect(timers.schedule("ok", NaN)).rejects.toThrow(/finite time/);
      expect(timers.dueAt("ok")).toBeUndefined();
    });
  });
});
