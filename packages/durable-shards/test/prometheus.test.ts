import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";
import { Histogram, LATENCY_BUCKETS, renderPrometheus } from "../src/index.js";

describe("renderPrometheus", () => {
  it("renders counters, gauges and histograms that a Prometheus text parser reads back", () => {
    const h = new Histogram();
    for (const v of [0.002, 0.02, 0.2]) h.observe(v);
    const text = renderPrometheus([
      { name: "durable_shards_calls_total", help: "Routed calls.\nPer method.", type: "counter", samples: [{ labels: { keyspace: "kv", shard: "s0", method: 'say "hi"\\' }, value: 12 }] },
      { name: "durable_shards_change_in_progress", help: "1 while a change runs.", type: "gauge", samples: [{ labels: { keyspace: "kv" }, value: 0 }, { labels: { keyspace: "x" }, value: Infinity }] },
      // Without labels: the parser reads _sum and _count only for unlabelled histograms.
      { name: "durable_shards_call_duration_seconds", help: "Call latency.", type: "histogram", bounds: LATENCY_BUCKETS, samples: [{ labels: {}, histogram: h.snapshot() }] },
    ]);
    const parsed = parsePrometheusTextFormat(text);
    expect(parsed.map((f) => [f.name, f.type])).toEqual([
      ["durable_shards_calls_total", "COUNTER"],
      ["durable_shards_change_in_progress", "GAUGE"],
      ["durable_shards_call_duration_seconds", "HISTOGRAM"],
    ]);
    expect(parsed[0]!.help).toBe("Routed calls.\nPer method.");
    expect(parsed[0]!.metrics[0]).toEqual({ labels: { keyspace: "kv", shard: "s0", method: 'say "hi"\\' }, value: "12" });
    expect(parsed[1]!.metrics[1]!.value).toBe("+Inf");
    const histogram = parsed[2]!.metrics[0]!;
    expect(histogram.count).toBe("3");
    expect(Number(histogram.sum)).toBeCloseTo(0.222, 6);
    expect(histogram.buckets!["0.0025"]).toBe("1");
    expect(histogram.buckets!["0.025"]).toBe("2");
    expect(histogram.buckets!["0.25"]).toBe("3");
    expect(histogram.buckets!["+Inf"]).toBe("3");
  });

  it("refuses names Prometheus would not accept", () => {
    expect(() => renderPrometheus([{ name: "bad-name", help: "", type: "gauge", samples: [] }])).toThrow(RangeError);
    expect(() => renderPrometheus([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { "bad-label": "x" }, value: 1 }] }])).toThrow(RangeError);
    expect(() => renderPrometheus([{ name: "ok", help: "", type: "gauge", samples: [{ labels: { __reserved: "x" }, value: 1 }] }])).toThrow(RangeError);
  });
});
