import { filter, map } from 'rxjs';
import {
  aggregate,
  combinedLabel,
  count,
  definePipeline,
  frameRanges,
  hopping,
  keyedWindow,
  tumbling,
  VigilError,
  type Aggregate,
  type DerivedOutput,
  type DerivedValue,
  type FrameRange,
  type JsonValue,
  type PipelineDefinition,
  type PipelineReading,
  type PositionReading,
  type ReferenceTable,
  type RepartitionedReading,
} from '../src';
import rosterFile from './reference/roster.json';
import { DEFAULT_CEILING, DEFAULT_LATENESS_MS, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

/** Unit of devices the roster does not list: shown, not dropped, so an unrostered device is still on the picture. */
export const UNASSIGNED_UNIT = 'unassigned';

const UNIT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Turns a roster (`{ units: { <unit>: [deviceId, …] } }`, as in `reference/roster.json`)
 * into device → unit, checked once.
 *
 * @throws VigilError `VIGIL_E_PIPELINE_OPTIONS` for a malformed roster or a device listed twice
 */
export function parseRoster(json: unknown): Map<string, string> {
  const fail = (problem: string): never => {
    throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "unit-picture": roster ${problem}`, { details: { pipeline: 'unit-picture', option: 'roster' } });
  };
  const units = (json as { units?: unknown } | null)?.units;
  if (typeof units !== 'object' || units === null || Array.isArray(units)) return fail('must be an object with a "units" object');
  const out = new Map<string, string>();
  for (const [unit, devices] of Object.entries(units)) {
    if (!UNIT.test(unit)) fail(`unit "${unit}" must match ${String(UNIT)}`);
    if (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string' && d.length > 0)) fail(`unit "${unit}" must list device ids`);
    for (const d of devices as string[]) {
      const before = out.get(d);
      if (before !== undefined) fail(`lists device "${d}" under both "${before}" and "${unit}"`);
      out.set(d, unit);
    }
  }
  return out;
}

/** Device → unit of `pipelines/reference/roster.json`. */
export const REFERENCE_ROSTER: ReadonlyMap<string, string> = parseRoster(rosterFile);

/** Per member of one window: fixes, and the sums of their latitudes and longitudes (degrees). */
type Members = Map<string, [number, number, number]>;

/** The position part of one partial unit picture (see `unitPicturePipeline`). */
export type UnitPosition = {
  /** Members with at least one fix in the window. */
  readonly members: number;
  /** Mean of the members' mean positions, degrees (each member weighs the same, however often it reports). */
  readonly meanLatDeg: number;
  readonly meanLonDeg: number;
  /** Sums of squared deviations of member positions from the mean, degrees²: what `mergeUnitPictures` needs. */
  readonly m2LatDeg2: number;
  readonly m2LonDeg2: number;
  /** Root-mean-square distance of the members from the mean position, metres. */
  readonly spreadM: number;
};

const EARTH_RADIUS_M = 6_371_008.8;
const M_PER_DEG = (Math.PI / 180) * EARTH_RADIUS_M;

/** RMS member distance from the centroid in a local equirectangular projection at the centroid: metres-accurate at unit scale. */
function spreadMeters(members: number, meanLatDeg: number, m2LatDeg2: number, m2LonDeg2: number): number {
  if (members === 0) return NaN;
  const kx = M_PER_DEG * Math.cos((meanLatDeg * Math.PI) / 180);
  return Math.sqrt((m2LatDeg2 * M_PER_DEG * M_PER_DEG + m2LonDeg2 * kx * kx) / members);
}

/** The window's members and where they were: each member's mean fix, then their mean and spread. */
function memberPositions(): Aggregate<PipelineReading<PositionReading>, Members, UnitPosition> {
  return {
    create: () => new Map(),
    add: (acc, r) => {
      const m = acc.get(r.deviceId);
      if (m === undefined) acc.set(r.deviceId, [1, r.reading.lat, r.reading.lon]);
      else {
        m[0]++;
        m[1] += r.reading.lat;
        m[2] += r.reading.lon;
      }
      return acc;
    },
    merge: (into, other) => {
      for (const [d, [n, la, lo]] of other) {
        const m = into.get(d);
        if (m === undefined) into.set(d, [n, la, lo]);
        else {
          m[0] += n;
          m[1] += la;
          m[2] += lo;
        }
      }
      return into;
    },
    result: (acc) => {
      // Sorted, so the floating-point sums do not depend on which member reported first.
      const ids = [...acc.keys()].sort();
      const lats = ids.map((d) => {
        const [n, la] = acc.get(d) as [number, number, number];
        return la / n;
      });
      const lons = ids.map((d) => {
        const [n, , lo] = acc.get(d) as [number, number, number];
        return lo / n;
      });
      const members = ids.length;
      const meanLat = lats.reduce((a, b) => a + b, 0) / members;
      const meanLon = lons.reduce((a, b) => a + b, 0) / members;
      const m2Lat = lats.reduce((a, v) => a + (v - meanLat) * (v - meanLat), 0);
      const m2Lon = lons.reduce((a, v) => a + (v - meanLon) * (v - meanLon), 0);
      return { members, meanLatDeg: meanLat, meanLonDeg: meanLon, m2LatDeg2: m2Lat, m2LonDeg2: m2Lon, spreadM: spreadMeters(members, meanLat, m2Lat, m2Lon) };
    },
    save: (acc): JsonValue => Object.fromEntries([...acc].map(([d, m]) => [d, [...m]])),
    load: (json) => new Map(Object.entries(json as Record<string, [number, number, number]>).map(([d, m]) => [d, [m[0], m[1], m[2]]])),
  };
}

/** The values of one `unit-picture` result, as an analyst reads them (a type alias, so it is a `DerivedOutput['values']`). */
export type UnitPictureValues = UnitPosition & {
  readonly unit: string;
  /** Position readings in the window. */
  readonly fixes: number;
  /** Source partition whose members this result covers. */
  readonly partition: number;
};

/**
 * Merges the partial pictures of one unit and window (one per source partition holding
 * members of the unit) into the unit's picture: members and fixes add up (a device lives in
 * one partition, so no member is counted twice), the mean is the members-weighted mean of
 * the partial means, and the squared deviations combine exactly (Chan et al.'s parallel
 * variance), so the result equals a computation over all members at once, up to rounding.
 *
 * @example
 * const picture = mergeUnitPictures(partialsOf('patrol-1', windowStartMs)); // → { members, fixes, meanLatDeg, meanLonDeg, spreadM, … }
 */
export function mergeUnitPictures(parts: readonly Omit<UnitPictureValues, 'partition'>[]): Omit<UnitPictureValues, 'partition'> & { readonly partitions: number } {
  let members = 0;
  let fixes = 0;
  let meanLat = 0;
  let meanLon = 0;
  let m2Lat = 0;
  let m2Lon = 0;
  for (const p of parts) {
    if (p.members === 0) continue;
    const n = members + p.members;
    const dLat = p.meanLatDeg - meanLat;
    const dLon = p.meanLonDeg - meanLon;
    m2Lat += p.m2LatDeg2 + (dLat * dLat * members * p.members) / n;
    m2Lon += p.m2LonDeg2 + (dLon * dLon * members * p.members) / n;
    meanLat += (dLat * p.members) / n;
    meanLon += (dLon * p.members) / n;
    members = n;
    fixes += p.fixes;
  }
  const unit = parts[0]?.unit ?? '';
  return { unit, partitions: parts.length, members, fixes, meanLatDeg: meanLat, meanLonDeg: meanLon, m2LatDeg2: m2Lat, m2LonDeg2: m2Lon, spreadM: spreadMeters(members, meanLat, m2Lat, m2Lon) };
}

export interface UnitPicturePipelineOptions extends CommonPipelineOptions {
  /**
   * Device → unit. A `ReferenceTable` may be replaced at run time (the next reading sees the
   * new roster); note that a worker re-reading after a restart then uses the roster of that
   * moment, so keep rosters stable if re-runs must reproduce results exactly. Default
   * `REFERENCE_ROSTER`.
   */
  readonly roster?: ReferenceTable<string> | ReadonlyMap<string, string>;
  /** Window size, ms. Default 60,000. */
  readonly windowMs?: number;
  /** Window slide, ms: a new picture every slide. `windowMs` must be a multiple of it. Default 15,000. */
  readonly slideMs?: number;
}

type Fix = PipelineReading<PositionReading>;
type Partial = PipelineReading<RepartitionedReading>;

/** The values of one published `unit-picture` result (a type alias, so it is a `DerivedOutput['values']`). */
export type UnitPictureResult = Omit<UnitPosition, 'm2LatDeg2' | 'm2LonDeg2'> & {
  readonly unit: string;
  /** Position readings in the window. */
  readonly fixes: number;
  /** Source partitions whose members the picture merges. */
  readonly partitions: number;
};

/** The latest partial of each first-stage chain (by origin), for one unit and window. */
type Partials = Map<string, { revision: number; values: Omit<UnitPictureValues, 'partition'>; provenance: FrameRange[] }>;

/** Most provenance entries a derived record may carry (the record codec's limit). */
const MAX_PROVENANCE = 4096;

const num = (v: DerivedValue | undefined): number => (typeof v === 'number' ? v : NaN);

/** A partial's values as the first stage published them (a non-finite mean travels as null). */
function partialValues(v: Readonly<Record<string, DerivedValue>>): Omit<UnitPictureValues, 'partition'> {
  return { unit: String(v.unit), members: num(v.members), fixes: num(v.fixes), meanLatDeg: num(v.meanLatDeg), meanLonDeg: num(v.meanLonDeg), m2LatDeg2: num(v.m2LatDeg2), m2LonDeg2: num(v.m2LonDeg2), spreadM: num(v.spreadM) };
}

/**
 * The merge of one unit and window: keeps each first-stage chain's newest partial (a
 * revision replaces its chain's earlier one; the runtime already dropped repeated copies)
 * and merges them in chain order, so the result does not depend on their arrival order.
 */
function mergedPartials(): Aggregate<Partial, Partials, { picture: UnitPictureResult; provenance: FrameRange[] }> {
  const put = (acc: Partials, origin: string, p: { revision: number; values: Omit<UnitPictureValues, 'partition'>; provenance: FrameRange[] }): void => {
    const before = acc.get(origin);
    if (before === undefined || before.revision <= p.revision) acc.set(origin, p);
  };
  return {
    create: () => new Map(),
    add: (acc, r) => {
      put(acc, r.deviceId, { revision: r.reading.revision, values: partialValues(r.reading.values), provenance: [...r.reading.provenance] });
      return acc;
    },
    merge: (into, other) => {
      for (const [origin, p] of other) put(into, origin, p);
      return into;
    },
    result: (acc) => {
      const parts = [...acc.keys()].sort().map((o) => acc.get(o) as NonNullable<ReturnType<Partials['get']>>);
      const { m2LatDeg2: _lat, m2LonDeg2: _lon, ...picture } = mergeUnitPictures(parts.map((p) => p.values));
      return { picture, provenance: parts.flatMap((p) => p.provenance).slice(0, MAX_PROVENANCE) };
    },
    save: (acc): JsonValue =>
      Object.fromEntries([...acc].map(([o, p]) => [o, [p.revision, p.values as unknown as JsonValue, p.provenance.map((f) => [f.deviceId, String(f.firstSeq), String(f.lastSeq)])]])),
    load: (json) =>
      new Map(
        Object.entries(json as Record<string, [number, Omit<UnitPictureValues, 'partition'>, [string, string, string][]]>).map(([o, [revision, values, prov]]) => [
          o,
          { revision, values, provenance: prov.map(([deviceId, first, last]) => ({ deviceId, firstSeq: BigInt(first), lastSeq: BigInt(last) })) },
        ]),
      ),
  };
}

/**
 * `unit-picture` — the common operating picture per unit, from `telemetry.position`:
 * hopping windows (60 s, a new one every 15 s) of where a unit's members were, how far
 * apart, and how many reported. One record per unit and window.
 *
 * **Two stages.** The runtime runs one operator chain per source partition, and telemetry
 * is partitioned by device, so a unit's members may be spread over several partitions and
 * no single chain sees them all. The first stage computes, per source partition, the
 * partial picture of the members it holds (store `picture`), and sends each partial
 * re-keyed by unit to the pipeline's second stage (`vigil.repartition.unit-picture`, see
 * docs/runtime.md), where every partial of one unit meets in one chain. The second stage
 * (store `merge`) keeps each source partition's newest partial per unit and window and
 * merges them exactly with `mergeUnitPictures` (member counts add, means and squared
 * deviations combine by the parallel-variance formula), so the picture equals one computed
 * over all members at once, up to floating-point rounding, however the devices are
 * partitioned. Partials arrive when their own partition's watermark passes the window's
 * end; the merge publishes a window once every source partition's watermark has passed
 * its end (each first-stage chain reports its watermark to the second stage), so a
 * lagging partition delays the picture instead of leaving it out. A partition whose
 * watermark trails the others by more than 5 min (its devices fell silent) stops holding
 * pictures back; a partial it sends after that publishes a revision.
 *
 * What an analyst of `derived.unit-picture` sees, key `<unit>`, window `[start, start +
 * 60 s)`: `unit`, `members` (devices with at least one fix), `fixes` (position readings),
 * `meanLatDeg`, `meanLonDeg` (mean of each member's mean fix: a chatty member does not pull
 * the centre towards itself), `spreadM` (root-mean-square distance of members from that
 * centre, metres) and `partitions` (source partitions that held reporting members). Devices
 * the roster does not list appear under the unit `unassigned`. Label = combination of the
 * window's records; provenance = its frames. Data up to 6 h late publishes `revision` 1,
 * 2, … under the same key, replacing the earlier value.
 */
export function unitPicturePipeline(options: UnitPicturePipelineOptions = {}): PipelineDefinition<'position'> {
  const roster = options.roster ?? REFERENCE_ROSTER;
  const unitOf = (deviceId: string): string => roster.get(deviceId) ?? UNASSIGNED_UNIT;
  const windowMs = options.windowMs ?? 60_000;
  const slideMs = options.slideMs ?? 15_000;
  if (!Number.isInteger(windowMs / slideMs) || windowMs <= 0 || slideMs <= 0) {
    throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "unit-picture": windowMs (${windowMs}) must be a positive multiple of slideMs (${slideMs})`, { details: { pipeline: 'unit-picture', option: 'windowMs' } });
  }
  return definePipeline({
    name: 'unit-picture',
    sources: ['telemetry.position'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) =>
      events$.pipe(
        ctx.state(
          'picture',
          keyedWindow({
            key: (r: Fix) => unitOf(r.deviceId),
            window: hopping(windowMs, slideMs),
            allowedLateness: DEFAULT_LATENESS_MS,
            aggregate: aggregate({ fixes: count<Fix>(), position: memberPositions(), label: combinedLabel<Fix>(), frames: frameRanges<Fix>() }),
          }),
        ),
        filter((w) => w.type !== 'early'),
        map((w): DerivedOutput => {
          const values: UnitPictureValues = { unit: w.key, partition: ctx.partition, fixes: w.value.fixes, ...w.value.position };
          return {
            key: `${w.key}/p${ctx.partition}`,
            windowStartMs: w.window.start,
            windowEndMs: w.window.end,
            revision: w.revision,
            values,
            ...(w.value.label === undefined ? {} : { label: w.value.label }),
            provenance: w.value.frames,
            repartitionKey: w.key,
          };
        }),
      ),
    repartition: {
      // A partial's event time is its window's start, and a first-stage chain sends it once its
      // watermark passes the window's end: the partials still to come start after that
      // watermark minus the window plus one slide. Windows start every slide, so one tumbling
      // window of `slideMs` holds exactly the partials of one picture window.
      maxOutOfOrderness: windowMs - slideMs,
      build: (partials$, ctx) =>
        partials$.pipe(
          ctx.state(
            'merge',
            keyedWindow({
              key: (r: Partial) => r.reading.repartitionKey,
              window: tumbling(slideMs),
              allowedLateness: DEFAULT_LATENESS_MS,
              aggregate: aggregate({ merged: mergedPartials(), label: combinedLabel<Partial>() }),
            }),
          ),
          filter((w) => w.type !== 'early'),
          map(
            (w): DerivedOutput => ({
              key: w.key,
              windowStartMs: w.window.start,
              windowEndMs: w.window.start + windowMs,
              revision: w.revision,
              values: w.value.merged.picture,
              ...(w.value.label === undefined ? {} : { label: w.value.label }),
              provenance: w.value.merged.provenance,
            }),
          ),
        ),
    },
  });
}

/** The `unit-picture` pipeline over the reference roster. */
export const unitPicture = unitPicturePipeline();
