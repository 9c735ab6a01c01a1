import { env, runInDurableObject } from "cloudflare:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MapCache, ShardRouter, metricsJson, metricsText } from "../src/index.js";
import { directory, directoryStub, rejection, uniqueName, until } from "./helpers.js";
import { exceptionsIn } from "./fixtures/worker.js";
import { KEPT_COLUMNS, loadColumns, recordLoad } from "../src/load-history.js";
import type { MeteredKv } from "./fixtures/worker.js";

async function metered(shards: number, slotCount = 256) {
  const name = uniqueName("observed");
  await directory().createKeyspace({ name, binding: "METERED", shards, slotCount });
  const router = new ShardRouter<MeteredKv>({ directory: env.DIRECTORY, namespace: env.METERED, keyspace: name, cache: new MapCache() });
  return { name, router };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls per shard, from the metrics' method counts. */
async function callsPerShard(keyspace: string): Promise<Map<string, number>> {
  const [m] = await metricsJson(env.DIRECTORY, { keyspace });
  return new Map(m!.shards.map((s) => [s.shard, Object.values(s.methods).reduce((n, c) => n + c.calls, 0)]));
}

/**
 * One series of `family` parsed on its own: the parser folds a labelled histogram's series into
 * one set of buckets, so each is given to it alone (its HELP and TYPE lines, and its samples).
 */
function seriesOf(text: string, family: string, labels: Record<string, string>) {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const lines = text.split("\n").filter((line) =>
    line === `# HELP ${family}` || line.startsWith(`# HELP ${family} `) || line === `# TYPE ${family} histogram` || line.startsWith(`# TYPE ${family} `) ||
    ((line.startsWith(`${family}{`) || line.startsWith(`${family}_`)) && wanted.every((w) => line.includes(w))),
  );
  const [parsed] = parsePrometheusTextFormat(`${lines.join("\n")}\n`);
  return parsed!;
}

/** The value of the one sample of `family` with `labels`. */
function valueOf(text: string, family: string, labels: Record<string, string>): number {
  const samples = parsePrometheusTextFormat(text).find((f) => f.name === family)!.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  expect(samples.length, `${family} ${JSON.stringify(labels)}`).toBe(1);
  return Number(samples[0]!.value);
}

afterEach(() => vi.restoreAllMocks());

describe("metrics", () => {
  it("renders every keyspace's metrics as Prometheus text that a real parser reads, with the calls made", async () => {
    const { name, router } = await metered(2);
    for (let i = 0; i < 40; i++) await router.get(`k${i % 8}`).put("v");
    for (let i = 0; i < 3; i++) await expect(router.get(`k${i}`).fail()).rejects.toThrow();
    const text = await metricsText(env.DIRECTORY, { keyspace: name });
    const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    for (const expected of [
      "durable_shards_calls_total", "durable_shards_errors_total", "durable_shards_refusals_total", "durable_shards_call_duration_seconds",
      "durable_shards_shard_up", "durable_shards_shard_load", "durable_shards_shard_slots", "durable_shards_storage_bytes", "durable_shards_table_rows",
      "durable_shards_table_bytes", "durable_shards_slot_load", "durable_shards_hot_key_calls", "durable_shards_map_version", "durable_shards_load_max_over_mean",
      "durable_shards_change_in_progress", "durable_shards_autoscaler_enabled", "durable_shards_move_pause_seconds", "durable_shards_alert",
    ]) {
      expect(families.has(expected), expected).toBe(true);
    }
    expect(families.size).toBe(18);
    const calls = families.get("durable_shards_calls_total")!;
    expect(calls.type).toBe("COUNTER");
    const puts = calls.metrics.filter((m) => m.labels?.method === "put" && m.labels.keyspace === name);
    expect(puts.reduce((n, m) => n + Number(m.value ?? 0), 0)).toBe(40);
    const errors = families.get("durable_shards_errors_total")!.metrics.filter((m) => m.labels?.method === "fail");
    expect(errors.reduce((n, m) => n + Number(m.value ?? 0), 0)).toBe(3);
    expect(families.get("durable_shards_call_duration_seconds")!.type).toBe("HISTOGRAM");
    const rows = families.get("durable_shards_table_rows")!.metrics.reduce((n, m) => n + Number(m.value ?? 0), 0);
    expect(rows).toBe(8);
    expect(families.get("durable_shards_shard_up")!.metrics.map((m) => m.value)).toEqual(["1", "1"]);
    const sum = (family: string) => families.get(family)!.metrics.reduce((n, m) => n + Number(m.value ?? 0), 0);
    expect(sum("durable_shards_shard_slots")).toBe(256);
    // 8 rows of "v": each key's text and value, at least 3 bytes a row.
    expect(sum("durable_shards_table_bytes")).toBeGreaterThanOrEqual(8 * 3);
    for (const m of families.get("durable_shards_storage_bytes")!.metrics) expect(Number(m.value)).toBeGreaterThan(4_096);
    expect(valueOf(text, "durable_shards_map_version", { keyspace: name })).toBe(1);
    expect(valueOf(text, "durable_shards_load_max_over_mean", { keyspace: name })).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, "durable_shards_autoscaler_enabled", { keyspace: name })).toBe(0);
    expect(valueOf(text, "durable_shards_change_in_progress", { keyspace: name })).toBe(0);
    // Each labelled histogram series: cumulative buckets, the +Inf bucket equal to its calls.
    const perShard = families.get("durable_shards_calls_total")!.metrics.filter((m) => m.labels?.method === "put" && m.labels.keyspace === name);
    for (const calls of perShard) {
      const histogram = seriesOf(text, "durable_shards_call_duration_seconds", { keyspace: name, shard: calls.labels!.shard!, method: "put" });
      expect(histogram.type).toBe("HISTOGRAM");
      const buckets = histogram.metrics[0]!.buckets!;
      // By bound, +Inf last (an object lists integer-like keys such as "1" first).
      const bound = (le: string) => (le === "+Inf" ? Infinity : Number(le));
      const counts = Object.entries(buckets).sort(([a], [b]) => bound(a) - bound(b)).map(([, n]) => Number(n));
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(buckets["+Inf"]).toBe(calls.value);
    }
  });

  it("gives the same data as JSON: load per shard and per slot range, hot keys with their shard", async () => {
    const { name, router } = await metered(2);
    for (let i = 0; i < 60; i++) await router.get(i % 2 ? "hot" : `cold${i}`).increment();
    const [m] = await metricsJson(env.DIRECTORY, { keyspace: name });
    expect(m!.keyspace).toBe(name);
    expect(m!.hotKeys.keys[0]).toMatchObject({ key: "hot", count: 30, shard: (await router.map()).shardOfKey("hot").id });
    expect(m!.load.total).toBeGreaterThan(0);
    expect(m!.slotLoad.buckets.reduce((a, b) => a + b, 0)).toBeCloseTo(m!.load.total, 6);
    expect(m!.shards.every((s) => s.up)).toBe(true);
  });
});

