/**
 * sim: a deterministic simulated fleet (vehicles, dismounted soldiers, unattended ground
 * sensors, UAVs) with scenario events for demos and detector tests; provisioning of its
 * keys and registry; a driver that runs it against an MQTT broker through the device SDK;
 * and a headless frame source for benchmarks.
 */
export { ARCHETYPES, fleetConfigSchema, resolveFleetConfig, type Archetype, type FleetConfig, type FleetConfigInput, type ScenarioConfig } from './fleet-config';
export { planFleet, simDeviceId, type SimDeviceInfo } from './fleet-plan';
export { Fleet, createFleet, type CreateFleetOptions, type SimReading } from './fleet';
export type { ResolvedScenarios } from './scenarios';
export type { DeviceModel, ReadingSink, TimeWindow } from './device-model';
export { ARCHETYPE_PROFILES, type ArchetypeProfile } from './archetype-profiles';
export { Prng } from './prng';
export { insidePolygon, LocalFrame, type LatLon, type LocalPoint } from './geo';
export { UGS_LINE_SITES, UgsCrossings, type CrossingDetection } from './ugs-line';
export {
  provisionFleet, loadProvisionedFleet, SIM_FILES,
  type ProvisionFleetOptions, type ProvisionedFleet, type SimManifest, type LoadedFleet,
} from './provision';
export { FrameSource, type FrameSourceOptions, type SimFrame } from './frame-source';
export { ephemeralFleetKeys } from './ephemeral-keys';
export { FleetDriver, type FleetDriverOptions, type FleetStats } from './fleet-driver';
export { Adversary, type AdversaryOptions, type AdversaryStats } from './adversary';
