import type { ReadingInput } from '../device';
import { inWindow, type DeviceModel, type ReadingSink } from './device-model';
import { resolveFleetConfig, type FleetConfig, type FleetConfigInput } from './fleet-config';
import { planFleet, simDeviceId, type SimDeviceInfo } from './fleet-plan';
import { bearingDeg, LocalFrame, offset, type LocalPoint } from './geo';
import { Prng } from './prng';
import { Route } from './route';
import { RouteMotion, type MotionProfile } from './route-motion';
import type { ResolvedScenarios } from './scenarios';
import { SoldierModel } from './soldier-model';
import { UavModel } from './uav-model';
import { UgsModel } from './ugs-model';
import { UGS_LINE_SITES, UgsCrossings } from './ugs-line';
import { VehicleModel, type OverheatEvent } from './vehicle-model';

/** A reading with its device and time, as `Fleet#readings` returns them. */
export interface SimReading {
  readonly deviceId: string;
  readonly atMs: number;
  readonly reading: ReadingInput;
}

export interface CreateFleetOptions {
  /** Simulated time of the start, ms since the Unix epoch. Injected: the model never reads a clock. */
  readonly startMs: number;
}

/** Vehicles per convoy and soldiers per patrol: large fleets are split into several groups. */
const CONVOY_SIZE = 10;
const PATROL_SIZE = 8;
const CONVOY_SPACING_M = 50;
const PATROL_SPACING_M = 8;
const CONVOY_PROFILE: MotionProfile = { cruiseMps: [8, 16], legMs: [20_000, 60_000], haltChance: 0.12, haltMs: [20_000, 90_000] };
const PATROL_PROFILE: MotionProfile = { cruiseMps: [1.1, 1.6], legMs: [30_000, 120_000], haltChance: 0.2, haltMs: [30_000, 120_000] };
/** The nominal patrol speed the geofence objective is placed by (mid of PATROL_PROFILE). */
const PATROL_NOMINAL_MPS = 1.35;

/**
 * A deterministic simulated fleet: vehicles in convoys, dismounted patrols, unattended
 * ground sensors and loitering UAVs around a centre, with the scenario events of
 * `FleetConfig.scenarios`. Built from a seed and a start time, it produces the same readings
 * whatever the host, the clock or the way `advance` is called: every device steps on its own
 * fixed schedule (`1000 / rateHz` ms, with a per-device phase), and `advance(t)` runs every
 * step due up to `t`, so one call to an hour later or 3 600 calls a second apart give the
 * same per-device sequence.
 *
 * @example
 * const fleet = createFleet({ seed: 7, vehicles: 2, soldiers: 4, ugs: 2, uavs: 1 }, { startMs: Date.UTC(2026, 0, 1) });
 * fleet.advance(fleet.startMs + 60_000, (deviceId, reading, atMs) => console.log(deviceId, atMs, reading.kind));
 */
export class Fleet {
  readonly config: FleetConfig;
  readonly startMs: number;
  readonly devices: readonly SimDeviceInfo[];
  readonly scenarios: ResolvedScenarios;
  /** Model step period, ms. */
  readonly periodMs: number;
  private readonly models: readonly DeviceModel[];
  private readonly phaseMs: Float64Array;
  private readonly stepCount: Float64Array;
  private readonly silentIndex: number;
  private advancedTo: number;

  /** @internal use `createFleet` */
  constructor(config: FleetConfig, startMs: number, devices: readonly SimDeviceInfo[], models: readonly DeviceModel[], scenarios: ResolvedScenarios) {
    this.config = config;
    this.startMs = startMs;
    this.devices = devices;
    this.models = models;
    this.scenarios = scenarios;
    this.periodMs = 1000 / config.rateHz;
    this.phaseMs = new Float64Array(models.length);
    this.stepCount = new Float64Array(models.length);
    models.forEach((m, i) => {
      // Spread the devices' steps over the period so that a tick is not one burst.
      this.phaseMs[i] = Math.floor(Prng.derive(config.seed, `phase:${m.deviceId}`).range(0, this.periodMs));
    });
    this.silentIndex = scenarios.silence === undefined ? -1 : models.findIndex((m) => m.deviceId === scenarios.silence?.deviceId);
    this.advancedTo = startMs;
  }

  /** Simulated time the fleet has been advanced to. */
  get timeMs(): number {
    return this.advancedTo;
  }

  /**
   * Runs every device step due at or before `untilMs` and hands each reading to `sink`,
   * device by device (each device's readings in time order). Returns the number of readings.
   */
  advance(untilMs: number, sink: ReadingSink): number {
    let emitted = 0;
    const counting: ReadingSink = (deviceId, reading, atMs) => {
      emitted++;
      sink(deviceId, reading, atMs);
    };
    const silence = this.scenarios.silence;
    for (let i = 0; i < this.models.length; i++) {
      const model = this.models[i] as DeviceModel;
      const phase = this.phaseMs[i] as number;
      for (;;) {
        const k = this.stepCount[i] as number;
        // Computed from the step count rather than accumulated, so no drift over long runs.
        const t = this.startMs + phase + Math.round(k * this.periodMs);
        if (t > untilMs) break;
        this.stepCount[i] = k + 1;
        // A silent device still lives (its battery drains, its patrol walks on); it just says nothing.
        model.step(t, i === this.silentIndex && inWindow(silence, t) ? discard : counting);
      }
    }
    if (untilMs > this.advancedTo) this.advancedTo = untilMs;
    return emitted;
  }

