import type { DeviceModel, ReadingSink } from './device-model';
import { bearingDeg, normaliseDeg, type LocalFrame, type LocalPoint } from './geo';
import { clamp, round } from './numeric';
import type { Prng } from './prng';
import { terrainAltM } from './terrain';

export interface UavModelOptions {
  readonly deviceId: string;
  readonly frame: LocalFrame;
  readonly prng: Prng;
  /** Centre of the orbit (the point under observation). */
  readonly orbitCentre: LocalPoint;
  /** Ground control station, where the data link terminates (the fleet's centre). */
  readonly groundStation: LocalPoint;
  readonly startMs: number;
  /** Power reading cadence, ms (default 10 s). */
  readonly powerEveryMs?: number;
}

/** Battery percent per ms in flight (~1.2 %/min: an hour's endurance). */
const DRAIN_PCT_PER_MS = 1.2 / 60_000;

/**
 * A small fixed-wing UAV in a loiter orbit around a point of interest: constant airspeed on
 * a circle, ground speed varying with the wind, altitude holding with small excursions. Its
 * battery drains in flight and is "relieved" (a fresh aircraft takes over the orbit) at 25 %.
 * It also reports its data-link health as metrics, degrading with range to the ground station.
 */
export class UavModel implements DeviceModel {
  readonly archetype = 'uav' as const;
  readonly deviceId: string;
  private lastMs: number;
  private readonly radiusM: number;
  private readonly airspeedMps: number;
  private readonly direction: 1 | -1;
  private readonly orbitAltM: number;
  private readonly windFromDeg: number;
  private readonly windMps: number;
  private angle: number;
  private batteryPct: number;
  private nextPowerMs: number;

  constructor(private readonly o: UavModelOptions) {
    this.deviceId = o.deviceId;
    this.lastMs = o.startMs;
    this.radiusM = o.prng.range(700, 1500);
    this.airspeedMps = o.prng.range(22, 30);
    this.direction = o.prng.chance(0.5) ? 1 : -1;
    this.orbitAltM = terrainAltM(o.orbitCentre.x, o.orbitCentre.y) + o.prng.range(900, 1800);
    this.windFromDeg = o.prng.range(0, 360);
    this.windMps = o.prng.range(2, 9);
    this.angle = o.prng.range(0, 2 * Math.PI);
    this.batteryPct = o.prng.range(80, 100);
    this.nextPowerMs = o.startMs;
  }

  step(t: number, emit: ReadingSink): void {
    const { prng } = this.o;
    const dt = t - this.lastMs;
    this.lastMs = t;
    this.angle += (this.direction * this.airspeedMps * dt) / 1000 / this.radiusM;
    this.batteryPct -= dt * DRAIN_PCT_PER_MS;
    if (this.batteryPct < 25) this.batteryPct = 100;

    const c = this.o.orbitCentre;
    const x = c.x + this.radiusM * Math.sin(this.angle);
    const y = c.y + this.radiusM * Math.cos(this.angle);
    // Tangent of the circle in the direction of flight.
    const heading = bearingDeg(this.direction * Math.cos(this.angle), -this.direction * Math.sin(this.angle));
    // Wind "from" a bearing pushes towards the opposite one: a headwind slows the ground speed.
    const windAlong = -this.windMps * Math.cos(((heading - this.windFromDeg) * Math.PI) / 180);
    const ll = this.o.frame.toLatLon({ x: x + prng.normal(0, 1), y: y + prng.normal(0, 1) });
    emit(this.deviceId, {
      kind: 'position',
      lat: round(ll.lat, 7),
      lon: round(ll.lon, 7),
      altM: round(this.orbitAltM + 15 * Math.sin(2 * this.angle) + prng.normal(0, 2), 1),
      speedMps: round(Math.max(0, this.airspeedMps + windAlong + prng.normal(0, 0.3)), 2),
      headingDeg: round(normaliseDeg(heading + prng.normal(0, 1)), 1) % 360,
      accuracyM: round(prng.range(1.5, 3), 1),
    }, t);

    const g = this.o.groundStation;
    const rangeKm = Math.max(0.05, Math.hypot(x - g.x, y - g.y, this.orbitAltM - terrainAltM(g.x, g.y)) / 1000);
    // Free-space loss grows 20 dB per decade of range.
    const rssi = -38 - 20 * Math.log10(rangeKm) + prng.normal(0, 2);
    emit(this.deviceId, { kind: 'metric', name: 'radio.rssi_dbm', value: round(rssi, 1), unit: 'dB[mW]' }, t);
    emit(this.deviceId, { kind: 'metric', name: 'link.quality_pct', value: round(clamp((rssi + 100) * 1.6 + prng.normal(0, 1), 0, 100), 1), unit: '%' }, t);

    if (t >= this.nextPowerMs) {
      this.nextPowerMs = t + (this.o.powerEveryMs ?? 10_000);
      // 6S LiPo: 19.8 V empty, 25.2 V full.
      emit(this.deviceId, { kind: 'power', batteryPct: round(this.batteryPct, 1), voltageV: round(19.8 + (5.4 * this.batteryPct) / 100, 2) }, t);
    }
  }
}
