/** Keys remembered at most; past it the memory starts over (one extra window per key may pass). */
const MAX_KEYS = 100_000;

/**
 * Down-sampling of windowed results: per result key, at most one window per period of
 * `everyMs` (the first window whose start falls in each period), plus every revision of a
 * window already released (a late correction of something the destination has must follow it).
 */
export class WindowSampler {
  private readonly last = new Map<string, { period: number; start: number }>();

  constructor(private readonly everyMs: number) {}

  /** Whether the window starting at `windowStartMs` of `key` is released. */
  admit(key: string, windowStartMs: number): boolean {
    const period = Math.floor(windowStartMs / this.everyMs);
    const seen = this.last.get(key);
    if (seen !== undefined && seen.start === windowStartMs) return true;
    if (seen !== undefined && seen.period === period) return false;
    if (this.last.size >= MAX_KEYS && seen === undefined) this.last.clear();
    this.last.set(key, { period, start: windowStartMs });
    return true;
  }
}
