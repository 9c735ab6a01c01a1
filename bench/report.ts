/** Printing helpers shared by the benchmarks: figures, target checks and the summary line. */

export interface Target {
  name: string;
  met: boolean;
  figure: string;
}

export function heading(text: string): void {
  console.log(`\n== ${text}`);
}

export function row(label: string, ...values: (string | number)[]): void {
  console.log(`${label.padEnd(44)} ${values.map((v) => (typeof v === "number" ? fmt(v) : v)).join("  ")}`);
}

export function fmt(n: number, digits = 4): string {
  if (Number.isInteger(n) && Math.abs(n) >= 1000) return n.toLocaleString("en-US");
  return Number(n.toPrecision(digits)).toString();
}

/** Prints the summary line and exits non-zero when any target is missed. */
export function finish(targets: Target[]): void {
  const missed = targets.filter((t) => !t.met);
  const list = (ts: Target[]) => ts.map((t) => `${t.name} ${t.figure}`).join("; ");
  console.log("");
  if (missed.length === 0) {
    console.log(`targets: met (${list(targets)})`);
  } else {
    console.log(`targets: missed ${list(missed)} (met: ${list(targets.filter((t) => t.met)) || "none"})`);
    process.exitCode = 1;
  }
}

/** The `p`th percentile (0–100) of numbers, nearest rank; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Median of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
