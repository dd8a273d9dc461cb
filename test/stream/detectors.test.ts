import fc from 'fast-check';
import { BehaviorSubject } from 'rxjs';
import {
  ReferenceTable,
  anomalyDetector,
  dedupe,
  distanceToBorderMeters,
  geofence,
  joinReference,
  positionStaleness,
  silenceDetector,
  thresholdDetector,
  type Fence,
  type LatLon,
  type StreamEvent,
} from '../../src/stream';
import { checkpointRun, rec, runSync, testScheduler, wm } from './helpers';

interface S {
  d: string;
  v: number;
  pos?: LatLon;
  seq?: number;
}

describe('thresholdDetector', () => {
  const make = () => thresholdDetector({ key: (r: S) => r.d, value: (r: S) => r.v, raise: 80, clear: 70, minDuration: 10 });

  it('raises only after the value stays above for minDuration and clears below the lower level (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<S>>('abcdefgh|', {
        a: rec(0, { d: 'x', v: 85 }),
        b: rec(5, { d: 'x', v: 75 }), // dip below raise: the run restarts
        c: rec(6, { d: 'x', v: 90 }),
        d: rec(16, { d: 'x', v: 91 }), // 10 ms above: raised
        e: rec(20, { d: 'x', v: 75 }), // in the band: stays raised
        f: rec(25, { d: 'x', v: 60 }),
        g: rec(30, { d: 'x', v: 60 }),
        h: rec(35, { d: 'x', v: 60 }), // 10 ms below clear: cleared
      });
      expectObservable(input.pipe(make())).toBe('---r---c|', {
        r: { type: 'raised', key: 'x', time: 16, since: 6, value: 91 },
        c: { type: 'cleared', key: 'x', time: 35, since: 25, value: 60 },
      });
    });
  });

  it('takes per-record levels and supports direction below; snapshot/restore is seamless', () => {
    const out = runSync(thresholdDetector({ key: (r: S) => r.d, value: (r: S) => r.v, direction: 'below', raise: (r: S) => (r.d === 'a' ? 10 : 0), clear: 20 }), [
      rec(1, { d: 'a', v: 5 }),
      rec(2, { d: 'b', v: 5 }),
      rec(3, { d: 'a', v: 25 }),
    ]);
    expect(out.map((e) => [e.type, e.key])).toEqual([
      ['raised', 'a'],
      ['cleared', 'a'],
    ]);
    const inputs = Array.from({ length: 200 }, (_, i) => rec(i, { d: `k${i % 2}`, v: 75 + 20 * Math.sin(i / 8) }));
    const { uninterrupted, restored } = checkpointRun(make, inputs, 40);
    expect(uninterrupted.length).toBeGreaterThan(2);
    expect(restored).toEqual(uninterrupted);
    expect(() => thresholdDetector({ key: (r: S) => r.d, value: (r: S) => r.v, raise: 70, clear: 80 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_OPTIONS' }));
  });
});

describe('anomalyDetector', () => {
  it('flags a spike and a dip against the per-key baseline (marbles)', () => {
    const baseline = Array.from({ length: 10 }, (_, i) => rec(i, { d: 'x', v: 100 + (i % 2) }));
    testScheduler().run(({ cold, expectObservable }) => {
      const values: Record<string, StreamEvent<S>> = {};
      const letters = 'abcdefghij';
      baseline.forEach((e, i) => (values[letters[i] as string] = e));
      values.s = rec(10, { d: 'x', v: 200 });
      values.y = rec(11, { d: 'y', v: 0 }); // another key: no baseline yet
      const input = cold<StreamEvent<S>>('abcdefghijsy|', values);
      const op = anomalyDetector({ key: (r: S) => r.d, value: (r: S) => r.v, baseline: { kind: 'rolling', window: 10 }, sensitivity: 3 });
      expectObservable(input.pipe(op)).toBe('----------s-|', {
        s: { type: 'spike', key: 'x', time: 10, value: 200, mean: 100.5, stdDev: 0.5, score: 199 },
      });
    });
    const ewma = runSync(anomalyDetector({ key: (r: S) => r.d, value: (r: S) => r.v, baseline: { kind: 'ewma', alpha: 0.2 } }), [...baseline, rec(10, { d: 'x', v: 0 })]);
    expect(ewma.map((e) => e.type)).toEqual(['dip']);
  });

  it('restores mid-stream with identical output', () => {
    const inputs = Array.from({ length: 120 }, (_, i) => rec(i, { d: `k${i % 2}`, v: i % 17 === 0 ? 500 : 50 + (i % 5) }));
    for (const baseline of [{ kind: 'ewma' as const }, { kind: 'rolling' as const, window: 12 }]) {
      const { uninterrupted, restored } = checkpointRun(() => anomalyDetector({ key: (r: S) => r.d, value: (r: S) => r.v, baseline }), inputs, 61);
      expect(uninterrupted.length).toBeGreaterThan(2);
      expect(restored).toEqual(uninterrupted);
    }
  });
});

describe('geofence', () => {
  // A square of about 1.1 km around (0.005, 0.005).
  const square: Fence = { id: 'base', polygon: [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01]] };
  const at = (t: number, lon: number, lat: number): StreamEvent<S> => rec(t, { d: 'u1', v: 0, pos: { lat, lon } });

  it('reports enter, dwell and exit (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<S>>('abcd|', { a: at(0, -0.01, 0.005), b: at(10, 0.005, 0.005), c: at(70, 0.006, 0.005), d: at(80, 0.02, 0.005) });
      const op = geofence({ key: (r: S) => r.d, position: (r: S) => r.pos, fences: [square], dwell: 60 });
      expectObservable(input.pipe(op)).toBe('-ebx|', {
        e: { type: 'enter', key: 'u1', fence: 'base', time: 10, position: { lat: 0.005, lon: 0.005 } },
        b: { type: 'dwell', key: 'u1', fence: 'base', time: 70, position: { lat: 0.005, lon: 0.006 }, since: 10 },
        x: { type: 'exit', key: 'u1', fence: 'base', time: 80, position: { lat: 0.005, lon: 0.02 }, since: 10 },
      });
    });
  });

  it('does not flap at the border: a buffer in metres and consecutive points', () => {
    // Wobbling 5 m either side of the western edge (lon 0): 0.000045° ≈ 5 m at the equator.
    const wobble = Array.from({ length: 10 }, (_, i) => at(i, i % 2 === 0 ? 0.000045 : -0.000045, 0.005));
    const raw = runSync(geofence({ key: (r: S) => r.d, position: (r: S) => r.pos, fences: [square] }), wobble);
    expect(raw.length).toBe(10);
    const buffered = runSync(geofence({ key: (r: S) => r.d, position: (r: S) => r.pos, fences: [square], bufferMeters: 20 }), [at(-1, 0.005, 0.005), ...wobble]);
    expect(buffered.map((e) => e.type)).toEqual(['enter']);
    const confirmed = runSync(geofence({ key: (r: S) => r.d, position: (r: S) => r.pos, fences: [square], confirmPoints: 2 }), wobble);
    expect(confirmed).toEqual([]);
    expect(distanceToBorderMeters({ lat: 0.005, lon: -0.000045 }, square.polygon)).toBeCloseTo(5.0, 0);
  });

  it('restores mid-stream with identical output', () => {
    const inputs = Array.from({ length: 60 }, (_, i) => at(i * 10, Math.sin(i / 4) * 0.012 + 0.005, 0.005));
    const { uninterrupted, restored } = checkpointRun(() => geofence({ key: (r: S) => r.d, position: (r: S) => r.pos, fences: [square], confirmPoints: 2, dwell: 30 }), inputs, 27);
    expect(uninterrupted.length).toBeGreaterThan(4);
    expect(restored).toEqual(uninterrupted);
  });
});

