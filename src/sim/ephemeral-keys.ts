import { generateDeviceKeys, generateIngestKeys, type CryptoBackendOption, type DeviceKeys, type IngestKeys } from '../crypto';
import type { Fleet } from './fleet';

/**
 * Fresh keys for every device of a fleet and an ingest key, in memory only: for benchmarks
 * and tests that need sealed frames without files. A gateway under test is then given the
 * same keys through a memory registry.
 */
export function ephemeralFleetKeys(fleet: Fleet, backend: CryptoBackendOption = 'auto'): { keys: Map<string, DeviceKeys>; ingest: IngestKeys } {
  const keys = new Map<string, DeviceKeys>();
  for (const d of fleet.devices) keys.set(d.deviceId, generateDeviceKeys(d.deviceId, 1, backend));
  return { keys, ingest: generateIngestKeys('sim-ingest', backend) };
}