  /** `advance` collecting the readings into an array (tests, small tools). */
  readings(untilMs: number): SimReading[] {
    const out: SimReading[] = [];
    this.advance(untilMs, (deviceId, reading, atMs) => out.push({ deviceId, reading, atMs }));
    return out;
  }
}

const discard: ReadingSink = () => undefined;

/**
 * Builds a fleet from a configuration (validated; defaults filled in).
 *
 * @throws VigilError `VIGIL_E_CONFIG_INVALID` for a bad configuration.
 */
export function createFleet(input: FleetConfigInput | FleetConfig, options: CreateFleetOptions): Fleet {
  const config = resolveFleetConfig(input);
  const { startMs } = options;
  if (!Number.isFinite(startMs)) throw new RangeError('startMs must be a finite number of ms');
  const { seed, scenarios: sc } = config;
  const frame = new LocalFrame(config.centre);
  const devices = planFleet(config);
  const models: DeviceModel[] = [];
  const scenarios: { -readonly [K in keyof ResolvedScenarios]: ResolvedScenarios[K] } = {};
  const prngFor = (id: string): Prng => Prng.derive(seed, `device:${id}`);

  // Vehicles: convoys on loops 2-4 km around the centre.
  const overheatId = sc.overheat.enabled && config.vehicles > 0 ? simDeviceId('vehicle', 0, config.vehicles) : undefined;
  const dropoutId = sc.gpsDropout.enabled && config.vehicles > 0 ? simDeviceId('vehicle', Math.min(1, config.vehicles - 1), config.vehicles) : undefined;
  let overheat: OverheatEvent | undefined;
  if (overheatId !== undefined) {
    const o = sc.overheat;
    overheat = { fromMs: startMs + o.atMs, rampMs: o.rampMs, holdMs: o.holdMs, peakC: o.peakC };
    scenarios.overheat = { deviceId: overheatId, fromMs: overheat.fromMs, untilMs: overheat.fromMs + o.rampMs + o.holdMs, peakAtMs: overheat.fromMs + o.rampMs, thresholdC: o.thresholdC, peakC: o.peakC };
  }
  if (dropoutId !== undefined) scenarios.gpsDropout = { deviceId: dropoutId, fromMs: startMs + sc.gpsDropout.atMs, untilMs: startMs + sc.gpsDropout.atMs + sc.gpsDropout.durationMs };
  const convoys: RouteMotion[] = [];
  for (let i = 0; i < config.vehicles; i++) {
    const c = Math.floor(i / CONVOY_SIZE);
    if (convoys[c] === undefined) {
      const rp = Prng.derive(seed, `convoy:${c}`);
      convoys[c] = new RouteMotion(loopRoute(rp, { x: 0, y: 0 }, rp.range(2_000, 4_000), 8), rp, CONVOY_PROFILE, startMs);
    }
    const deviceId = simDeviceId('vehicle', i, config.vehicles);
    models.push(
      new VehicleModel({
        deviceId, frame, prng: prngFor(deviceId), motion: convoys[c] as RouteMotion, behindM: (i % CONVOY_SIZE) * CONVOY_SPACING_M, startMs,
        ...(deviceId === overheatId && overheat ? { overheat } : {}),
        ...(deviceId === dropoutId && scenarios.gpsDropout ? { gpsDropout: scenarios.gpsDropout } : {}),
      }),
    );
  }

  // Soldiers: patrols of up to PATROL_SIZE walking loops 1.5-3.5 km out; patrol 0 heads for the objective.
  const patrolCount = Math.ceil(config.soldiers / PATROL_SIZE);
  const patrols: RouteMotion[] = [];
  for (let p = 0; p < patrolCount; p++) {
    const rp = Prng.derive(seed, `patrol:${p}`);
    const start = offset({ x: 0, y: 0 }, rp.range(0, 360), rp.range(1_500, 3_500));
    if (p === 0 && sc.geofence.enabled) {
      const g = sc.geofence;
      // The objective lies straight ahead of the start, at the distance the patrol covers in
      // enterAfterMs at nominal speed, plus the half-width of the square to reach its border.
      const toward = bearingDeg(-start.x, -start.y) + rp.range(-60, 60);
      const objective = offset(start, toward, g.halfSizeM + (PATROL_NOMINAL_MPS * g.enterAfterMs) / 1000);
      const loop = loopRoute(rp, objective, rp.range(500, 900), 4);
      const route = new Route([start, objective, ...loop.waypoints.slice(1)]);
      // No halt before the patrol is well inside, so the entry time stays near its nominal value.
      patrols.push(new RouteMotion(route, rp, { ...PATROL_PROFILE, noHaltBeforeMs: g.enterAfterMs * 1.5 }, startMs));
      const h = g.halfSizeM;
      const corners = [{ x: -h, y: -h }, { x: h, y: -h }, { x: h, y: h }, { x: -h, y: h }, { x: -h, y: -h }].map((c) => frame.toLatLon({ x: objective.x + c.x, y: objective.y + c.y }));
      scenarios.geofence = {
        name: g.name,
        polygon: corners.map((c) => [c.lon, c.lat] as const),
        deviceIds: Array.from({ length: Math.min(PATROL_SIZE, config.soldiers) }, (_, i) => simDeviceId('soldier', i, config.soldiers)),
        expectedEnterMs: startMs + g.enterAfterMs,
      };
    } else {
      patrols.push(new RouteMotion(loopRoute(rp, start, rp.range(500, 1_200), 5), rp, PATROL_PROFILE, startMs));
    }
  }
  const spikeId = sc.vitalsSpike.enabled && config.soldiers > 0 ? simDeviceId('soldier', 0, config.soldiers) : undefined;
  if (spikeId !== undefined) scenarios.vitalsSpike = { deviceId: spikeId, fromMs: startMs + sc.vitalsSpike.atMs, untilMs: startMs + sc.vitalsSpike.atMs + sc.vitalsSpike.durationMs };
  for (let i = 0; i < config.soldiers; i++) {
    const deviceId = simDeviceId('soldier', i, config.soldiers);
    const place = i % PATROL_SIZE;
    models.push(
      new SoldierModel({
        deviceId, frame, prng: prngFor(deviceId), motion: patrols[Math.floor(i / PATROL_SIZE)] as RouteMotion,
        behindM: place * PATROL_SPACING_M, lateralM: place === 0 ? 0 : place % 2 === 1 ? 2.5 : -2.5, startMs,
        ...(deviceId === spikeId && scenarios.vitalsSpike ? { vitalsSpike: scenarios.vitalsSpike } : {}),
      }),
    );
  }

  // UGS: the first ones on a sensor line that targets cross in turn (UGS_LINE_SITES), further
  // ones emplaced 0.5-4 km out; UAVs orbit points within 2.5 km, linked to a ground station at the centre.
  const lineSites = UGS_LINE_SITES.slice(0, config.ugs);
  const crossings = lineSites.length >= 2 ? new UgsCrossings(Prng.derive(seed, 'ugs-line'), lineSites, startMs) : undefined;
  for (let i = 0; i < config.ugs; i++) {
    const deviceId = simDeviceId('ugs', i, config.ugs);
    const prng = prngFor(deviceId);
    const onLine = crossings !== undefined && i < lineSites.length;
    const site = onLine ? (lineSites[i] as LocalPoint) : offset({ x: 0, y: 0 }, prng.range(0, 360), prng.range(500, 4_000));
    // On the line, background passages (mostly animals) are rarer: the crossings are the signal.
    models.push(new UgsModel({ deviceId, frame, prng, site, startMs, ...(onLine ? { line: { crossings: crossings as UgsCrossings, index: i }, meanPassageGapMs: 300_000 } : {}) }));
  }
  for (let i = 0; i < config.uavs; i++) {
    const deviceId = simDeviceId('uav', i, config.uavs);
    const prng = prngFor(deviceId);
    models.push(new UavModel({ deviceId, frame, prng, orbitCentre: offset({ x: 0, y: 0 }, prng.range(0, 360), prng.range(0, 2_500)), groundStation: { x: 0, y: 0 }, startMs }));
  }

  if (sc.silence.enabled && models.length > 0) {
    // Sensors are what goes quiet in the field; fall back along the list when there are none.
    const target = ['ugs', 'uav', 'soldier', 'vehicle'].map((a) => devices.find((d) => d.archetype === a)).find((d) => d !== undefined) as SimDeviceInfo;
    scenarios.silence = { deviceId: target.deviceId, fromMs: startMs + sc.silence.atMs, untilMs: startMs + sc.silence.atMs + sc.silence.durationMs };
  }
  // Models were built archetype by archetype, in the order planFleet lists the devices.
  return new Fleet(config, startMs, devices, models, Object.freeze(scenarios));
}

/** A loop of `n` waypoints at roughly `radius` around `centre`, irregular like real roads and tracks. */
function loopRoute(prng: Prng, centre: LocalPoint, radius: number, n: number): Route {
  const turn = prng.range(0, 360);
  const points: LocalPoint[] = [];
  for (let k = 0; k < n; k++) points.push(offset(centre, turn + (360 * k) / n + prng.range(-12, 12), radius * prng.range(0.7, 1.3)));
  return new Route(points);
}
