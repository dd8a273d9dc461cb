import { telemetryTopic } from '../device';
import type { Archetype, FleetConfig } from './fleet-config';

/** One simulated device as the outside world sees it: identity, place in the topic tree. */
export interface SimDeviceInfo {
  readonly deviceId: string;
  readonly archetype: Archetype;
  /** Index among the devices of its archetype (0-based). */
  readonly index: number;
  readonly theatre: string;
  readonly unit: string;
  /** `vigil/v1/<theatre>/<unit>/<device>/telemetry`. */
  readonly topic: string;
}

const PREFIX: Readonly<Record<Archetype, string>> = { vehicle: 'veh', soldier: 'sol', ugs: 'ugs', uav: 'uav' };

/** Count of devices of `archetype` in a configuration. */
export function archetypeCount(config: FleetConfig, archetype: Archetype): number {
  return archetype === 'vehicle' ? config.vehicles : archetype === 'soldier' ? config.soldiers : archetype === 'ugs' ? config.ugs : config.uavs;
}

/** Device id of the `index`-th device of an archetype: `veh-001`, `sol-012`… (wider past 999). */
export function simDeviceId(archetype: Archetype, index: number, count: number): string {
  return `${PREFIX[archetype]}-${String(index + 1).padStart(Math.max(3, String(count).length), '0')}`;
}

/**
 * The devices a configuration describes, in a fixed order (vehicles, soldiers, UGS, UAVs).
 * Provisioning and the model both derive ids from here, so key files, the registry and the
 * readings always agree.
 */
export function planFleet(config: FleetConfig): SimDeviceInfo[] {
  const devices: SimDeviceInfo[] = [];
  for (const archetype of ['vehicle', 'soldier', 'ugs', 'uav'] as const) {
    const n = archetypeCount(config, archetype);
    for (let i = 0; i < n; i++) {
      const deviceId = simDeviceId(archetype, i, n);
      devices.push({ deviceId, archetype, index: i, theatre: config.theatre, unit: config.unit, topic: telemetryTopic(config.theatre, config.unit, deviceId) });
    }
  }
  return devices;
}
