import { map, merge, share } from 'rxjs';
import { definePipeline, geofence, VigilError, type DerivedOutput, type Fence, type GeofenceEvent, type PipelineDefinition, type PipelineReading, type PositionReading } from '../src';
import zonesFile from './reference/zones.json';
import { DEFAULT_CEILING, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

/** How a zone is treated: `no-go` must not be entered at all; `restricted` only briefly or with authority. */
export type ZoneClass = 'restricted' | 'no-go';
export const ZONE_CLASSES: readonly ZoneClass[] = ['restricted', 'no-go'];

/** A zone of the reference file: a polygon of `[lon, lat]` vertices (GeoJSON order). */
export interface Zone {
  readonly id: string;
  readonly name: string;
  readonly class: ZoneClass;
  readonly polygon: ReadonlyArray<readonly [number, number]>;
}

const ZONE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function bad(path: string, problem: string): never {
  throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "geofence": zones ${path} ${problem}`, { details: { pipeline: 'geofence', option: 'zones' } });
}

/**
 * Checks zone reference data (`{ zones: [{ id, name, class, polygon }] }`, as in
 * `reference/zones.json`) once, so a bad file fails at start naming the zone and the
 * field instead of misfiring later.
 *
 * @throws VigilError `VIGIL_E_PIPELINE_OPTIONS`
 */
export function parseZones(json: unknown): Zone[] {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { zones?: unknown }).zones)) bad('file', 'must be an object with a "zones" array');
  const seen = new Set<string>();
  return ((json as { zones: unknown[] }).zones).map((z, i): Zone => {
    if (typeof z !== 'object' || z === null) bad(`[${i}]`, 'must be an object');
    const { id, name, class: cls, polygon } = z as Record<string, unknown>;
    if (typeof id !== 'string' || !ZONE_ID.test(id)) bad(`[${i}].id`, `must match ${String(ZONE_ID)}`);
    if (seen.has(id)) bad(`[${i}].id`, `"${id}" appears twice`);
    seen.add(id);
    if (typeof cls !== 'string' || !(ZONE_CLASSES as readonly string[]).includes(cls)) bad(`"${id}".class`, `must be one of ${ZONE_CLASSES.join(', ')}`);
    if (name !== undefined && (typeof name !== 'string' || name.length > 256)) bad(`"${id}".name`, 'must be a string of at most 256 characters');
    const ok =
      Array.isArray(polygon) &&
      polygon.length >= 3 &&
      polygon.every((v: unknown) => Array.isArray(v) && v.length === 2 && Number.isFinite(v[0]) && Number.isFinite(v[1]) && Math.abs(v[0] as number) <= 180 && Math.abs(v[1] as number) <= 90);
    if (!ok) bad(`"${id}".polygon`, 'must hold at least 3 [lon, lat] vertices in range');
    return { id, name: (name as string | undefined) ?? id, class: cls as ZoneClass, polygon: (polygon as [number, number][]).map(([lon, lat]) => [lon, lat] as const) };
  });
}

/** The zones of `pipelines/reference/zones.json`. */
export const REFERENCE_ZONES: readonly Zone[] = Object.freeze(parseZones(zonesFile));

export interface GeofencePipelineOptions extends CommonPipelineOptions {
  /** Default `REFERENCE_ZONES`. Changing the set of zone ids changes the checkpointed state: run it under a new name. */
  readonly zones?: readonly Zone[];
  /** Event-time ms inside a zone before `dwell` is reported, per class. Default: no-go 30 s, restricted 5 min. */
  readonly dwellMs?: Readonly<Record<ZoneClass, number>>;
  /** Hysteresis band at the border, metres: GPS noise near a border must not flap enter/exit. Default 15. */
  readonly bufferMeters?: number;
  /** Consecutive fixes on the other side needed before enter/exit. Default 2. */
  readonly confirmPoints?: number;
}

type Fix = PipelineReading<PositionReading>;

/**
 * `geofence` — every position against restricted and no-go zones, from `telemetry.position`.
 *
 * What an analyst of `derived.geofence` sees, per device and zone: point events with key
 * `<deviceId>/<zoneId>/<enter|exit|dwell>` at the event time of the fix that confirmed them.
 * Values: `event` (`enter`, `exit`, `dwell`), `inside` (true after enter and dwell),
 * `zone` (id), `zoneName`, `zoneClass` (`no-go`/`restricted`), `latDeg`/`lonDeg` of that
 * fix, and for `exit`/`dwell` `enteredAtMs` and `insideS` (seconds since the enter).
 * `dwell` fires once per visit after 30 s inside a no-go zone, 5 min inside a restricted
 * one. A fix within 15 m of a border keeps the device's current side, and two consecutive
 * fixes on the other side are needed to enter or exit, so GPS noise at a border does not
 * flap. Fixes are judged in arrival order; events are never revised. Label: the
 * partition's running label (never less restrictive than the truth).
 */
export function geofencePipeline(options: GeofencePipelineOptions = {}): PipelineDefinition<'position'> {
  const zones = options.zones === undefined ? REFERENCE_ZONES : parseZones({ zones: options.zones });
  const dwell = options.dwellMs ?? { 'no-go': 30_000, restricted: 300_000 };
  const byId = new Map(zones.map((z) => [z.id, z]));
  return definePipeline({
    name: 'geofence',
    sources: ['telemetry.position'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      const shared$ = events$.pipe(share());
      // One geofence operator per zone class, because dwell is per operator; registered in ZONE_CLASSES order.
      const perClass = ZONE_CLASSES.map((cls) => {
        const fences: Fence[] = zones.filter((z) => z.class === cls).map((z) => ({ id: z.id, polygon: z.polygon }));
        return shared$.pipe(
          ctx.state(
            `zones-${cls}`,
            geofence({
              key: (r: Fix) => r.deviceId,
              position: (r: Fix) => r.reading,
              fences,
              bufferMeters: options.bufferMeters ?? 15,
              confirmPoints: options.confirmPoints ?? 2,
              dwell: dwell[cls],
            }),
          ),
          map((e) => toOutput(e, byId.get(e.fence) as Zone)),
        );
      });
      return merge(...perClass);
    },
  });
}

function toOutput(e: GeofenceEvent<string>, zone: Zone): DerivedOutput {
  return pointEvent(`${e.key}/${zone.id}/${e.type}`, e.time, {
    event: e.type,
    inside: e.type !== 'exit',
    zone: zone.id,
    zoneName: zone.name,
    zoneClass: zone.class,
    latDeg: e.position.lat,
    lonDeg: e.position.lon,
    ...(e.since === undefined ? {} : { enteredAtMs: e.since, insideS: (e.time - e.since) / 1000 }),
  });
}

/** The `geofence` pipeline over the reference zones. */
export const geofenceZones = geofencePipeline();
