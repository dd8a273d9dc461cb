import type { Posture } from '../codec';
import { inWindow, type DeviceModel, type ReadingSink, type TimeWindow } from './device-model';
import { normaliseDeg, offset, type LocalFrame } from './geo';
import { approach, clamp, round } from './numeric';
import type { Prng } from './prng';
import type { RouteMotion } from './route-motion';
import { terrainAltM } from './terrain';

export interface SoldierModelOptions {
  readonly deviceId: string;
  readonly frame: LocalFrame;
  readonly prng: Prng;
  /** The patrol's movement, shared by its members. */
  readonly motion: RouteMotion;
  /** Place in the file: metres behind the patrol's lead. */
  readonly behindM: number;
  /** Metres to the right (negative: left) of the route: a staggered file. */
  readonly lateralM: number;
  readonly startMs: number;
  /** Power reading cadence, ms (default 30 s). */
  readonly powerEveryMs?: number;
  /** Scenario: a strong vitals anomaly (tachycardia with desaturation) inside this window. */
  readonly vitalsSpike?: TimeWindow;
}

const HALT_POSTURES: readonly Posture[] = ['kneeling', 'prone', 'sitting'];
const HALT_POSTURE_WEIGHTS = [0.5, 0.3, 0.2];
/** Mean time between spontaneous exertion episodes (a sprint, a climb), ms. */
const EXERTION_MEAN_GAP_MS = 8 * 60_000;

/**
 * A dismounted soldier on patrol: walks in a staggered file behind the patrol's lead with a
 * metre or two of wander, kneels or goes prone at halts, and wears physiological sensors
 * whose heart rate follows exertion (walking, occasional exertion episodes) with a lag.
 */
export class SoldierModel implements DeviceModel {
  readonly archetype = 'soldier' as const;
  readonly deviceId: string;
  private lastMs: number;
  private readonly restingBpm: number;
  private heartRate: number;
  private skinC: number;
  private batteryPct: number;
  private wanderX = 0;
  private wanderY = 0;
  private posture: Posture = 'standing';
  private nextExertionMs: number;
  private exertionUntilMs = 0;
  private exertionBpm = 0;
  private nextPowerMs: number;
  private readonly accuracyM: number;

  constructor(private readonly o: SoldierModelOptions) {
    this.deviceId = o.deviceId;
    this.lastMs = o.startMs;
    this.restingBpm = o.prng.range(58, 76);
    this.heartRate = this.restingBpm + 10;
    this.skinC = o.prng.range(33, 34.5);
    this.batteryPct = o.prng.range(70, 100);
    this.nextExertionMs = o.startMs + o.prng.exponential(EXERTION_MEAN_GAP_MS);
    this.nextPowerMs = o.startMs;
    this.accuracyM = o.prng.range(3.5, 7);
  }

  step(t: number, emit: ReadingSink): void {
    const { prng } = this.o;
    const dt = t - this.lastMs;
    this.lastMs = t;
    // Soldier-worn kit: ~3 %/h from a 3S Li-ion pack (9.6 V empty, 12.6 V full); a flat
    // pack is swapped for a spare.
    this.batteryPct -= (dt * 3) / 3_600_000;
    if (this.batteryPct < 5) this.batteryPct = 100;
    const m = this.o.motion.at(t, this.o.behindM);
    const moving = m.speedMps > 0;
    if (!moving && this.posture === 'standing') this.posture = prng.weighted(HALT_POSTURES, HALT_POSTURE_WEIGHTS);
    if (moving) this.posture = 'standing';

    if (t >= this.nextExertionMs) {
      this.exertionUntilMs = t + prng.range(20_000, 60_000);
      this.exertionBpm = prng.range(25, 45);
      this.nextExertionMs = t + prng.exponential(EXERTION_MEAN_GAP_MS);
    }
    const exertion = t < this.exertionUntilMs ? this.exertionBpm : 0;
    const spike = inWindow(this.o.vitalsSpike, t);
    const target = spike ? 172 : this.restingBpm + (moving ? 18 + 14 * (m.speedMps - 1.2) : 4) + exertion;
    // The scenario spike is abrupt on purpose (an anomaly detector's test case); ordinary
    // exertion follows the body's ~15 s lag.
    this.heartRate = spike ? target : approach(this.heartRate, target, dt, 15_000);
    this.skinC = approach(this.skinC, 33.6 + (moving ? 0.5 : 0) + exertion / 60, dt, 120_000);

    // Wander: a bounded random walk around the soldier's place in the file.
    this.wanderX = clamp(this.wanderX * 0.9 + prng.normal(0, 0.6), -3, 3);
    this.wanderY = clamp(this.wanderY * 0.9 + prng.normal(0, 0.6), -3, 3);
    const p = offset({ x: m.x + this.wanderX, y: m.y + this.wanderY }, m.headingDeg + 90, this.o.lateralM);
    const ll = this.o.frame.toLatLon({ x: p.x + prng.normal(0, this.accuracyM / 2), y: p.y + prng.normal(0, this.accuracyM / 2) });
    const speed = moving ? Math.max(0, m.speedMps + prng.normal(0, 0.15)) : 0;
    emit(this.deviceId, {
      kind: 'position',
      lat: round(ll.lat, 7),
      lon: round(ll.lon, 7),
      altM: round(terrainAltM(p.x, p.y) + 1.2 + prng.normal(0, this.accuracyM), 1),
      speedMps: round(speed, 2),
      headingDeg: speed < 0.3 ? null : round(normaliseDeg(m.headingDeg + prng.normal(0, 8)), 1) % 360,
      accuracyM: round(this.accuracyM + Math.abs(prng.normal(0, 0.5)), 1),
    }, t);

    const spo2 = spike ? prng.range(85, 89) : 98 - (exertion > 0 ? 1.5 : 0) + prng.normal(0, 0.5);
    emit(this.deviceId, {
      kind: 'vitals',
      heartRateBpm: Math.round(clamp(this.heartRate + prng.normal(0, 1.5), 30, 230)),
      spo2Pct: Math.round(clamp(spo2, 70, 100)),
      skinTempC: round(clamp(this.skinC + prng.normal(0, 0.1), -10, 60), 1),
      posture: this.posture,
    }, t);

    if (t >= this.nextPowerMs) {
      this.nextPowerMs = t + (this.o.powerEveryMs ?? 30_000);
      emit(this.deviceId, { kind: 'power', batteryPct: round(this.batteryPct, 1), voltageV: round(9.6 + (3 * this.batteryPct) / 100, 2) }, t);
    }
  }
}
