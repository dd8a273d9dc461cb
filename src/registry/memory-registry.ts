import type { DeviceEntry } from './device-entry';
import type { DeviceRegistry, RegistryEvent, RegistryListener } from './device-registry';

function sameEntry(a: DeviceEntry, b: DeviceEntry): boolean {
  if (
    a.status !== b.status ||
    a.epoch !== b.epoch ||
    a.deviceClass !== b.deviceClass ||
    a.priority !== b.priority ||
    a.theatre !== b.theatre ||
    a.unit !== b.unit ||
    a.ceiling !== b.ceiling ||
    a.requireSignature !== b.requireSignature ||
    a.rate.perSecond !== b.rate.perSecond ||
    a.rate.burst !== b.rate.burst ||
    a.releasability.join(',') !== b.releasability.join(',') ||
    [...a.allowedKinds].sort().join(',') !== [...b.allowedKinds].sort().join(',') ||
    a.keys.size !== b.keys.size
  ) {
    return false;
  }
  for (const [epoch, k] of a.keys) {
    const o = b.keys.get(epoch);
    if (!o || Buffer.compare(o.boxPublicKey, k.boxPublicKey) !== 0 || Buffer.compare(o.signPublicKey, k.signPublicKey) !== 0) return false;
  }
  return true;
}

/**
 * Registry held in memory, changed by calls. Also the state machine behind every other
 * source: `applySnapshot` diffs a whole new version against the current one and emits one
 * event per device that changed, so listeners see the same events whatever the source.
 */
export class MemoryRegistry implements DeviceRegistry {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly listeners = new Set<RegistryListener>();

  constructor(entries: Iterable<DeviceEntry> = []) {
    for (const e of entries) this.devices.set(e.deviceId, e);
  }

  get(deviceId: string): DeviceEntry | undefined {
    return this.devices.get(deviceId);
  }

  list(): readonly DeviceEntry[] {
    return [...this.devices.values()];
  }

  get size(): number {
    return this.devices.size;
  }

  subscribe(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  upsert(entry: DeviceEntry): void {
    const before = this.devices.get(entry.deviceId);
    if (before && sameEntry(before, entry)) return;
    this.devices.set(entry.deviceId, entry);
    this.emit({ type: 'upsert', before, after: entry });
  }

  remove(deviceId: string): void {
    const before = this.devices.get(deviceId);
    if (!before) return;
    this.devices.delete(deviceId);
    this.emit({ type: 'remove', before });
  }

  /** Replaces the whole content; emits events only for devices that changed. */
  applySnapshot(entries: Iterable<DeviceEntry>): void {
    const next = new Map<string, DeviceEntry>();
    for (const e of entries) next.set(e.deviceId, e);
    for (const id of [...this.devices.keys()]) if (!next.has(id)) this.remove(id);
    for (const e of next.values()) this.upsert(e);
  }

  /** Reports a refused source version to listeners (state is unchanged). */
  reportError(error: Error): void {
    this.emit({ type: 'error', error });
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }

  private emit(event: RegistryEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A faulty listener must not stop the others from hearing of a revocation.
      }
    }
  }
}