describe("load history", () => {
  it("schedules a keyspace's evaluations at creation even when it was scraped before it existed", async () => {
    const name = uniqueName("scraped-early");
    await expect(metricsJson(env.DIRECTORY, { keyspace: name })).rejects.toThrow(/does not exist|UnknownKeyspace/);
    await directory().createKeyspace({ name, binding: "METERED", shards: 1 });
    const due = await runInDurableObject(directoryStub(), (_, state) =>
      state.storage.sql.exec<{ due_at: number }>("SELECT due_at FROM _ds_timers WHERE name = ?", `observe:${name}`).toArray()[0]?.due_at,
    );
    expect(due).toBeGreaterThan(0);
  });

  it("keeps each evaluation's load per slot range, oldest first, for the heatmap's past", async () => {
    const { name, router } = await metered(2);
    for (let i = 0; i < 30; i++) await router.get(`k${i % 5}`).put("v");
    for (let i = 0; i < 3; i++) {
      await directory().observe(name);
      await sleep(5);
    }
    const history = await directory().loadHistory(name);
    expect(history).toMatchObject({ keyspace: name, bucketSlots: 4 });
    expect(history.columns).toHaveLength(3);
    expect(history.columns.map((c) => c.at)).toEqual(history.columns.map((c) => c.at).sort((a, b) => a - b));
    for (const c of history.columns) expect(c.buckets).toHaveLength(64);
    expect(history.columns.at(-1)!.buckets.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect((await rejection(directory().loadHistory("no-such-keyspace"))).message).toMatch(/no-such-keyspace/);
  });

  it("keeps the newest 120 columns of a keyspace", async () => {
    await runInDurableObject(directoryStub(), (_, state) => {
      for (let at = 1; at <= 130; at++) recordLoad(state.storage.sql, "history-retention", at, [at]);
      const columns = loadColumns(state.storage.sql, "history-retention");
      expect(columns).toHaveLength(KEPT_COLUMNS);
      expect(columns[0]).toEqual({ at: 11, buckets: [11] });
      expect(columns.at(-1)).toEqual({ at: 130, buckets: [130] });
    });
  });
});

describe("metrics of a change", () => {
  it("show the change in progress while it runs, then each move's pause, with the map's new version and slots", async () => {
    const { name, router } = await metered(4, 64);
    for (let i = 0; i < 80; i++) await router.get(`doc:${i}`).put("x".repeat(8_000));
    // 4 moves sharing 64 KiB/s: each waits out the pages booked before it (a move's first page is
    // not held back, the budget is shared), so the change of about 130 KiB runs for 1.5 s or more.
    const started = await directory().addShards(name, 1, { wait: false, copyBytesPerSecond: 65_536 });
    expect(started.started).toBe(true);
    expect(valueOf(await metricsText(env.DIRECTORY, { keyspace: name }), "durable_shards_change_in_progress", { keyspace: name })).toBe(1);
    await until(() => directory().getChange(name), (c) => c?.phase === "done", "the change", 20_000);

    const text = await metricsText(env.DIRECTORY, { keyspace: name });
    expect(valueOf(text, "durable_shards_change_in_progress", { keyspace: name })).toBe(0);
    expect(valueOf(text, "durable_shards_map_version", { keyspace: name })).toBe(2);
    expect(valueOf(text, "durable_shards_shard_slots", { keyspace: name, shard: "s4" })).toBeGreaterThanOrEqual(12);
    const pauses = seriesOf(text, "durable_shards_move_pause_seconds", { keyspace: name }).metrics[0]!.buckets!;
    expect(pauses["+Inf"]).toBe("4");
    const rows = parsePrometheusTextFormat(text).find((f) => f.name === "durable_shards_table_rows")!.metrics;
    expect(rows.reduce((n, m) => n + Number(m.value), 0)).toBe(80);
  }, 30_000);
});

describe("rebalance by load", () => {
  it("plans a dry run with the predicted balance, then moves the hot ranges off the hot shard, losing no row", async () => {
    const { name, router } = await metered(4);
    const map = await router.map();
    // Skewed traffic: most calls go to keys of s0's slots.
    const keys = Array.from({ length: 400 }, (_, i) => `key:${i}`);
    const onS0 = keys.filter((k) => map.shardOfKey(k).id === "s0").slice(0, 40);
    for (const k of keys) await router.get(k).put("v");
    for (let round = 0; round < 10; round++) for (const k of onS0) await router.get(k).increment();

    const dry = await directory().rebalance(name, { by: "load", dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(dry.predicted!.before).toBeGreaterThan(1.5);
    expect(dry.predicted!.after).toBeLessThan(1.3);
    expect(dry.moves.every((m) => m.from === "s0")).toBe(true);
    expect((await directory().getKeyspace(name)).version).toBe(map.version); // nothing changed

    const done = await directory().rebalance(name, { by: "load" });
    expect(done.version).toBe(map.version + 1);
    // Planned again from loads measured a moment later: the same kind of plan, only off the hot shard.
    expect(done.moves.length).toBeGreaterThan(0);
    expect(done.moves.every((m) => m.from === "s0")).toBe(true);
    await router.refresh();
    const next = await router.map();
    const moved = onS0.filter((k) => next.shardOfKey(k).id !== "s0");
    expect(moved.length).toBeGreaterThan(10);
    for (const k of keys) expect(await router.get(k).get()).toBe(onS0.includes(k) ? "10" : "v");
    const rows = (await metricsJson(env.DIRECTORY, { keyspace: name }))[0]!.shards.reduce((n, s) => n + (s.tables.kv?.rows ?? 0), 0);
    expect(rows).toBe(400);
  });

  it("reports a key too hot to balance, with its key, and does not move its slot", async () => {
    const { name, router } = await metered(2);
    for (let i = 0; i < 200; i++) await router.get("celebrity").increment();
    for (let i = 0; i < 20; i++) await router.get(`fan${i}`).increment();
    const plan = await directory().rebalance(name, { by: "load", dryRun: true });
    const slot = (await router.map()).slotFor("celebrity");
    expect(plan.hotSlots).toEqual([expect.objectContaining({ slot, keys: ["celebrity"] })]);
    const owner = (await router.map()).shardOfKey("celebrity").id;
    await directory().rebalance(name, { by: "load" });
    await router.refresh();
    expect((await router.map()).shardOfKey("celebrity").id).toBe(owner);
  });

  it("balances by storage too, and refuses unknown strategies", async () => {
    const { name, router } = await metered(2);
    const map = await router.map();
    for (let i = 0; i < 120; i++) {
      const key = `doc:${i}`;
      await router.get(key).put(map.shardOfKey(key).id === "s0" ? "x".repeat(2_000) : "x");
    }
    const plan = await directory().rebalance(name, { by: "storage", dryRun: true });
    expect(plan.predicted!.before).toBeGreaterThan(1.5);
    expect(plan.predicted!.after).toBeLessThan(plan.predicted!.before);
    expect((await rejection(directory().rebalance(name, { by: "mood" as "load" }))).message).toMatch(/options.by/);
  });
});

describe("alerts", () => {
  it("fire and clear at their thresholds, with hysteresis, and are POSTed to the webhook", async () => {
    const { name, router } = await metered(1);
    const posted: unknown[] = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      if (String(input) !== "https://alerts.example/hook") return realFetch(input, init);
      posted.push(JSON.parse(String(init?.body)));
      return new Response("ok");
    });
    await directory().configureKeyspace(name, { alerts: { maxKeys: 10, errorRate: 0.1, minCalls: 10, webhookUrl: "https://alerts.example/hook" } });
    for (let i = 0; i < 12; i++) await router.get(`k${i}`).put("v");
    for (let i = 0; i < 3; i++) await expect(router.get("k0").fail()).rejects.toThrow();
    const first = await directory().observe(name);
    const firing = (alerts: { name: string; firing: boolean }[]) => alerts.filter((a) => a.firing).map((a) => a.name).sort();
    expect(firing(first.alerts)).toEqual(["error_rate", "key_count"]);
    const alertMetric = async (alert: string, severity: string) => valueOf(await metricsText(env.DIRECTORY, { keyspace: name }), "durable_shards_alert", { keyspace: name, name: alert, severity });
    expect(await alertMetric("error_rate", "critical")).toBe(1);
    expect(await alertMetric("key_count", "warning")).toBe(1);
    expect(await alertMetric("latency_p99", "warning")).toBe(0);
    expect((await directory().alerts(name)).map((a) => a.name).sort()).toEqual(["error_rate", "key_count"]);

    // 10 rows is under the threshold but above 90 % of it: still firing. Clean calls clear the error rate.
    for (const k of ["k10", "k11"]) await router.get(k).delete();
    for (let i = 0; i < 30; i++) await router.get("k1").get();
    expect(firing((await directory().observe(name)).alerts)).toEqual(["key_count"]);
    for (const k of ["k8", "k9"]) await router.get(k).delete();
    expect(firing((await directory().observe(name)).alerts)).toEqual([]);

    expect(posted).toEqual([
      expect.objectContaining({ state: "firing", name: "error_rate", severity: "critical", keyspace: name }),
      expect.objectContaining({ state: "firing", name: "key_count", severity: "warning" }),
      expect.objectContaining({ state: "resolved", name: "error_rate" }),
      expect.objectContaining({ state: "resolved", name: "key_count" }),
    ]);
    expect(await alertMetric("error_rate", "critical")).toBe(0);
    expect(await alertMetric("key_count", "warning")).toBe(0);
  });

  it("refuses bad settings with a precise error and keeps the old ones", async () => {
    const { name } = await metered(1);
    expect((await rejection(directory().configureKeyspace(name, { alerts: { errorRate: 5 } }))).message).toMatch(/settings.alerts.errorRate/);
    expect((await rejection(directory().configureKeyspace(name, { colour: "red" }))).message).toMatch(/colour/);
    expect((await directory().getSettings(name)).alerts.errorRate).toBe(0.01);
  });

  it("puts a setting back to its default when it is set to null", async () => {
    const { name } = await metered(1);
    await directory().configureKeyspace(name, { alerts: { maxKeys: 10, errorRate: 0.2, webhookUrl: "https://alerts.example/hook" }, backups: { bytesPerSecond: 1_048_576 } });
    const cleared = await directory().configureKeyspace(name, { alerts: { maxKeys: null, errorRate: null, webhookUrl: null }, backups: { bytesPerSecond: null } });
    expect(cleared.alerts.maxKeys).toBeUndefined();
    expect(cleared.alerts.webhookUrl).toBeUndefined();
    expect(cleared.alerts.errorRate).toBe(0.01);
    expect(cleared.backups.bytesPerSecond).toBeUndefined();
    expect(await directory().getSettings(name)).toEqual(cleared);
    await directory().configureKeyspace(name, { observeIntervalMs: 5_000 });
    expect((await directory().configureKeyspace(name, { observeIntervalMs: null })).observeIntervalMs).toBe(60_000);
    // A null for a setting that does not exist is refused like any unknown setting.
    expect((await rejection(directory().configureKeyspace(name, { alerts: { webhookURL: null } }))).message).toMatch(/settings.alerts: unknown setting 'webhookURL'/);
    expect(await directory().getSettings(name)).toMatchObject({ observeIntervalMs: 60_000 });
  });
});

describe("bad input to the operations", () => {
  it("answers each with a precise typed error, counted as no failed invocation", async () => {
    const { name } = await metered(1);
    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => directory().metrics("no such keyspace"), /keyspace/],
      [() => directory().metrics("missing-keyspace"), /does not exist/],
      [() => directory().observe(42 as unknown as string), /keyspace/],
      [() => directory().alerts({} as unknown as string), /keyspace/],
      [() => directory().rebalance(name, { by: "load", maxSlots: -1 }), /options.maxSlots/],
      [() => directory().rebalance(name, { tolerance: "big" as unknown as number }), /options.tolerance/],
      [() => directory().addShards(name, 1, { dryRun: "yes" as unknown as boolean }), /options.dryRun/],
      [() => directory().configureKeyspace(name, { observeIntervalMs: 5 }), /observeIntervalMs/],
      [() => directory().configureKeyspace(name, { autoscaler: { scaleUpShare: 0.1, scaleDownShare: 0.5 } }), /scaleDownShare must be below scaleUpShare/],
      [() => directory().configureKeyspace(name, { alerts: { webhookUrl: "javascript:alert(1)" } }), /webhookUrl/],
      [() => directory().pauseAutoscaler("missing-keyspace"), /does not exist/],
    ];
    const thrown = () => runInDurableObject(directoryStub(), (_, state) => exceptionsIn(state.storage));
    const before = await thrown();
    for (const [call, message] of cases) expect((await rejection(call())).message).toMatch(message);
    expect(await thrown()).toBe(before);
    // Nothing changed: the keyspace still has its one shard and default settings.
    expect((await directory().getKeyspace(name)).shards.length).toBe(1);
    expect((await directory().getSettings(name)).observeIntervalMs).toBe(60_000);
  });

  it("plans a dry run of addShards without using up shard ids", async () => {
    const { name } = await metered(2);
    const dry = await directory().addShards(name, 1, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, movedSlots: 85, predicted: { by: "slots", before: 1 } });
    expect(dry.moves.map((m) => [m.from, m.to])).toEqual([["s0", "s2"], ["s1", "s2"]]);
    expect(dry.predicted!.after).toBeLessThan(1.01);
    expect((await directory().getKeyspace(name)).shards.map((s) => s.id)).toEqual(["s0", "s1"]);
    expect((await directory().addShards(name, 1)).moves[0]!.to).toBe("s2");
  });
});

