import { describe, expect, it } from "vitest";
import { alertSettingsSchema, evaluateAlerts, type Alert, type AlertInput } from "../src/alerts.js";
import { Histogram } from "../src/index.js";

const settings = alertSettingsSchema.parse({ maxKeys: 1_000 });

function input(over: Partial<AlertInput> = {}): AlertInput {
  return { keyspace: "ks", now: 1_000, shards: [{ shard: "s0", load: 0, storageBytes: 0 }], rows: 0, window: { calls: 0, errors: 0, latency: new Histogram() }, ...over };
}

const byName = (alerts: Alert[]) => new Map(alerts.map((a) => [`${a.name}/${a.shard}`, a]));
const firing = (alerts: Alert[]) => alerts.filter((a) => a.firing).map((a) => `${a.name}/${a.shard}:${a.severity}`).sort();

describe("evaluateAlerts", () => {
  it("has the documented defaults", () => {
    const d = alertSettingsSchema.parse({});
    expect(d).toMatchObject({ storageShare: 0.8, p99Seconds: 1, errorRate: 0.01, loadShare: 0.8, softLimitPerSecond: 1_000, stuckAfterMs: 900_000, clearRatio: 0.9 });
    expect(d.storageLimitBytes).toBe(10 * 1024 ** 3);
    expect(d.maxKeys).toBeUndefined();
  });

  it("fires each alert above its threshold, with its severity, and not at or below it", () => {
    const slow = new Histogram();
    for (let i = 0; i < 100; i++) slow.observe(i < 98 ? 0.01 : 2.4);
    const hot = evaluateAlerts(settings, input({
      shards: [{ shard: "s0", load: 801, storageBytes: 0.81 * 10 * 1024 ** 3 }, { shard: "s1", load: 800, storageBytes: 0 }],
      rows: 1_001,
      window: { calls: 100, errors: 2, latency: slow },
      change: { phase: "copying", updatedAt: 1_000 - 900_001 },
    }), new Map());
    expect(firing(hot)).toEqual([
      "change_stuck/:warning", "error_rate/:critical", "key_count/:warning", "latency_p99/:warning", "shard_load/s0:warning", "storage/s0:critical",
    ]);
    const calm = evaluateAlerts(settings, input({ rows: 1_000, window: { calls: 100, errors: 1, latency: new Histogram() } }), new Map());
    expect(firing(calm)).toEqual([]);
  });

  it("clears only below the clear ratio of the threshold (hysteresis), keeping when it started", () => {
    const fired = evaluateAlerts(settings, input({ rows: 1_200 }), new Map());
    expect(byName(fired).get("key_count/")).toMatchObject({ firing: true, since: 1_000 });
    const still = evaluateAlerts(settings, input({ now: 2_000, rows: 950 }), byName(fired));
    expect(byName(still).get("key_count/")).toMatchObject({ firing: true, since: 1_000 });
    const cleared = evaluateAlerts(settings, input({ now: 3_000, rows: 899 }), byName(still));
    expect(byName(cleared).get("key_count/")).toMatchObject({ firing: false, since: 3_000 });
    // Once clear, it fires again only above the threshold itself.
    const again = evaluateAlerts(settings, input({ now: 4_000, rows: 950 }), byName(cleared));
    expect(byName(again).get("key_count/")?.firing).toBe(false);
  });

  it("fires, holds and clears each of the six alerts at its own threshold", () => {
    const gib = 1024 ** 3;
    const line = 0.8 * 10 * gib;
    const latency = (seconds: number) => {
      const h = new Histogram();
      for (let i = 0; i < 100; i++) h.observe(seconds);
      return h;
    };
    // Per alert: input above the threshold, between the clear line and it, and below the clear line.
    const cases: { alert: string; above: Partial<AlertInput>; between: Partial<AlertInput>; below: Partial<AlertInput> }[] = [
      {
        alert: "storage/s0",
        above: { shards: [{ shard: "s0", load: 0, storageBytes: line + 1 }] },
        between: { shards: [{ shard: "s0", load: 0, storageBytes: line * 0.95 }] },
        below: { shards: [{ shard: "s0", load: 0, storageBytes: line * 0.85 }] },
      },
      {
        alert: "shard_load/s0",
        above: { shards: [{ shard: "s0", load: 801, storageBytes: 0 }] },
        between: { shards: [{ shard: "s0", load: 750, storageBytes: 0 }] },
        below: { shards: [{ shard: "s0", load: 700, storageBytes: 0 }] },
      },
      {
        alert: "latency_p99/",
        above: { window: { calls: 100, errors: 0, latency: latency(2.4) } },
        between: { window: { calls: 100, errors: 0, latency: latency(0.95) } },
        below: { window: { calls: 100, errors: 0, latency: latency(0.3) } },
      },
      {
        alert: "error_rate/",
        above: { window: { calls: 100, errors: 2, latency: new Histogram() } },
        between: { window: { calls: 10_000, errors: 95, latency: new Histogram() } },
        below: { window: { calls: 10_000, errors: 80, latency: new Histogram() } },
      },
      { alert: "key_count/", above: { rows: 1_001 }, between: { rows: 950 }, below: { rows: 899 } },
      {
        alert: "change_stuck/",
        above: { change: { phase: "copying", updatedAt: 1_000 - 900_001 } },
        between: { change: { phase: "copying", updatedAt: 1_000 - 850_000 } },
        below: { change: { phase: "copying", updatedAt: 1_000 - 60_000 } },
      },
    ];
    for (const { alert, above, between, below } of cases) {
      const state = (alerts: Alert[]) => byName(alerts).get(alert)?.firing;
      expect(state(evaluateAlerts(settings, input(between), new Map())), `${alert} below its threshold`).toBe(false);
      const fired = evaluateAlerts(settings, input(above), new Map());
      expect(state(fired), `${alert} above its threshold`).toBe(true);
      const held = evaluateAlerts(settings, input(between), byName(fired));
      expect(state(held), `${alert} between the clear line and the threshold`).toBe(true);
      expect(state(evaluateAlerts(settings, input(below), byName(held))), `${alert} below the clear line`).toBe(false);
    }
  });

  it("does not judge latency or error rate on fewer calls than minCalls", () => {
    const alerts = evaluateAlerts(settings, input({ window: { calls: 19, errors: 19, latency: new Histogram() } }), new Map());
    expect(firing(alerts)).toEqual([]);
  });

  it("refuses thresholds out of range", () => {
    expect(alertSettingsSchema.safeParse({ errorRate: 2 }).success).toBe(false);
    expect(alertSettingsSchema.safeParse({ webhookUrl: "ftp://x" }).success).toBe(false);
    expect(alertSettingsSchema.safeParse({ nope: 1 }).success).toBe(false);
  });
});
