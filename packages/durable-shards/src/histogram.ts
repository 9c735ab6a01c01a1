/**
 * A latency histogram with fixed buckets, in seconds, as Prometheus histograms have them: cheap
 * to observe (one comparison per bucket at most), mergeable, and storable as plain numbers.
 */

/** Upper bounds of the buckets, in seconds (the last bucket, +Inf, is implicit). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A histogram's counts: per bucket (not cumulative; the last is +Inf), the sum and the count. */
export interface HistogramSnapshot {
  buckets: number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /** Adds `other`'s counts (same bounds). */
  merge(other: HistogramSnapshot): void {
    other.buckets.forEach((n, i) => (this.counts[i]! += n));
    this.sum += other.sum;
    this.count += other.count;
  }

  /**
   * The `q` quantile (0 … 1), as Prometheus's `histogram_quantile` estimates it: linear within
   * the bucket it falls in. 0 for an empty histogram; the largest bound when it falls in +Inf.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const n = this.counts[i]!;
      if (seen + n >= rank && n > 0) {
        if (i === this.bounds.length) return this.bounds[this.bounds.length - 1]!;
        const lower = i === 0 ? 0 : this.bounds[i - 1]!;
        return lower + (this.bounds[i]! - lower) * ((rank - seen) / n);
      }
      seen += n;
    }
    return this.bounds[this.bounds.length - 1]!;
  }

  snapshot(): HistogramSnapshot {
    return { buckets: [...this.counts], sum: this.sum, count: this.count };
  }
}
