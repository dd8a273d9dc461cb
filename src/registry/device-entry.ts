import type { ClassificationLevel, ReadingKind } from '../codec';

export type DeviceStatus = 'active' | 'revoked';
/** Drain and shed order of a device's frames in the gateway spool: flash first, routine shed first. */
export type PriorityClass = 'flash' | 'immediate' | 'routine';

/** Public key material of one key epoch. */
export interface EpochKeys {
  readonly boxPublicKey: Uint8Array;
  readonly signPublicKey: Uint8Array;
}

/** Frames per second a device may send, with a burst allowance (token bucket). */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * What the gateway knows about one device, decoded and frozen: looked up once per frame.
 * Holds public keys only; private keys never enter the registry.
 */
export interface DeviceEntry {
  readonly deviceId: string;
  readonly status: DeviceStatus;
  /** Device class, e.g. `uav`, `vehicle`, `soldier`, `ugs`. */
  readonly deviceClass: string;
  readonly priority: PriorityClass;
  readonly theatre: string;
  readonly unit: string;
  /** Highest classification this device's data may carry; its records are labelled with it. */
  readonly ceiling: ClassificationLevel;
  readonly releasability: readonly string[];
  readonly allowedKinds: ReadonlySet<ReadingKind>;
  readonly rate: RateLimit;
  /** Frames must carry a valid Ed25519 signature (non-repudiation). */
  readonly requireSignature: boolean;
  /** Only frames at this epoch are admitted; older epochs are stale. */
  readonly epoch: number;
  readonly keys: ReadonlyMap<number, EpochKeys>;
}
