/**
 * Token buckets per device: `perSecond` tokens refill continuously up to `burst`; a frame
 * takes one. Time comes from the caller, never read here: the gateway passes the frame's
 * event time (see `Admission`). Time that goes backwards (a frame older than the last one)
 * refills nothing, so out-of-order frames cannot earn the same interval twice.
 */
export class RateLimiter {
  /** Per device: tokens left, and the latest time seen. One lookup per frame. */
  private readonly buckets = new Map<string, { tokens: number; last: number }>();

  /** Takes one token for `deviceId` at `nowMs`; false when the bucket is empty. */
  take(deviceId: string, perSecond: number, burst: number, nowMs: number): boolean {
    let b = this.buckets.get(deviceId);
    if (b === undefined) {
      b = { tokens: burst, last: nowMs };
      this.buckets.set(deviceId, b);
    } else if (nowMs > b.last) {
      b.tokens = Math.min(burst, b.tokens + ((nowMs - b.last) * perSecond) / 1000);
      b.last = nowMs;
    } else {
      b.tokens = Math.min(burst, b.tokens);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  forget(deviceId: string): void {
    this.buckets.delete(deviceId);
  }
}