/** Lines the autoscaler logs while a test runs (kept out of the test output, and checked). */
function autoscalerLog(): string[] {
  const lines: string[] = [];
  const log = console.log.bind(console);
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    const line = args.map(String).join(" ");
    if (line.startsWith("durable-shards autoscaler:")) lines.push(line);
    else log(...args);
  });
  return lines;
}

describe("autoscaler", () => {
  it("adds a shard under sustained load and removes one after, on its own timer, logging each decision", async () => {
    const logged = autoscalerLog();
    const { name, router } = await metered(1);
    await directory().configureKeyspace(name, {
      observeIntervalMs: 150,
      autoscaler: { enabled: true, softLimitPerSecond: 40, scaleUpShare: 0.5, scaleDownShare: 0.1, sustainMs: 300, cooldownMs: 0, maxStep: 1, maxShards: 2 },
    });
    const shards = async () => (await directory().getKeyspace(name)).shards.length;
    let stop = false;
    const acked = new Array<number>(50).fill(0);
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        await router.get(`k${i % 50}`).increment();
        acked[i % 50]!++;
        await sleep(5);
      }
    })();
    try {
      await until(shards, (n) => n >= 2, "the autoscaler to add a shard", 10_000, 100);
    } finally {
      stop = true;
      await load;
    }
    expect(await shards()).toBe(2);
    // Idle now: the load fades (window 1 s) and the autoscaler removes a shard again.
    await until(shards, (n) => n <= 1, "the autoscaler to remove a shard", 15_000, 100);
    expect(await shards()).toBe(1);
    const { decisions } = await directory().autoscaler(name);
    const acted = decisions.filter((d) => d.action !== "none").reverse();
    // Between the two, it may also rebalance the two shards by load (when one stays hot).
    expect(acted.map((d) => d.action).filter((a) => a !== "rebalance")).toEqual(["add", "remove"]);
    expect(acted[0]!.action).toBe("add");
    expect(acted[0]!.reason).toMatch(/hottest shard/);
    expect(acted[0]!.outcome).toMatch(/change to map version/);
    expect(logged.filter((l) => l.includes(`${name}: add:`) || l.includes(`${name}: remove:`))).toHaveLength(2);
    // Every acknowledged increment is there, through both changes.
    const stored = [];
    for (let i = 0; i < 50; i++) stored.push(Number(await router.get(`k${i}`).get()));
    expect(stored).toEqual(acked);
    expect(acked.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 40_000);

  it("decides nothing while paused, and again once resumed", async () => {
    const logged = autoscalerLog();
    const { name, router } = await metered(1);
    await directory().configureKeyspace(name, { autoscaler: { enabled: true, softLimitPerSecond: 4, sustainMs: 0, cooldownMs: 0, maxShards: 2 } });
    await directory().pauseAutoscaler(name);
    for (let i = 0; i < 30; i++) await router.get(`k${i}`).increment();
    expect((await directory().observe(name)).decision).toMatchObject({ action: "none", reason: "paused" });
    await directory().resumeAutoscaler(name);
    expect((await directory().observe(name)).decision.action).toBe("add");
    // The change runs in the background; the evaluation did not wait for it.
    await until(() => directory().getChange(name), (c) => c?.phase === "done", "the added shard's change");
    expect((await directory().getKeyspace(name)).shards.length).toBe(2);
    expect((await directory().autoscaler(name)).decisions.map((d) => d.reason).slice(1, 3)).toEqual(["resumed by an operator", "paused by an operator"]);
    expect(logged.map((l) => l.replace(/^.*?: none: /, ""))).toEqual(expect.arrayContaining(["paused by an operator", "resumed by an operator"]));
  });
});
