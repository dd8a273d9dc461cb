import { filter, map, merge, mergeMap, share } from 'rxjs';
import {
  aggregate,
  combinedLabel,
  count,
  definePipeline,
  frameRanges,
  keyedWindow,
  rateDetector,
  hopping,
  tumbling,
  UGS_DETECTION_TYPES,
  VigilError,
  type Aggregate,
  type DerivedOutput,
  type JsonValue,
  type PipelineDefinition,
  type PipelineReading,
  type RepartitionedReading,
  type StreamEvent,
  type UgsDetectionType,
  type UgsReading,
} from '../src';
import { REFERENCE_ZONES, type Zone } from './geofence';
import ugsFile from './reference/ugs.json';
import { DEFAULT_CEILING, DEFAULT_LATENESS_MS, keepRecords, pointEvent, type CommonPipelineOptions, DEFAULT_MAX_OUT_OF_ORDERNESS_MS } from './shared';

/** Where the sensors are and which lines they watch: `reference/ugs.json`. */
export interface UgsLayout {
  /** Sensor id → surveyed position. */
  readonly sensors: ReadonlyMap<string, { readonly lat: number; readonly lon: number }>;
  /** Routes: sensors in the order a target moving along the route passes them. */
  readonly routes: readonly { readonly id: string; readonly name: string; readonly sensors: readonly string[] }[];
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function bad(problem: string): never {
  throw new VigilError('VIGIL_E_PIPELINE_OPTIONS', `pipeline "ugs": layout ${problem}`, { details: { pipeline: 'ugs', option: 'layout' } });
}

/**
 * Checks a sensor layout (`{ sensors: { <id>: [lon, lat] }, routes: [{ id, name, sensors }] }`,
 * as in `reference/ugs.json`) once, so a bad file fails at start naming what is wrong.
 *
 * @throws VigilError `VIGIL_E_PIPELINE_OPTIONS`
 */
export function parseUgsLayout(json: unknown): UgsLayout {
  const j = json as { sensors?: unknown; routes?: unknown } | null;
  if (typeof j !== 'object' || j === null || typeof j.sensors !== 'object' || j.sensors === null || Array.isArray(j.sensors) || !Array.isArray(j.routes)) bad('must be an object with a "sensors" object and a "routes" array');
  const sensors = new Map<string, { lat: number; lon: number }>();
  for (const [id, p] of Object.entries(j.sensors as Record<string, unknown>)) {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => Number.isFinite(v)) || Math.abs(p[0] as number) > 180 || Math.abs(p[1] as number) > 90) bad(`sensor "${id}" must be a [lon, lat] pair in range`);
    sensors.set(id, { lon: p[0] as number, lat: p[1] as number });
  }
  const seen = new Set<string>();
  const routes = (j.routes as unknown[]).map((r, i) => {
    const { id, name, sensors: list } = (r ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string' || !ID.test(id)) bad(`routes[${i}].id must match ${String(ID)}`);
    if (seen.has(id)) bad(`route "${id}" appears twice`);
    seen.add(id);
    if (!Array.isArray(list) || list.length < 2 || !list.every((s) => typeof s === 'string' && sensors.has(s)) || new Set(list).size !== list.length) bad(`route "${id}" must list at least two distinct sensors of "sensors"`);
    return { id, name: typeof name === 'string' ? name : id, sensors: list as string[] };
  });
  return { sensors, routes };
}

/** The sensor layout of `pipelines/reference/ugs.json` (the default simulated sensor line). */
export const REFERENCE_UGS_LAYOUT: UgsLayout = parseUgsLayout(ugsFile);

/** Ray casting over a `[lon, lat]` ring: inside or not (a point on the border may go either way). */
function inside(p: { readonly lat: number; readonly lon: number }, polygon: Zone['polygon']): boolean {
  let c = false;
  for (let i = 0, k = polygon.length - 1; i < polygon.length; k = i++) {
    const [xi, yi] = polygon[i] as readonly [number, number];
    const [xk, yk] = polygon[k] as readonly [number, number];
    if (yi > p.lat !== yk > p.lat && p.lon < ((xk - xi) * (p.lat - yi)) / (yk - yi) + xi) c = !c;
  }
  return c;
}

