import { VigilError } from '../errors';
import type { CryptoBackend, CryptoBackendOption } from './backend';
import { BOX_PUBLIC_KEY_BYTES, BOX_SECRET_KEY_BYTES } from './constants';
import { assertKeyBytes } from './key-checks';
import { resolveCryptoBackend } from './select-backend';

/** Finds a device's X25519 public key for a key epoch; undefined when unknown. */
export type DeviceBoxKeyLookup = (deviceId: string, epoch: number) => Uint8Array | undefined;

export interface SharedKeyCacheOptions {
  /** The ingest X25519 secret key (gateway side). */
  readonly secretKey: Uint8Array;
  /** Where device public keys come from (the registry, later). */
  readonly lookup: DeviceBoxKeyLookup;
  /** Bound on cached (device, epoch) keys; least recently used go first. Default 100 000. */
  readonly maxEntries?: number;
  readonly backend?: CryptoBackend | CryptoBackendOption;
}

/**
 * `box.before` shared keys cached per (device, epoch), bounded, least recently used evicted.
 * X25519 costs ~50 µs natively and ~1 ms in pure JS, against ~1 µs for the secretbox of a
 * frame, so the gateway must not recompute it per frame. Evicted and invalidated keys are
 * zeroed before they are dropped.
 */
export class SharedKeyCache {
  private readonly backend: CryptoBackend;
  private readonly secretKey: Uint8Array;
  private readonly lookup: DeviceBoxKeyLookup;
  private readonly maxEntries: number;
  // device id → (epoch → key). Two levels so that a lookup builds no composite string key.
  private readonly byDevice = new Map<string, Map<number, Uint8Array>>();
  private count = 0;

  constructor(options: SharedKeyCacheOptions) {
    assertKeyBytes(options.secretKey, BOX_SECRET_KEY_BYTES, 'ingest X25519 secret key');
    const max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new VigilError('VIGIL_E_CONFIG_INVALID', `maxEntries must be a positive integer, got ${String(max)}`);
    }
    this.backend = resolveCryptoBackend(options.backend);
    this.secretKey = Uint8Array.from(options.secretKey);
    this.lookup = options.lookup;
    this.maxEntries = max;
  }

  /** Number of cached keys. */
  get size(): number {
    return this.count;
  }

  /**
   * The shared key of `deviceId` at `epoch`, computed on first use; undefined when the lookup
   * knows no public key for them. Throws `VIGIL_E_KEY_INVALID` for an unusable public key.
   */
  get(deviceId: string, epoch: number): Uint8Array | undefined {
    const epochs = this.byDevice.get(deviceId);
    const hit = epochs?.get(epoch);
    if (epochs !== undefined && hit !== undefined) {
      // Re-insert the device so Map order approximates recency (oldest first).
      this.byDevice.delete(deviceId);
      this.byDevice.set(deviceId, epochs);
      return hit;
    }
    const publicKey = this.lookup(deviceId, epoch);
    if (publicKey === undefined) return undefined;
    assertKeyBytes(publicKey, BOX_PUBLIC_KEY_BYTES, `X25519 public key of device ${deviceId}`);
    let key: Uint8Array;
    try {
      key = this.backend.boxBeforeNm(publicKey, this.secretKey);
    } catch (err) {
      const message = err instanceof Error ? err.message : 'unusable';
      throw new VigilError('VIGIL_E_KEY_INVALID', `device ${deviceId} epoch ${epoch}: ${message}`, { details: { deviceId, epoch, key: 'box' } });
    }
    const slot = epochs ?? new Map<number, Uint8Array>();
    slot.set(epoch, key);
    this.byDevice.delete(deviceId);
    this.byDevice.set(deviceId, slot);
    this.count++;
    this.evict();
    return key;
  }

  /** Drops (and zeroes) the keys of one device, or one epoch of it: call on rotation or revocation. */
  invalidate(deviceId: string, epoch?: number): void {
    const epochs = this.byDevice.get(deviceId);
    if (epochs === undefined) return;
    for (const [e, key] of epochs) {
      if (epoch !== undefined && e !== epoch) continue;
      key.fill(0);
      epochs.delete(e);
      this.count--;
    }
    if (epochs.size === 0) this.byDevice.delete(deviceId);
  }

  /** Drops and zeroes every cached key. */
  clear(): void {
    for (const epochs of this.byDevice.values()) for (const key of epochs.values()) key.fill(0);
    this.byDevice.clear();
    this.count = 0;
  }

  private evict(): void {
    while (this.count > this.maxEntries) {
      const oldest = this.byDevice.keys().next();
      if (oldest.done === true) return;
      const epochs = this.byDevice.get(oldest.value) as Map<number, Uint8Array>;
      const firstEpoch = epochs.keys().next().value as number;
      this.invalidate(oldest.value, firstEpoch);
    }
  }
}
