import type { UgsDetectionType } from '../codec';
import type { LocalPoint } from './geo';
import type { Prng } from './prng';

/**
 * Where the first UGS of a fleet are emplaced, metres east/north of the fleet's centre, in
 * the order a target moving east passes them: a line 200 m apart from inside the minefield
 * north of the ford (the demo's no-go zone) eastwards. `pipelines/reference/ugs.json`
 * holds the same sites for the default centre, and its route lists the sensors in this order.
 */
export const UGS_LINE_SITES: readonly LocalPoint[] = Object.freeze([
  { x: -1_000, y: 1_000 },
  { x: -800, y: 1_000 },
  { x: -600, y: 1_000 },
  { x: -400, y: 1_000 },
]);

/** A detection a crossing causes at one sensor. */
export interface CrossingDetection {
  readonly atMs: number;
  readonly type: UgsDetectionType;
  /** Direction of travel, degrees true: the target's bearing from the sensor sweeps around it. */
  readonly headingDeg: number;
}

/**
 * Targets crossing the sensor line (a Poisson process, one every `meanGapMs` on average):
 * a party of 1–4 people at 1.2–2 m/s or a vehicle at 4–9 m/s, east or west along the whole
 * line. Each sensor fires as the target passes it — a person party about one detection per
 * member plus one, a vehicle two or three, some misclassified as `unknown` — so
 * consecutive sensors fire in order, which is
 * what the `ugs` pipeline's tracks look for, and a large party in the minefield raises its
 * intrusion alarm. Deterministic for a seed: crossings are drawn in start order, on demand.
 */
export class UgsCrossings {
  private readonly queues: CrossingDetection[][];
  private nextStartMs: number;

  constructor(
    private readonly prng: Prng,
    private readonly sites: readonly LocalPoint[],
    startMs: number,
    private readonly meanGapMs = 300_000,
  ) {
    this.queues = sites.map(() => []);
    this.nextStartMs = startMs + prng.exponential(meanGapMs);
  }

  /** The detections at sensor `index` due at or before `timeMs`, oldest first (each returned once). */
  due(index: number, timeMs: number): CrossingDetection[] {
    while (this.nextStartMs <= timeMs) this.cross(this.nextStartMs);
    const q = this.queues[index];
    if (q === undefined || q.length === 0 || (q[0] as CrossingDetection).atMs > timeMs) return [];
    let n = 0;
    while (n < q.length && (q[n] as CrossingDetection).atMs <= timeMs) n++;
    return q.splice(0, n);
  }

  private cross(startMs: number): void {
    const p = this.prng;
    const vehicle = p.chance(0.35);
    const party = vehicle ? 1 : p.int(1, 4);
    const speed = vehicle ? p.range(4, 9) : p.range(1.2, 2);
    const east = p.chance(0.5);
    const order = this.sites.map((_, i) => i);
    if (!east) order.reverse();
    let along = 0;
    order.forEach((i, k) => {
      if (k > 0) {
        const a = this.sites[order[k - 1] as number] as LocalPoint;
        const b = this.sites[i] as LocalPoint;
        along += Math.hypot(b.x - a.x, b.y - a.y);
      }
      const passMs = startMs + (along / speed) * 1000;
      const detections = vehicle ? p.int(2, 3) : party + 1;
      const q = this.queues[i] as CrossingDetection[];
      // The classifier misses now and then, most often on the first, faint contact of a pass.
      for (let d = 0; d < detections; d++) q.push({ atMs: Math.round(passMs + d * p.range(2_000, 5_000)), type: p.chance(d === 0 ? 0.25 : 0.05) ? 'unknown' : vehicle ? 'vehicle' : 'person', headingDeg: east ? 90 : 270 });
      q.sort((x, y) => x.atMs - y.atMs);
    });
    this.nextStartMs = startMs + p.exponential(this.meanGapMs);
  }
}
