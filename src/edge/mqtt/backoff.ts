/** Settings of the reconnect backoff. */
export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  readonly initialDelayMs: number;
  /** Upper bound of any delay, ms. */
  readonly maxDelayMs: number;
  /**
   * Fraction of the delay that is randomised, 0..1: the delay is drawn uniformly from
   * `[base * (1 - jitter), base]`. Jitter spreads the reconnects of a fleet of gateways so
   * that a broker coming back is not hit by all of them in the same millisecond.
   */
  readonly jitter: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 = first retry): exponential
 * (`initialDelayMs * 2^attempt`), capped at `maxDelayMs`, minus random jitter. Never above
 * `maxDelayMs`, never negative.
 *
 * @example
 * backoffDelay(3, { initialDelayMs: 100, maxDelayMs: 30000, jitter: 0.5 }); // in [400, 800]
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  // 2^attempt overflows to Infinity long before it matters; min() keeps it bounded.
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * Math.pow(2, Math.max(0, attempt)));
  return Math.max(0, Math.round(base * (1 - policy.jitter * random())));
}
