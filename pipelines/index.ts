/**
 * Vigil's pipelines (issue 6): one file per pipeline, each importing Vigil only through its
 * public API. `ALL_PIPELINES` is what a deployment (or the demo) starts; each pipeline is
 * also exported by name, with its factory for other settings.
 */
import type { PipelineDefinition, SourceKind } from '../src';
import { geofenceZones } from './geofence';
import { sensorHealth } from './sensor-health';
import { ugs } from './ugs';
import { unitPicture } from './unit-picture';
import { vehicleAnomaly } from './vehicle-anomaly';
import { vitals } from './vitals';

export { DEFAULT_CEILING, DEFAULT_LATENESS_MS, DEFAULT_MAX_OUT_OF_ORDERNESS_MS, type CommonPipelineOptions } from './shared';
export { vitals, vitalsPipeline, DEFAULT_VITALS_CONDITIONS, type VitalsCondition, type VitalsPipelineOptions } from './vitals';
export { geofenceZones, geofencePipeline, parseZones, REFERENCE_ZONES, ZONE_CLASSES, type Zone, type ZoneClass, type GeofencePipelineOptions } from './geofence';
export { sensorHealth, sensorHealthPipeline, type SensorHealthPipelineOptions } from './sensor-health';
export { vehicleAnomaly, vehicleAnomalyPipeline, type AnomalySignal, type VehicleAnomalyPipelineOptions } from './vehicle-anomaly';
export { ugs, ugsPipeline, parseUgsLayout, REFERENCE_UGS_LAYOUT, type UgsLayout, type UgsPipelineOptions } from './ugs';
export {
  unitPicture,
  unitPicturePipeline,
  mergeUnitPictures,
  parseRoster,
  REFERENCE_ROSTER,
  UNASSIGNED_UNIT,
  type UnitPictureValues,
  type UnitPictureResult,
  type UnitPosition,
  type UnitPicturePipelineOptions,
} from './unit-picture';

/**
 * Forgets which reading kind a definition reads, so pipelines of different kinds fit one
 * list that `startPipeline` accepts. Safe for the same reason as inside `startPipeline`:
 * the worker hands `build` only records of the definition's own sources.
 */
function anyKind<K extends SourceKind>(definition: PipelineDefinition<K>): PipelineDefinition {
  return definition as unknown as PipelineDefinition;
}

/** Every pipeline, with default settings and reference data, in a fixed order: what a deployment starts. */
export const ALL_PIPELINES: readonly PipelineDefinition[] = Object.freeze([anyKind(vitals), anyKind(geofenceZones), anyKind(sensorHealth), anyKind(vehicleAnomaly), anyKind(unitPicture), anyKind(ugs)]);

/** The pipelines of `ALL_PIPELINES` by pipeline name (`vitals`, `geofence`, `sensor-health`, `vehicle-anomaly`, `unit-picture`, `ugs`). */
export const PIPELINES_BY_NAME: ReadonlyMap<string, PipelineDefinition> = new Map(ALL_PIPELINES.map((p) => [p.name, p]));