const EARTH_RADIUS_M = 6_371_008.8;
const RAD = Math.PI / 180;
/** Great-circle distance, metres (haversine). */
function metres(a: { readonly lat: number; readonly lon: number }, b: { readonly lat: number; readonly lon: number }): number {
  const h = Math.sin(((b.lat - a.lat) * RAD) / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(((b.lon - a.lon) * RAD) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(h));
}

export interface UgsPipelineOptions extends CommonPipelineOptions {
  /** Sensor positions and routes. Default `REFERENCE_UGS_LAYOUT`. */
  readonly layout?: UgsLayout;
  /** Zones a sensor's position is judged against (the first containing it is its zone). Default `REFERENCE_ZONES`, as the geofence pipeline. */
  readonly zones?: readonly Zone[];
  /** Tumbling window of the counts, ms. Default 60,000. */
  readonly windowMs?: number;
  /** Classes that count towards intrusions and tracks. Default person and vehicle (animals and unknowns are the usual false alarms). */
  readonly alertClasses?: readonly UgsDetectionType[];
  /** Least classifier confidence of a detection that counts towards intrusions and tracks. Default 0.5. */
  readonly minConfidence?: number;
  /** Intrusion alarm: raised at `raise` alerting detections in a zone within `overMs`, cleared once that count has fallen to `clear`. Default 5 within 60 s, cleared at 1. */
  readonly intrusion?: { readonly overMs: number; readonly raise: number; readonly clear: number };
  /** Most event-time ms between detections at consecutive sensors of a track. Default 180,000. */
  readonly trackStepMs?: number;
  /** How often tracks are judged, ms: a track is published within this much event time after its last detection. Default 60,000. */
  readonly trackSlideMs?: number;
  /** Consecutive sensors a track must cross. Default 3. */
  readonly trackMinSensors?: number;
  /**
   * Event-time ms after which a source partition whose detections stopped (its sensors saw
   * nothing) no longer holds the zone and route results of the others back; what it sends
   * later counts late (docs/runtime.md, second stage). Default 120,000: alarms are at most
   * two minutes late for quiet sensors elsewhere.
   */
  readonly idleAfterMs?: number;
}

type Ugs = PipelineReading<UgsReading>;
type Rekeyed = PipelineReading<RepartitionedReading>;

/** Counts by detection class, plus how many detections in all. */
type ClassCounts = { readonly detections: number } & Readonly<Record<UgsDetectionType, number>>;

function classCounts<T>(cls: (r: T) => string): Aggregate<T, number[], ClassCounts> {
  return {
    create: () => UGS_DETECTION_TYPES.map(() => 0),
    add: (acc, r) => {
      const i = (UGS_DETECTION_TYPES as readonly string[]).indexOf(cls(r));
      if (i >= 0) acc[i] = (acc[i] as number) + 1;
      return acc;
    },
    merge: (a, b) => a.map((v, i) => v + (b[i] ?? 0)),
    result: (acc) => ({ detections: acc.reduce((x, y) => x + y, 0), ...(Object.fromEntries(UGS_DETECTION_TYPES.map((c, i) => [c, acc[i] ?? 0])) as Record<UgsDetectionType, number>) }),
    save: (acc): JsonValue => [...acc],
    load: (json) => (json as number[]).map(Number),
  };
}

/** Allowed lateness of track windows: shorter than the counts', as each detection sits in many overlapping windows. */
const TRACK_LATENESS_MS = 30 * 60_000;

/** Most detections a track window keeps (the earliest by time, then sensor): bounds its state whatever arrives. */
const TRACK_MAX_DETECTIONS = 256;

/** A track: consecutive sensors of a route, crossed in order. */
interface Track {
  readonly direction: 'forward' | 'reverse';
  /** Route indices of its first and last sensor. */
  readonly from: number;
  readonly to: number;
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * The longest run of detections at consecutive sensors of a route (index i, i±1, …) in
 * strictly increasing event time, each step within `stepMs`, ending at or after `endFrom`:
 * dynamic programming over the window's detections in time order (each detection extends
 * the earliest longest run before it). A run is only reported at the earliest detection
 * that completes it (same start, same length): the members of a party each set a sensor
 * off, and overlapping windows must report one crossing with the same values.
 */
function longestTrack(detections: readonly (readonly [number, number])[], stepMs: number, endFrom: number): Track | null {
  const byTime = [...detections].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let best: Track | null = null;
  for (const [direction, step] of [['forward', 1], ['reverse', -1]] as const) {
    const len: number[] = [];
    const start: number[] = [];
    const earliest = new Map<string, number>();
    const runs: Track[] = [];
    byTime.forEach(([t, s], j) => {
      len[j] = 1;
      start[j] = j;
      for (let i = 0; i < j; i++) {
        const [ti, si] = byTime[i] as readonly [number, number];
        if (si === s - step && ti < t && t - ti <= stepMs && (len[i] as number) + 1 > (len[j] as number)) {
          len[j] = (len[i] as number) + 1;
          start[j] = start[i] as number;
        }
      }
      const first = byTime[start[j] as number] as readonly [number, number];
      const id = `${first[0]}|${first[1]}|${len[j] as number}`;
      if (earliest.has(id)) return;
      earliest.set(id, t);
      runs.push({ direction, from: first[1], to: s, startMs: first[0], endMs: t });
    });
    for (const r of runs) if (r.endMs >= endFrom && (best === null || Math.abs(r.to - r.from) > Math.abs(best.to - best.from))) best = r;
  }
  return best;
}

/** Detections of a route's window as `[time, sensor index]`, bounded, order-independent. */
function trackDetections(): Aggregate<Rekeyed, Array<[number, number]>, Array<[number, number]>> {
  const keep = (acc: Array<[number, number]>): Array<[number, number]> => {
    acc.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return acc.length > TRACK_MAX_DETECTIONS ? acc.slice(0, TRACK_MAX_DETECTIONS) : acc;
  };
  return {
    create: () => [],
    add: (acc, r) => keep([...acc, [r.timeMs, r.reading.values.index as number]]),
    merge: (a, b) => keep([...a, ...b]),
    result: (acc) => acc,
    save: (acc): JsonValue => acc.map(([t, s]) => [t, s]),
    load: (json) => (json as Array<[number, number]>).map(([t, s]) => [t, s]),
  };
}

/**
 * `ugs` — unattended ground sensor detections from `telemetry.ugs`: counts per sensor and
 * per zone, intrusion alarms per zone, and tracks of targets crossing a line of sensors.
 *
 * Sensor positions and routes come from `reference/ugs.json`; a sensor's zone is the first
 * zone of `reference/zones.json` (the geofence pipeline's) containing its position.
 * Detections of sensors the layout does not list count per sensor only.
 *
 * **Two stages.** Telemetry is partitioned by device, so the sensors of one zone or route
 * may sit in different partitions. The first stage counts per sensor (store
 * `sensor-counts`) and re-keys every detection of a zoned or routed sensor by zone and by
 * route to the second stage (`vigil.repartition.ugs`), where each zone and route meets in
 * one chain (stores `zone-counts`, `intrusion`, `tracks`). Its event time advances with
 * the slowest source partition (docs/runtime.md), so detections of a lagging partition
 * still count.
 *
 * What an analyst of `derived.ugs` sees:
 *
 * - **Per sensor**, key `<sensorId>`, 60 s tumbling windows: `sensor`, `zone` (or null),
 *   `detections`, and per class `person`, `vehicle`, `animal`, `unknown`. Label = the
 *   window's records; provenance = its frames; late data publishes revisions (6 h).
 * - **Per zone**, key `zone:<zoneId>`, the same windows: `zone`, `zoneName`, `zoneClass`,
 *   `detections`, the four class counts. Revisions as above.
 * - **Intrusion**, key `zone:<zoneId>/intrusion/<raised|cleared>`, a point event: raised at
 *   the second (event time, to the second) in which the zone reaches 5 alerting detections
 *   (person or vehicle, confidence ≥ 0.5) within 60 s; cleared only once the count within
 *   the last 60 s has fallen to 1 — the zone has been nearly quiet for a whole minute — so
 *   a target lingering between the levels does not flap it. Values: `zone`, `zoneName`,
 *   `state`, `alarm`, `count`, `sinceMs`. Judged in event-time order once the second
 *   stage's watermark has passed each second, so they do not depend on partitioning.
 * - **Track**, key `route:<routeId>/track/<forward|reverse>`, a point window at the
 *   track's first detection: alerting detections at at least 3 consecutive sensors of a
 *   route (in route order or reverse) at strictly increasing event times, each step within
 *   `trackStepMs` (3 min by default). Judged every minute of event time over hopping
 *   windows long enough for a track over the whole route, by the window whose last minute
 *   holds the track's last detection; when the target crosses one more sensor the track
 *   is published again under the same key as `revision` + 1 (revision = sensors − 3), so a
 *   keyed reader keeps the longest. The longest run ending in that minute is reported:
 *   `route`, `direction` (`forward` along the route's sensor order, or `reverse`),
 *   `sensors` (how many), `fromSensor`, `toSensor`, `startMs`, `endMs`, `speedMps`
 *   (distance between the end sensors over the time between their detections). Judged on
 *   event time, not arrival order, so it does not depend on how sensors are partitioned.
 *   A window's detections are bounded (the earliest 256); late detections within 30 min
 *   revise it.
 *
 * Intrusions are never revised (a detection later than the second stage's watermark is
 * left out of them); their label is the second-stage partition's running label.
 */
export function ugsPipeline(options: UgsPipelineOptions = {}): PipelineDefinition<'ugs'> {
  const layout = options.layout ?? REFERENCE_UGS_LAYOUT;
  const zones = options.zones ?? REFERENCE_ZONES;
  const windowMs = options.windowMs ?? 60_000;
  const alertClasses = new Set<string>(options.alertClasses ?? ['person', 'vehicle']);
  const minConfidence = options.minConfidence ?? 0.5;
  const intrusion = options.intrusion ?? { overMs: 60_000, raise: 5, clear: 1 };
  const stepMs = options.trackStepMs ?? 180_000;
  const minSensors = options.trackMinSensors ?? 3;
  const slideMs = options.trackSlideMs ?? 60_000;
  // Long enough to hold a track over every sensor of the longest route at the slowest step.
  const longest = Math.max(2, ...layout.routes.map((r) => r.sensors.length));
  const trackWindowMs = Math.ceil(((longest - 1) * stepMs) / slideMs) * slideMs + slideMs;
  const zoneOf = new Map<string, Zone>();
  for (const [id, p] of layout.sensors) {
    const z = zones.find((zone) => inside(p, zone.polygon));
    if (z !== undefined) zoneOf.set(id, z);
  }
  const zoneById = new Map(zones.map((z) => [z.id, z]));
  const routesOf = new Map<string, Array<{ route: string; index: number }>>();
  for (const r of layout.routes) r.sensors.forEach((s, index) => routesOf.set(s, [...(routesOf.get(s) ?? []), { route: r.id, index }]));
  const routeById = new Map(layout.routes.map((r) => [r.id, r]));
  const alerting = (cls: string, confidence: number): boolean => alertClasses.has(cls) && confidence >= minConfidence;

  return definePipeline({
    name: 'ugs',
    sources: ['telemetry.ugs'],
    ceiling: options.ceiling ?? DEFAULT_CEILING,
    watermarks: { maxOutOfOrderness: options.maxOutOfOrdernessMs ?? DEFAULT_MAX_OUT_OF_ORDERNESS_MS },
    build: (events$, ctx) => {
      const shared$ = events$.pipe(share());
      const perSensor$ = shared$.pipe(
        ctx.state(
          'sensor-counts',
          keyedWindow({
            key: (r: Ugs) => r.deviceId,
            window: tumbling(windowMs),
            allowedLateness: DEFAULT_LATENESS_MS,
            aggregate: aggregate({ counts: classCounts((r: Ugs) => r.reading.detection), label: combinedLabel<Ugs>(), frames: frameRanges<Ugs>() }),
          }),
        ),
        filter((w) => w.type !== 'early'),
        map(
          (w): DerivedOutput => ({
            key: w.key,
            windowStartMs: w.window.start,
            windowEndMs: w.window.end,
            revision: w.revision,
            values: { sensor: w.key, zone: zoneOf.get(w.key)?.id ?? null, ...w.value.counts },
            ...(w.value.label === undefined ? {} : { label: w.value.label }),
            provenance: w.value.frames,
          }),
        ),
      );
      // Every detection of a zoned or routed sensor, re-keyed for the second stage.
      const rekeyed$ = shared$.pipe(
        filter((e) => e.kind === 'record'),
        map((e) => e.value as Ugs),
        map((r) => {
          const values = { detection: r.reading.detection, alerting: alerting(r.reading.detection, r.reading.confidence) };
          const point = { key: r.deviceId, windowStartMs: r.timeMs, windowEndMs: r.timeMs, label: r.label, provenance: [{ deviceId: r.deviceId, firstSeq: r.seq, lastSeq: r.seq }] };
          const z = zoneOf.get(r.deviceId);
          return [
            ...(z === undefined ? [] : [{ ...point, values, repartitionKey: `zone:${z.id}` }]),
            ...(routesOf.get(r.deviceId) ?? []).map(({ route, index }) => ({ ...point, values: { ...values, index }, repartitionKey: `route:${route}` })),
          ];
        }),
        mergeMap((outs): DerivedOutput[] => outs),
      );
      return merge(perSensor$, rekeyed$);
    },
    repartition: {
      // Detections are sparse: a partition whose sensors saw nothing must not hold alarms back for long.
      idleAfterMs: options.idleAfterMs ?? 120_000,
      build: (events$, ctx) => {
        const shared$ = events$.pipe(share());
        const zone$ = shared$.pipe(keepRecords((r: Rekeyed) => r.reading.repartitionKey.startsWith('zone:')), share());
        const route$ = shared$.pipe(keepRecords((r: Rekeyed) => r.reading.repartitionKey.startsWith('route:') && r.reading.values.alerting === true));
        const zoneOfKey = (k: string): Zone => zoneById.get(k.slice('zone:'.length)) as Zone;
        const counts$ = zone$.pipe(
          ctx.state(
            'zone-counts',
            keyedWindow({
              key: (r: Rekeyed) => r.reading.repartitionKey,
              window: tumbling(windowMs),
              allowedLateness: DEFAULT_LATENESS_MS,
              aggregate: aggregate({ counts: classCounts((r: Rekeyed) => String(r.reading.values.detection)), label: combinedLabel<Rekeyed>() }),
            }),
          ),
          filter((w) => w.type !== 'early'),
          map((w): DerivedOutput => {
            const z = zoneOfKey(w.key);
            return {
              key: w.key,
              windowStartMs: w.window.start,
              windowEndMs: w.window.end,
              revision: w.revision,
              values: { zone: z.id, zoneName: z.name, zoneClass: z.class, ...w.value.counts },
              ...(w.value.label === undefined ? {} : { label: w.value.label }),
            };
          }),
        );
        // The rate detector judges records in arrival order, and here arrival order depends on
        // how the sensors' partitions interleave: alerting detections are first counted per zone
        // and second, and each second's count reaches it in event-time order once the watermark
        // has passed it (then the watermark itself), so alarms do not depend on partitioning.
        const seconds$ = zone$.pipe(
          keepRecords((r: Rekeyed) => r.reading.values.alerting === true),
          ctx.state('intrusion-seconds', keyedWindow({ key: (r: Rekeyed) => r.reading.repartitionKey, window: tumbling(1_000), allowedLateness: 0, aggregate: count<Rekeyed>() })),
          filter((w) => w.type === 'final'),
          mergeMap((w) => Array.from({ length: w.value }, (): StreamEvent<string> => ({ kind: 'record', time: w.window.start, value: w.key }))),
        );
        const watermarks$ = zone$.pipe(filter((e): e is StreamEvent<string> & { kind: 'watermark' } => e.kind === 'watermark'));
        // `seconds$` first: on a watermark, the seconds it closes reach the detector before it does.
        const alarms$ = merge(seconds$, watermarks$).pipe(
          ctx.state('intrusion', rateDetector({ key: (zone: string) => zone, over: intrusion.overMs, raise: intrusion.raise, clear: intrusion.clear })),
          map((e) => {
            const z = zoneOfKey(e.key);
            return pointEvent(`${e.key}/intrusion/${e.type}`, e.time, { zone: z.id, zoneName: z.name, state: e.type, alarm: e.type === 'raised', count: e.count, sinceMs: e.since });
          }),
        );
        const tracks$ = route$.pipe(
          ctx.state(
            'tracks',
            keyedWindow({
              key: (r: Rekeyed) => r.reading.repartitionKey,
              window: hopping(trackWindowMs, slideMs),
              allowedLateness: TRACK_LATENESS_MS,
              aggregate: aggregate({ detections: trackDetections(), label: combinedLabel<Rekeyed>() }),
            }),
          ),
          filter((w) => w.type !== 'early'),
          map((w) => {
            const route = routeById.get(w.key.slice('route:'.length));
            // Each track is reported once: by the window whose last slide holds its last detection.
            const t = longestTrack(w.value.detections, stepMs, w.window.end - slideMs);
            if (route === undefined || t === null || Math.abs(t.to - t.from) + 1 < minSensors) return null;
            const from = route.sensors[t.from] as string;
            const to = route.sensors[t.to] as string;
            const d = metres(layout.sensors.get(from) as { lat: number; lon: number }, layout.sensors.get(to) as { lat: number; lon: number });
            // Keyed by its first detection: a track seen again longer (it crossed another sensor)
            // is a revision of the same record, numbered by the sensors it gained.
            const out: DerivedOutput = {
              key: `${w.key}/track/${t.direction}`,
              windowStartMs: t.startMs,
              windowEndMs: t.startMs,
              revision: Math.abs(t.to - t.from) + 1 - minSensors,
              values: { route: route.id, direction: t.direction, sensors: Math.abs(t.to - t.from) + 1, fromSensor: from, toSensor: to, startMs: t.startMs, endMs: t.endMs, speedMps: d / ((t.endMs - t.startMs) / 1000) },
              ...(w.value.label === undefined ? {} : { label: w.value.label }),
            };
            return out;
          }),
          filter((o): o is DerivedOutput => o !== null),
        );
        return merge(counts$, alarms$, tracks$);
      },
    },
  });
}

/** The `ugs` pipeline over the reference layout and zones. */
export const ugs = ugsPipeline();
