/**
 * The link's bandwidth budget: `ratePerSecond` tokens (bytes) accrue per second up to one
 * second's worth. A send goes at once while the bucket is not in debt and takes its bytes,
 * possibly into debt; the next send waits until the debt is paid. Paying after sending lets
 * the wait overlap the send's own time on the link (a slow link's round trip), so a relay that
 * sends one batch at a time can still use its whole budget. Over any interval T the bytes
 * sent are at most rate × T plus one second of burst plus one batch.
 *
 * @example
 * const bucket = new TokenBucket(32_000);           // 256 kbit/s
 * await sleep(bucket.take(batchBytes));             // ms to wait before sending
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = ratePerSecond;
    this.at = now();
  }

  /** Takes `bytes` from the budget; returns how long (ms) the caller must wait before sending them (0 = at once): the debt of earlier sends. */
  take(bytes: number): number {
    if (this.ratePerSecond <= 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.at) * this.ratePerSecond) / 1000);
    this.at = t;
    const waitMs = this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond);
    this.tokens -= bytes;
    return waitMs;
  }
}