describe('silenceDetector and positionStaleness', () => {
  it('raises silence when event time passes last record + after, and clears on return (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<S>>('abwcv---d|', { a: rec(0, { d: 'x', v: 0 }), b: rec(5, { d: 'y', v: 0 }), w: wm(9), c: rec(12, { d: 'y', v: 0 }), v: wm(30), d: rec(31, { d: 'x', v: 0 }) });
      const op = silenceDetector({ key: (r: S) => r.d, after: 10 });
      expectObservable(input.pipe(op)).toBe('----(st)r|', {
        s: { type: 'silent', key: 'x', time: 10, lastSeen: 0 },
        t: { type: 'silent', key: 'y', time: 22, lastSeen: 12 },
        r: { type: 'resumed', key: 'x', time: 31, lastSeen: 0 },
      });
    });
  });

  it('marks a position stale even while readings without a fix keep coming', () => {
    const p = { lat: 1, lon: 2 };
    const out = runSync(positionStaleness({ key: (r: S) => r.d, position: (r: S) => r.pos, maxAge: 10 }), [
      rec(0, { d: 'x', v: 0, pos: p }),
      rec(5, { d: 'x', v: 0 }),
      wm(8),
      rec(9, { d: 'x', v: 0 }),
      wm(12),
      rec(13, { d: 'x', v: 0, pos: { lat: 1.1, lon: 2 } }),
    ]);
    expect(out).toEqual([
      { type: 'stale', key: 'x', time: 10, position: p, positionTime: 0 },
      { type: 'fresh', key: 'x', time: 13, position: { lat: 1.1, lon: 2 }, positionTime: 13 },
    ]);
  });

  it('restores mid-stream with identical output', () => {
    const inputs: StreamEvent<S>[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 7 !== 3) inputs.push(rec(i * 3, { d: `k${(i * i) % 5}`, v: 0 }));
      if (i % 4 === 0) inputs.push(wm(i * 3 - 2));
    }
    const { uninterrupted, restored } = checkpointRun(() => silenceDetector({ key: (r: S) => r.d, after: 20 }), inputs, 50);
    expect(uninterrupted.length).toBeGreaterThan(2);
    expect(restored).toEqual(uninterrupted);
  });
});

