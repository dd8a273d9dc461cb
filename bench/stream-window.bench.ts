/**
 * Keyed 1-second tumbling window computing count/mean/min/max/p95 over 10,000 keys:
 * (a) Vigil's withWatermarks + keyedWindow, (b) idiomatic RxJS (groupBy + windowTime +
 * reduce, event time driven through a VirtualTimeScheduler), (c) a plain loop over a Map.
 * Plus the heap held by 100,000 open keys. Event time is synthetic and deterministic.
 *
 * `npx tsx bench/stream-window.bench.ts` or `npm run bench stream`.
 */
import { DDSketch } from '@datadog/sketches-js';
import { Observable, VirtualTimeScheduler, groupBy, mergeMap, reduce, windowTime } from 'rxjs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { aggregate, count, keyedWindow, max, mean, min, percentile, tumbling, withWatermarks } from '../src/stream';
import { writeReport } from './lib/report';

interface Reading {
  device: number;
  time: number;
  value: number;
}

const KEYS = 10_000;
const PER_MS = 100; // 100,000 synthetic events per event-time second: 10 per key per window
const EVENTS = 1_000_000; // 10 windows of event time

// Deterministic workload: device round-robin, time from the index, value from an LCG.
const readings: Reading[] = new Array(EVENTS);
let seed = 12345;
for (let i = 0; i < EVENTS; i++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  readings[i] = { device: i % KEYS, time: Math.floor(i / PER_MS), value: (seed >>> 8) % 1000 };
}

function source(n: number): Observable<Reading> {
  return new Observable<Reading>((sub) => {
    for (let i = 0; i < n && !sub.closed; i++) sub.next(readings[i] as Reading);
    sub.complete();
  });
}

interface Row {
  n: number;
  mean: number;
  min: number;
  max: number;
  p95: number;
}

function vigil(n: number): number {
  let results = 0;
  source(n)
    .pipe(
      withWatermarks({ eventTime: (r: Reading) => r.time }),
      keyedWindow({
        key: (r: Reading) => r.device,
        window: tumbling(1000),
        aggregate: aggregate({ n: count<Reading>(), mean: mean((r: Reading) => r.value), min: min((r: Reading) => r.value), max: max((r: Reading) => r.value), p95: percentile((r: Reading) => r.value, 0.95) }),
      }),
    )
    .subscribe(() => results++);
  return results;
}

interface Acc {
  n: number;
  sum: number;
  min: number;
  max: number;
  sketch: DDSketch;
}
const newAcc = (): Acc => ({ n: 0, sum: 0, min: Infinity, max: -Infinity, sketch: new DDSketch({ relativeAccuracy: 0.01 }) });
const addAcc = (a: Acc, v: number): Acc => {
  a.n++;
  a.sum += v;
  if (v < a.min) a.min = v;
  if (v > a.max) a.max = v;
  a.sketch.accept(v);
  return a;
};
const rowOf = (a: Acc): Row => ({ n: a.n, mean: a.sum / a.n, min: a.min, max: a.max, p95: a.sketch.getValueAtQuantile(0.95) });

function idiomatic(n: number): number {
  // windowTime is processing-time only; a VirtualTimeScheduler advanced to each record's
  // event time makes it an event-time window, which is how one would test it anyway.
  const scheduler = new VirtualTimeScheduler();
  let results = 0;
  const src = new Observable<Reading>((sub) => {
    for (let i = 0; i < n && !sub.closed; i++) {
      const r = readings[i] as Reading;
      if (r.time > scheduler.frame) {
        scheduler.maxFrames = r.time;
        scheduler.flush();
      }
      sub.next(r);
    }
    // Completing closes every group's open window; flushing the scheduler to infinity would
    // never end, as windowTime keeps scheduling the next window.
    sub.complete();
  });
  src
    .pipe(
      groupBy((r) => r.device),
      mergeMap((g) => g.pipe(windowTime(1000, scheduler), mergeMap((w) => w.pipe(reduce((a, r) => addAcc(a, r.value), newAcc()))))),
    )
    .subscribe((a) => {
      if (a.n > 0) {
        rowOf(a);
        results++;
      }
    });
  return results;
}

function plainLoop(n: number): number {
  const state = new Map<number, Acc>();
  let windowEnd = 1000;
  let results = 0;
  const fire = (): void => {
    for (const a of state.values()) {
      rowOf(a);
      results++;
    }
    state.clear();
  };
  for (let i = 0; i < n; i++) {
    const r = readings[i] as Reading;
    if (r.time >= windowEnd) {
      fire();
      windowEnd = Math.floor(r.time / 1000) * 1000 + 1000;
    }
    let a = state.get(r.device);
    if (a === undefined) {
      a = newAcc();
      state.set(r.device, a);
    }
    addAcc(a, r.value);
  }
  fire();
  return results;
}

/** Events per second of the best of `rounds` runs over `n` events (after one warm-up). */
function measure(fn: (n: number) => number, n: number, rounds: number): { eps: number; results: number } {
  fn(Math.min(n, 200_000));
  let best = Infinity;
  let results = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    results = fn(n);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
  }
  return { eps: n / best, results };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void);
  g();
  g();
}

function openKeysMemory(keys: number): number {
  const op = keyedWindow({
    key: (r: Reading) => r.device,
    window: tumbling(1000),
    aggregate: aggregate({ n: count<Reading>(), mean: mean((r: Reading) => r.value), min: min((r: Reading) => r.value), max: max((r: Reading) => r.value), p95: percentile((r: Reading) => r.value, 0.95) }),
  });
  const events = new Observable<{ kind: 'record'; time: number; value: Reading }>((sub) => {
    for (let i = 0; i < keys; i++) sub.next({ kind: 'record', time: 500, value: { device: i, time: 500, value: i % 1000 } });
  });
  gc();
  const before = process.memoryUsage().heapUsed;
  const subscription = events.pipe(op).subscribe();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (op.stats().keys !== keys) throw new Error('keys not open');
  subscription.unsubscribe();
  return after - before;
}

const a = measure(vigil, EVENTS, 3);
const b = measure(idiomatic, 300_000, 1);
const c = measure(plainLoop, EVENTS, 3);
if (a.results !== c.results) throw new Error(`result counts differ: vigil ${a.results}, loop ${c.results}`);
const mem = openKeysMemory(100_000);

writeReport(
  'stream-window',
  [
    { variant: '(a) vigil withWatermarks+keyedWindow', events: EVENTS, 'events/s': Math.round(a.eps), results: a.results },
    { variant: '(b) rxjs groupBy+windowTime+reduce', events: 300_000, 'events/s': Math.round(b.eps), results: b.results },
    { variant: '(c) plain loop over a Map', events: EVENTS, 'events/s': Math.round(c.eps), results: c.results },
  ],
  {
    keys: KEYS,
    window: '1s tumbling, count/mean/min/max/p95',
    ratioAtoB: a.eps / b.eps,
    ratioAtoC: a.eps / c.eps,
    openKeys: 100_000,
    openKeysHeapBytes: mem,
    bytesPerOpenKey: mem / 100_000,
  },
);
console.log(`a/b = ${(a.eps / b.eps).toFixed(2)}x (target >= 5), a/c = ${((100 * a.eps) / c.eps).toFixed(1)}% (target >= 40%)`);
console.log(`heap held by 100,000 open keys: ${(mem / 1048576).toFixed(1)} MiB (${Math.round(mem / 100_000)} bytes/key)`);
