/**
 * Requests per key in fixed windows, in memory. A user's store lives in exactly one object at a
 * time, so counting in that object counts the user's requests across the whole deployment; an
 * eviction forgets the current window (at most one window's allowance extra).
 */
export class RateWindow {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private prunedAt = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one request of `key`: 0 when allowed, else the ms until its window ends. */
  take(key: string, now = Date.now()): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      // At most once a window: a scan per new window would cost every request once many keys are active.
      if (this.windows.size > 10_000 && now - this.prunedAt >= this.windowMs) this.prune(now);
      this.windows.set(key, (w = { start: now, count: 0 }));
    }
    if (w.count >= this.limit) return w.start + this.windowMs - now;
    w.count++;
    return 0;
  }

  private prune(now: number): void {
    this.prunedAt = now;
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
  }
}