describe('dedupe', () => {
  it('drops repeated (device, sequence) pairs and counts them (marbles)', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const r = (d: string, seq: number): S => ({ d, v: 0, seq });
      const drops: string[] = [];
      const op = dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, onDrop: (x, why) => drops.push(`${x.d}${x.seq}:${why}`) });
      const input = cold('abcdab|', { a: r('x', 1), b: r('x', 2), c: r('y', 1), d: r('x', 0) });
      expectObservable(input.pipe(op)).toBe('abcd--|', { a: r('x', 1), b: r('x', 2), c: r('y', 1), d: r('x', 0) });
      flush();
      expect(drops).toEqual(['x1:duplicate', 'x2:duplicate']);
      expect(op.stats()).toMatchObject({ passed: 4, duplicates: 2, devices: 2 });
    });
  });

  it('keeps memory bounded: a sliding window per device and LRU devices', () => {
    const op = dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, window: 32, maxDevices: 2 });
    const out = runSync(op, [
      { d: 'a', v: 0, seq: 100 },
      { d: 'a', v: 0, seq: 60 }, // more than 32 behind: too old
      { d: 'a', v: 0, seq: 80 }, // inside the window, unseen: passes
      { d: 'b', v: 0, seq: 1 },
      { d: 'c', v: 0, seq: 1 }, // evicts a
      { d: 'a', v: 0, seq: 100 }, // a forgotten: passes again
    ]);
    expect(out.map((x) => `${x.d}${x.seq}`)).toEqual(['a100', 'a80', 'b1', 'c1', 'a100']);
    expect(op.stats()).toMatchObject({ tooOld: 1, evicted: 2, devices: 2 });
  });

  it('restores mid-stream with identical output', () => {
    const inputs: S[] = Array.from({ length: 300 }, (_, i) => ({ d: `k${i % 3}`, v: 0, seq: (i * 7919) % 97 }));
    const { uninterrupted, restored } = checkpointRun(() => dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, window: 64 }), inputs, 150);
    expect(uninterrupted.length).toBeLessThan(300);
    expect(restored).toEqual(uninterrupted);
  });

  it('agrees with a set of every number seen, over random orders and restores at random points (run form and bitmap)', () => {
    const window = 64;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.oneof(fc.constant(1), fc.constant(0), fc.integer({ min: -70, max: 70 }))), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 0, max: 300 }),
        (steps, cut) => {
          // Mostly in order (step +1), with repeats, reordering and jumps.
          const next = new Map<string, number>();
          const inputs: S[] = steps.map(([d, step]) => {
            const seq = Math.max(0, (next.get(d) ?? 0) + step);
            next.set(d, Math.max(next.get(d) ?? 0, seq + 1));
            return { d, v: 0, seq };
          });
          const seen = new Map<string, Set<number>>();
          const high = new Map<string, number>();
          const expected = inputs.filter((r) => {
            const h = high.get(r.d);
            const set = seen.get(r.d) ?? new Set<number>();
            seen.set(r.d, set);
            if (h !== undefined && h - (r.seq as number) >= window) return false;
            if (set.has(r.seq as number)) return false;
            set.add(r.seq as number);
            high.set(r.d, Math.max(h ?? 0, r.seq as number));
            return true;
          });
          const { uninterrupted, restored } = checkpointRun(() => dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, window }), inputs, Math.min(cut, inputs.length));
          expect(uninterrupted).toEqual(expected);
          expect(restored).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('saves a device sending in order as [high, -run], and still loads the bitmap form', () => {
    const op = dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, window: 64 });
    runSync(op, Array.from({ length: 100 }, (_, i) => ({ d: 'a', v: 0, seq: i + 1 })), false);
    const snap = JSON.stringify(op.snapshot());
    expect(snap).toContain('[100,-64]');
    // The bitmap form of the same state (two words, all set) as an older Vigil saved it.
    const old = JSON.parse(snap.replace('[100,-64]', `[100,${0xffffffff},${0xffffffff}]`)) as ReturnType<typeof op.snapshot>;
    const again = dedupe({ device: (x: S) => x.d, sequence: (x: S) => x.seq as number, window: 64 });
    again.restore(old);
    expect(runSync(again, [{ d: 'a', v: 0, seq: 100 }, { d: 'a', v: 0, seq: 37 }, { d: 'a', v: 0, seq: 36 }, { d: 'a', v: 0, seq: 101 }]).map((r) => r.seq)).toEqual([101]);
    expect(again.stats()).toMatchObject({ duplicates: 2, tooOld: 1 });
  });
});

