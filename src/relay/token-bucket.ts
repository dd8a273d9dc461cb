/**
 * The link's bandwidth budget: `ratePerSecond` tokens (bytes) accrue per second up to one
 * second's worth; a send takes what it needs and, when the bucket cannot cover it, goes
 * into debt that later sends wait out. Over any interval T the bytes sent are at most
 * rate × T plus one second of burst plus one batch.
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

  /** Takes `bytes` from the budget; returns how long (ms) the caller must wait before sending them (0 = at once). */
  take(bytes: number): number {
    if (this.ratePerSecond <= 0) return 0;
    const t = this.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.at) * this.ratePerSecond) / 1000);
    this.at = t;
    const waitMs = this.tokens >= bytes ? 0 : Math.ceil(((bytes - this.tokens) * 1000) / this.ratePerSecond);
    this.tokens -= bytes;
    return waitMs;
  }
}
