import type { UgsDetectionType } from '../codec';
import type { DeviceModel, ReadingSink } from './device-model';
import type { LocalFrame, LocalPoint } from './geo';
import { clamp, round } from './numeric';
import type { Prng } from './prng';
import { terrainAltM } from './terrain';
import type { UgsCrossings } from './ugs-line';

export interface UgsModelOptions {
  readonly deviceId: string;
  readonly frame: LocalFrame;
  readonly prng: Prng;
  /** Where the sensor was emplaced. */
  readonly site: LocalPoint;
  readonly startMs: number;
  /** Mean time between target passages, ms (default 60 s). */
  readonly meanPassageGapMs?: number;
  /** Position report cadence, ms (default 10 min: the sensor does not move). */
  readonly positionEveryMs?: number;
  /** Power (heartbeat) cadence, ms (default 30 s). */
  readonly powerEveryMs?: number;
  /** The sensor line this sensor watches, and its place on it: targets crossing the line are detected here in turn. */
  readonly line?: { readonly crossings: UgsCrossings; readonly index: number };
}

const TYPES: readonly UgsDetectionType[] = ['person', 'vehicle', 'animal', 'unknown'];
const TYPE_WEIGHTS = [0.35, 0.2, 0.35, 0.1];
/** Classifier confidence range by true target type: vehicles are easy (seismic + acoustic), unknowns are not. */
const CONFIDENCE: Readonly<Record<UgsDetectionType, readonly [number, number]>> = {
  person: [0.55, 0.95],
  vehicle: [0.7, 0.99],
  animal: [0.4, 0.85],
  unknown: [0.15, 0.5],
};

interface Passage {
  readonly type: UgsDetectionType;
  readonly bearingStepDeg: number;
  bearingDeg: number;
  remaining: number;
  nextMs: number;
}

/**
 * An unattended ground sensor: static, reports its surveyed position rarely, sends a power
 * heartbeat (battery draining slowly), and detects targets passing by at random times
 * (a Poisson process). A passage yields a few detections seconds apart whose bearing sweeps
 * as the target crosses the sensor's field, as a real track would.
 */
export class UgsModel implements DeviceModel {
  readonly archetype = 'ugs' as const;
  readonly deviceId: string;
  private lastMs: number;
  private batteryPct: number;
  private nextPositionMs: number;
  private nextPowerMs: number;
  private nextPassageMs: number;
  private passage: Passage | undefined;

  constructor(private readonly o: UgsModelOptions) {
    this.deviceId = o.deviceId;
    this.lastMs = o.startMs;
    this.batteryPct = o.prng.range(60, 100);
    this.nextPositionMs = o.startMs;
    this.nextPowerMs = o.startMs;
    this.nextPassageMs = o.startMs + o.prng.exponential(this.meanGap);
  }

  private get meanGap(): number {
    return this.o.meanPassageGapMs ?? 60_000;
  }

  step(t: number, emit: ReadingSink): void {
    const { prng } = this.o;
    const dt = t - this.lastMs;
    this.lastMs = t;
    // ~0.2 %/h idle drain of a lithium primary pack: weeks on station.
    this.batteryPct = Math.max(0, this.batteryPct - (dt * 0.2) / 3_600_000);

    if (t >= this.nextPositionMs) {
      this.nextPositionMs = t + (this.o.positionEveryMs ?? 600_000);
      const ll = this.o.frame.toLatLon(this.o.site);
      emit(this.deviceId, {
        kind: 'position',
        lat: round(ll.lat, 7),
        lon: round(ll.lon, 7),
        altM: round(terrainAltM(this.o.site.x, this.o.site.y) + 0.3, 1),
        speedMps: 0,
        headingDeg: null,
        accuracyM: 1.5,
      }, t);
    }

    if (this.passage === undefined && t >= this.nextPassageMs) {
      const type = prng.weighted(TYPES, TYPE_WEIGHTS);
      this.passage = { type, bearingDeg: prng.range(0, 360), bearingStepDeg: prng.range(-15, 15), remaining: prng.int(1, 4), nextMs: t };
    }
    const p = this.passage;
    if (p !== undefined && t >= p.nextMs) {
      const [lo, hi] = CONFIDENCE[p.type];
      emit(this.deviceId, {
        kind: 'ugs',
        detection: p.type,
        confidence: round(clamp(prng.range(lo, hi), 0, 1), 2),
        bearingDeg: round(((p.bearingDeg % 360) + 360) % 360, 0) % 360,
      }, t);
      // Each detection costs the radio a little charge.
      this.batteryPct = Math.max(0, this.batteryPct - 0.01);
      p.bearingDeg += p.bearingStepDeg;
      p.nextMs = t + prng.range(2_000, 6_000);
      if (--p.remaining === 0) {
        this.passage = undefined;
        this.nextPassageMs = t + prng.exponential(this.meanGap);
      }
    }

    const line = this.o.line;
    if (line !== undefined) {
      for (const d of line.crossings.due(line.index, t)) {
        const [lo, hi] = CONFIDENCE[d.type];
        // The target passes the sensor: its bearing swings from ahead of it to behind it.
        emit(this.deviceId, { kind: 'ugs', detection: d.type, confidence: round(clamp(prng.range(lo, hi), 0, 1), 2), bearingDeg: round((d.headingDeg + prng.range(-60, 60) + 360) % 360, 0) % 360 }, t);
        this.batteryPct = Math.max(0, this.batteryPct - 0.01);
      }
    }

    if (t >= this.nextPowerMs) {
      this.nextPowerMs = t + (this.o.powerEveryMs ?? 30_000);
      emit(this.deviceId, { kind: 'power', batteryPct: round(this.batteryPct, 2), voltageV: round(10.8 + (1.8 * this.batteryPct) / 100, 2) }, t);
    }
  }
}
