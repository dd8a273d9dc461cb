/**
 * Token buckets per device: `perSecond` tokens refill continuously up to `burst`; a frame
 * takes one. Time comes from the caller, never read here: the gateway passes the frame's
 * event time (see `Admission`). Time that goes backwards (a frame older than the last one)
 * refills nothing, so out-of-order frames cannot earn the same interval twice.
 */
export class RateLimiter {
  private readonly tokens = new Map<string, number>();
  private readonly last = new Map<string, number>();

  /** Takes one token for `deviceId` at `nowMs`; false when the bucket is empty. */
  take(deviceId: string, perSecond: number, burst: number, nowMs: number): boolean {
    const prev = this.last.get(deviceId);
    let t = prev === undefined ? burst : Math.min(burst, (this.tokens.get(deviceId) as number) + (Math.max(0, nowMs - prev) * perSecond) / 1000);
    this.last.set(deviceId, prev === undefined ? nowMs : Math.max(prev, nowMs));
    if (t < 1) {
      this.tokens.set(deviceId, t);
      return false;
    }
    t -= 1;
    this.tokens.set(deviceId, t);
    return true;
  }

  forget(deviceId: string): void {
    this.tokens.delete(deviceId);
    this.last.delete(deviceId);
  }
}
