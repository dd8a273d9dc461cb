/**
 * Stateful detectors at 10,000 keys, events/s on one core:
 * - geofence: 8 polygon fences (12–24 vertices each) over a 20 × 20 km area, 20 m hysteresis
 *   band, 2-point confirmation, dwell after 60 s; every key a deterministic random walk that
 *   crosses fence borders, so enter/exit/dwell are really produced and state really churns;
 * - anomalyDetector, EWMA baseline (alpha 0.1) and rolling baseline (30 values), z > 3, on
 *   a noisy signal with rare injected spikes.
 * Records go straight into the operator as `StreamEvent`s (with a watermark every 1,000
 * events), so the figure is the detector's own cost. The keyed-window scenario at 10,000
 * keys is `stream-window.bench.ts` (same `npm run bench`), not repeated here.
 *
 * Run: `npm run bench detectors`.
 */
import { Observable } from 'rxjs';
import { anomalyDetector, geofence, type Fence, type StreamEvent } from '../src/stream';
import { writeReport, type BenchRow } from './lib/report';

const KEYS = 10_000;
const EVENTS = Number(process.env.VIGIL_BENCH_EVENTS ?? 500_000);
const PER_MS = 10; // 10,000 events per event-time second: one per key per second

let seed = 2463534242;
const rnd = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296;
};

// 0.18° × 0.28° ≈ 20 × 20 km around 51.5 N, 0 E.
const LAT0 = 51.4;
const LON0 = -0.14;
const fences: Fence[] = Array.from({ length: 8 }, (_, f) => {
  const cLat = LAT0 + 0.03 + (f % 3) * 0.06;
  const cLon = LON0 + 0.05 + Math.floor(f / 3) * 0.09;
  const n = 12 + (f % 3) * 6;
  const polygon = Array.from({ length: n }, (_, i) => {
    const a = (2 * Math.PI * i) / n;
    const r = 0.02 * (0.7 + 0.3 * rnd());
    return [cLon + r * 1.6 * Math.cos(a), cLat + r * Math.sin(a)] as const;
  });
  return { id: `zone-${f}`, polygon };
});

interface Pos {
  key: number;
  lat: number;
  lon: number;
}
interface Metric {
  key: number;
  value: number;
}

function buildPositions(): StreamEvent<Pos>[] {
  const lat = Float64Array.from({ length: KEYS }, () => LAT0 + 0.18 * rnd());
  const lon = Float64Array.from({ length: KEYS }, () => LON0 + 0.28 * rnd());
  const out: StreamEvent<Pos>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const k = i % KEYS;
    // ~15 m/s walkers, one point a second: borders are crossed every few minutes of event time.
    lat[k] = (lat[k] as number) + (rnd() - 0.5) * 0.0004;
    lon[k] = (lon[k] as number) + (rnd() - 0.5) * 0.0006;
    const time = Math.floor(i / PER_MS);
    out.push({ kind: 'record', time, value: { key: k, lat: lat[k] as number, lon: lon[k] as number } });
    if (i % 1000 === 999) out.push({ kind: 'watermark', time: time - 1000 });
  }
  return out;
}

function buildMetrics(): StreamEvent<Metric>[] {
  const out: StreamEvent<Metric>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const k = i % KEYS;
    const spike = rnd() < 0.002 ? 40 : 0;
    const time = Math.floor(i / PER_MS);
    out.push({ kind: 'record', time, value: { key: k, value: 2000 + (k % 50) * 10 + (rnd() - 0.5) * 20 + spike * 10 } });
    if (i % 1000 === 999) out.push({ kind: 'watermark', time: time - 1000 });
  }
  return out;
}

function feed<T>(events: readonly StreamEvent<T>[]): Observable<StreamEvent<T>> {
  return new Observable((sub) => {
    for (let i = 0; i < events.length && !sub.closed; i++) sub.next(events[i] as StreamEvent<T>);
    sub.complete();
  });
}

/** Best of `rounds` full runs (after one warm-up run on a fresh operator each time). */
function measure<T>(label: string, events: readonly StreamEvent<T>[], run: (src: Observable<StreamEvent<T>>) => number, rounds = 3): { eps: number; outputs: number } {
  let best = Infinity;
  let outputs = 0;
  for (let r = 0; r <= rounds; r++) {
    process.stderr.write(`\rdetectors: ${label} run ${r}/${rounds}`.padEnd(60));
    const t0 = process.hrtime.bigint();
    outputs = run(feed(events));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r > 0) best = Math.min(best, s);
  }
  return { eps: EVENTS / best, outputs };
}

const rows: BenchRow[] = [];
const positions = buildPositions();
const g = measure('geofence', positions, (src) => {
  let n = 0;
  const op = geofence({ key: (p: Pos) => p.key, position: (p: Pos) => p, fences, bufferMeters: 20, confirmPoints: 2, dwell: 60_000 });
  src.pipe(op).subscribe(() => n++);
  return n;
});
rows.push({ detector: 'geofence (8 fences, 20 m band, confirm 2, dwell)', keys: KEYS, events: EVENTS, 'events/s': Math.round(g.eps), 'µs/event': Number((1e6 / g.eps).toFixed(3)), outputs: g.outputs });
positions.length = 0;

const metrics = buildMetrics();
for (const baseline of [{ kind: 'ewma', alpha: 0.1 } as const, { kind: 'rolling', window: 30 } as const]) {
  const label = baseline.kind === 'ewma' ? 'anomaly (EWMA 0.1, z > 3)' : 'anomaly (rolling 30, z > 3)';
  const a = measure(label, metrics, (src) => {
    let n = 0;
    src.pipe(anomalyDetector({ key: (m: Metric) => m.key, value: (m: Metric) => m.value, baseline, sensitivity: 3 })).subscribe(() => n++);
    return n;
  });
  rows.push({ detector: label, keys: KEYS, events: EVENTS, 'events/s': Math.round(a.eps), 'µs/event': Number((1e6 / a.eps).toFixed(3)), outputs: a.outputs });
}
process.stderr.write('\r'.padEnd(61) + '\r');

writeReport('detectors', rows, {
  keys: KEYS,
  note: 'one core; records fed straight into the operator with a watermark every 1,000 events; best of 3 runs after a warm-up run; keyed windows at 10,000 keys: see stream-window',
});
