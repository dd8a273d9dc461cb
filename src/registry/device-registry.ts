import type { DeviceEntry } from './device-entry';

/** A change the registry applied; the gateway drops cached shared keys on it. */
export type RegistryEvent =
  | { readonly type: 'upsert'; readonly before: DeviceEntry | undefined; readonly after: DeviceEntry }
  | { readonly type: 'remove'; readonly before: DeviceEntry }
  /** A new source version was refused; the registry keeps serving the last good one. */
  | { readonly type: 'error'; readonly error: Error };

export type RegistryListener = (event: RegistryEvent) => void;

/**
 * The device registry as the gateway sees it: an O(1) lookup per frame plus change events.
 * Implementations differ only in where changes come from: `MemoryRegistry` (calls),
 * `FileRegistry` (a watched JSON/YAML file); a Kafka compacted topic (`vigil.registry`)
 * feeds the same `applySnapshot`/`upsert`/`remove` of `MemoryRegistry` later.
 */
export interface DeviceRegistry {
  get(deviceId: string): DeviceEntry | undefined;
  list(): readonly DeviceEntry[];
  readonly size: number;
  /** Listens for changes; returns the function that stops listening. */
  subscribe(listener: RegistryListener): () => void;
  close(): Promise<void>;
}