describe('joinReference', () => {
  it('joins against a table that is replaced while the stream runs (marbles)', () => {
    const table = new ReferenceTable<number>({ x: 80 });
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold('a-b|', { a: { d: 'x', v: 1 }, b: { d: 'x', v: 2 } });
      const joined = input.pipe(joinReference(table, { key: (r: S) => r.d, join: (r: S, limit: number | undefined) => ({ ...r, limit }) }));
      expectObservable(joined).toBe('a-b|', { a: { d: 'x', v: 1, limit: 80 }, b: { d: 'x', v: 2, limit: 65 } });
      cold('-r|').subscribe(() => table.replace(new Map([['x', 65]])));
    });
    expect(table.version).toBe(1);
  });

  it('follows an Observable of snapshots', () => {
    const roster = new BehaviorSubject<Record<string, string>>({ x: 'alpha' });
    const out: Array<string | undefined> = [];
    const src = new BehaviorSubject<S>({ d: 'x', v: 0 });
    const sub = src.pipe(joinReference(roster, { key: (r: S) => r.d, join: (_r: S, unit: string | undefined) => unit })).subscribe((u) => out.push(u));
    roster.next({ x: 'bravo' });
    src.next({ d: 'x', v: 1 });
    src.next({ d: 'z', v: 1 });
    sub.unsubscribe();
    expect(out).toEqual(['alpha', 'bravo', undefined]);
  });
});
