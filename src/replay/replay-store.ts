import type { ReplayVerdict } from './replay-window';

/**
 * Per-device replay protection with a lifetime beyond one process.
 *
 * The gateway calls `check` before opening a frame and `accept` after the frame
 * authenticated; `flush` makes every accepted sequence durable and is called in the same
 * group commit that makes frames durable, before their MQTT acknowledgement, so a frame
 * acknowledged before a restart is a replay after it.
 *
 * Implementations: `MemoryReplayStore` (tests, the embedded demo) and `FileReplayStore`
 * (append-only log plus snapshot). One contract test suite runs against both.
 */
export interface ReplayStore {
  check(deviceId: string, seq: bigint): ReplayVerdict;
  /** Marks `seq` seen; false if it was a replay or too old (nothing changes then). */
  accept(deviceId: string, seq: bigint): boolean;
  /** Highest accepted sequence of a device, or -1n when none. */
  highest(deviceId: string): bigint;
  /** Forgets a device (e.g. re-provisioned with a new identity). */
  forget(deviceId: string): void;
  /** Resolves once everything accepted so far survives a crash. */
  flush(): Promise<void>;
  /** Number of devices with state. */
  size(): number;
  close(): Promise<void>;
}

export interface ReplayStoreOptions {
  /** Window length in sequence numbers, a power of two (default 1024). */
  readonly windowSize?: number;
}
