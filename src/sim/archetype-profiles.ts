import type { ClassificationLevel, ReadingKind } from '../codec';
import type { PriorityClass, RateLimit } from '../registry';
import type { Archetype } from './fleet-config';

/** How a simulated archetype is registered: the registry fields provisioning writes. */
export interface ArchetypeProfile {
  /** Registry device class. */
  readonly deviceClass: string;
  readonly priority: PriorityClass;
  readonly ceiling: ClassificationLevel;
  readonly kinds: readonly ReadingKind[];
  readonly rate: RateLimit;
  /** Frames must be Ed25519-signed; the driver and the headless generator sign them. */
  readonly requireSignature: boolean;
}

/**
 * The choices, and why:
 * - **UGS: flash, signed.** A detection is an intrusion alert, useless if late and rare by
 *   nature, so draining it first costs nothing; signatures give the alert non-repudiation
 *   (an emplaced sensor is the device most likely to be tampered with or spoofed).
 * - **Soldier: immediate.** Vitals are casualty indicators and positions are blue-force
 *   tracking; both matter within minutes. SECRET: dismounted positions are the most
 *   sensitive data in the fleet.
 * - **Vehicle: immediate.** Convoy tracking and vehicle health feed movement control.
 *   CONFIDENTIAL: route telemetry of logistics vehicles.
 * - **UAV: routine.** The highest-volume stream, and each fix supersedes the last, so it is
 *   what a full spool sheds first. SECRET: the orbit reveals what is under observation.
 *
 * Rate limits: the driver seals at most one frame per device per tick (100 ms) plus the
 * odd extra when a batch fills, so 20 frames/s with a burst of 100 admits any speed factor
 * while still catching a runaway device.
 */
export const ARCHETYPE_PROFILES: Readonly<Record<Archetype, ArchetypeProfile>> = {
  vehicle: { deviceClass: 'vehicle', priority: 'immediate', ceiling: 'CONFIDENTIAL', kinds: ['position', 'vehicle', 'power'], rate: { perSecond: 20, burst: 100 }, requireSignature: false },
  soldier: { deviceClass: 'soldier', priority: 'immediate', ceiling: 'SECRET', kinds: ['position', 'vitals', 'power'], rate: { perSecond: 20, burst: 100 }, requireSignature: false },
  ugs: { deviceClass: 'ugs', priority: 'flash', ceiling: 'SECRET', kinds: ['position', 'ugs', 'power'], rate: { perSecond: 20, burst: 100 }, requireSignature: true },
  uav: { deviceClass: 'uav', priority: 'routine', ceiling: 'SECRET', kinds: ['position', 'power', 'metric'], rate: { perSecond: 20, burst: 100 }, requireSignature: false },
};
