import { inWindow, type DeviceModel, type ReadingSink, type TimeWindow } from './device-model';
import { normaliseDeg, type LocalFrame } from './geo';
import { approach, clamp, round } from './numeric';
import type { Prng } from './prng';
import type { RouteMotion } from './route-motion';
import { terrainAltM } from './terrain';

/** Engine overheat: the temperature climbs to `peakC` over `rampMs`, holds, then cools over `rampMs`. */
export interface OverheatEvent {
  readonly fromMs: number;
  readonly rampMs: number;
  readonly holdMs: number;
  readonly peakC: number;
}

export interface VehicleModelOptions {
  readonly deviceId: string;
  readonly frame: LocalFrame;
  readonly prng: Prng;
  /** The convoy's movement, shared by its vehicles. */
  readonly motion: RouteMotion;
  /** Place in the column: metres behind the lead vehicle. */
  readonly behindM: number;
  readonly startMs: number;
  /** Power reading cadence, ms (default 10 s). */
  readonly powerEveryMs?: number;
  readonly overheat?: OverheatEvent;
  /** No position fix inside this window. */
  readonly gpsDropout?: TimeWindow;
}

const NORMAL_ENGINE_C = 88;
const WARM_UP_TAU_MS = 180_000;
/** Fuel burnt per metre driven, percent of the tank (~0.15 %/km: a 300 l tank at 45 l/100 km). */
const FUEL_PCT_PER_M = 0.00015;
/** Fuel burnt idling, percent per ms (~0.6 %/h). */
const FUEL_PCT_PER_MS_IDLE = 0.6 / 3_600_000;
/** GPS accuracy right after a fix is regained, metres; it then converges back to nominal. */
const REACQUIRE_ACCURACY_M = 35;

/**
 * A tactical vehicle in a convoy: position from its place in the column, and vehicle-bus
 * data consistent with that motion (speed, rpm from speed, coolant warming up under load,
 * fuel burnt by distance and idling), plus a 24 V electrical system.
 */
export class VehicleModel implements DeviceModel {
  readonly archetype = 'vehicle' as const;
  readonly deviceId: string;
  private lastMs: number;
  private engineC: number;
  private fuelPct: number;
  private batteryPct: number;
  private lastDistance: number | undefined;
  private nextPowerMs: number;
  private readonly accuracyM: number;
  private lastFixMs: number;

  constructor(private readonly o: VehicleModelOptions) {
    this.deviceId = o.deviceId;
    this.lastMs = o.startMs;
    this.engineC = o.prng.range(12, 22); // a cold engine at the start of the simulation
    this.fuelPct = o.prng.range(55, 100);
    this.batteryPct = o.prng.range(88, 100);
    this.nextPowerMs = o.startMs;
    this.accuracyM = o.prng.range(2, 4);
    this.lastFixMs = o.startMs;
  }

  step(t: number, emit: ReadingSink): void {
    const { prng, motion } = this.o;
    const dt = t - this.lastMs;
    this.lastMs = t;
    const m = motion.at(t, this.o.behindM);
    const distance = motion.distanceAt(t);
    const moved = this.lastDistance === undefined ? 0 : Math.max(0, distance - this.lastDistance);
    this.lastDistance = distance;

    const load = m.speedMps / 18;
    this.engineC = approach(this.engineC, NORMAL_ENGINE_C + 6 * load, dt, WARM_UP_TAU_MS);
    this.fuelPct -= moved * FUEL_PCT_PER_M + dt * FUEL_PCT_PER_MS_IDLE;
    // A convoy refuels at a halt rather than running dry.
    if (this.fuelPct < 8 && m.speedMps === 0) this.fuelPct = 100;
    this.fuelPct = Math.max(0, this.fuelPct);

    const speed = m.speedMps === 0 ? 0 : Math.max(0, m.speedMps + prng.normal(0, 0.15));
    if (!inWindow(this.o.gpsDropout, t)) {
      const sinceFix = t - this.lastFixMs;
      // After a dropout the receiver needs a while to converge: accuracy starts poor.
      const accuracy = this.accuracyM + (sinceFix > 5_000 ? REACQUIRE_ACCURACY_M : 0);
      this.lastFixMs = t;
      const ll = this.o.frame.toLatLon({ x: m.x + prng.normal(0, accuracy / 2), y: m.y + prng.normal(0, accuracy / 2) });
      emit(this.deviceId, {
        kind: 'position',
        lat: round(ll.lat, 7),
        lon: round(ll.lon, 7),
        altM: round(terrainAltM(m.x, m.y) + 2 + prng.normal(0, accuracy), 1),
        speedMps: round(speed, 2),
        // Course over ground is undefined when standing still.
        headingDeg: speed < 0.3 ? null : round(normaliseDeg(m.headingDeg + prng.normal(0, 1.5)), 1) % 360,
        accuracyM: round(accuracy, 1),
      }, t);
    }

    const rpm = speed === 0 ? 750 + prng.normal(0, 15) : 900 + speed * 105 + prng.normal(0, 40);
    emit(this.deviceId, {
      kind: 'vehicle',
      engineTempC: round(clamp(this.engineC + this.overheatC(t) + prng.normal(0, 0.3), -60, 200), 1),
      rpm: Math.round(clamp(rpm, 0, 6_000)),
      fuelPct: round(clamp(this.fuelPct, 0, 100), 1),
      speedMps: round(speed, 2),
    }, t);

    if (t >= this.nextPowerMs) {
      this.nextPowerMs = t + (this.o.powerEveryMs ?? 10_000);
      this.batteryPct = clamp(this.batteryPct + prng.normal(0, 0.05), 85, 100);
      emit(this.deviceId, { kind: 'power', batteryPct: round(this.batteryPct, 1), voltageV: round(27.6 + prng.normal(0, 0.15), 2) }, t);
    }
  }

  /** Degrees the overheat scenario adds to the healthy coolant temperature at `t`. */
  private overheatC(t: number): number {
    const e = this.o.overheat;
    if (e === undefined || t < e.fromMs) return 0;
    const rise = e.peakC - this.engineC;
    const x = t - e.fromMs;
    if (x < e.rampMs) return (rise * x) / e.rampMs;
    if (x < e.rampMs + e.holdMs) return rise;
    const cooling = x - e.rampMs - e.holdMs;
    return cooling < e.rampMs ? rise * (1 - cooling / e.rampMs) : 0;
  }
}
