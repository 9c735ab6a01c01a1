/**
 * The Prometheus text exposition format (version 0.0.4): metric families of counters, gauges and
 * histograms rendered as text, with names checked and label values escaped.
 */
import type { HistogramSnapshot } from "./histogram.js";

/** Label names and values of one sample. */
export type Labels = Readonly<Record<string, string>>;

/** One family of samples, all of one name and type. */
export type MetricFamily =
  | { name: string; help: string; type: "counter" | "gauge"; samples: { labels: Labels; value: number }[] }
  | { name: string; help: string; type: "histogram"; bounds: readonly number[]; samples: { labels: Labels; histogram: HistogramSnapshot }[] };

/** The `Content-Type` of {@link renderPrometheus}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `families` as Prometheus text. Throws `RangeError` on a name Prometheus would not accept. */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new RangeError(`bad metric name '${family.name}'`);
    lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    if (family.type === "histogram") {
      for (const { labels, histogram } of family.samples) {
        let cumulative = 0;
        family.bounds.forEach((bound, i) => {
          cumulative += histogram.buckets[i] ?? 0;
          lines.push(`${family.name}_bucket${labelText({ ...labels, le: number(bound) })} ${cumulative}`);
        });
        lines.push(`${family.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${histogram.count}`);
        lines.push(`${family.name}_sum${labelText(labels)} ${number(histogram.sum)}`);
        lines.push(`${family.name}_count${labelText(labels)} ${histogram.count}`);
      }
    } else {
      for (const { labels, value } of family.samples) lines.push(`${family.name}${labelText(labels)} ${number(value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries
    .map(([name, value]) => {
      if (!LABEL_NAME.test(name) || name.startsWith("__")) throw new RangeError(`bad label name '${name}'`);
      return `${name}="${value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`;
    })
    .join(",")}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
