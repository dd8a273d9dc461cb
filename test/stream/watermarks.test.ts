import { VigilError } from '../../src/errors';
import { withWatermarks, type StreamEvent } from '../../src/stream';
import { checkpointRun, rec, runSync, testScheduler, wm } from './helpers';

interface P {
  p: string;
  t: number;
}

describe('withWatermarks', () => {
  it('assigns event time and emits bounded out-of-orderness watermarks only when they advance', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<P>('a----b----c----|', { a: { p: 'x', t: 10 }, b: { p: 'x', t: 5 }, c: { p: 'x', t: 20 } });
      expectObservable(input.pipe(withWatermarks({ eventTime: (r: P) => r.t, maxOutOfOrderness: 5 }))).toBe('(aw)-b----(cv)-|', {
        a: rec(10, { p: 'x', t: 10 }),
        w: wm(5),
        b: rec(5, { p: 'x', t: 5 }),
        c: rec(20, { p: 'x', t: 20 }),
        v: wm(15),
      });
    });
  });

  it('holds the watermark at the slowest partition until that partition goes idle (scheduler time)', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const input = cold<P>('a 9ms b 9ms c 99ms d 9ms |', { a: { p: 'x', t: 10 }, b: { p: 'y', t: 50 }, c: { p: 'y', t: 60 }, d: { p: 'y', t: 70 } });
      const op = withWatermarks({ eventTime: (r: P) => r.t, partition: (r: P) => r.p, idleTimeout: 50, scheduler: ts });
      // x stalls at 10 until frame 50 marks it idle; then y (max 60) leads alone.
      expectObservable(input.pipe(op)).toBe('(aw) 6ms b 9ms c 29ms v 69ms (du) 6ms |', {
        a: rec(10, { p: 'x', t: 10 }),
        w: wm(10),
        b: rec(50, { p: 'y', t: 50 }),
        c: rec(60, { p: 'y', t: 60 }),
        v: wm(60),
        d: rec(70, { p: 'y', t: 70 }),
        u: wm(70),
      });
    });
  });

  it('limits how far a device clock running ahead can push the watermark, and counts it', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const input = cold<P>('a----b|', { a: { p: 'x', t: 1_000_000 }, b: { p: 'x', t: 3 } });
      const op = withWatermarks({ eventTime: (r: P) => r.t, maxClockSkew: 100, scheduler: ts });
      expectObservable(input.pipe(op)).toBe('(aw)-b|', { a: rec(1_000_000, { p: 'x', t: 1_000_000 }), w: wm(100), b: rec(3, { p: 'x', t: 3 }) });
      flush();
      expect(op.stats().skewed).toBe(1);
    });
  });

  it('diverts records without a finite event time to onInvalidTime and counts them', () => {
    const bad: P[] = [];
    const op = withWatermarks({ eventTime: (r: P) => r.t, onInvalidTime: (r) => bad.push(r) });
    const out = runSync(op, [{ p: 'x', t: Number.NaN }, { p: 'x', t: 4 }]);
    expect(out).toEqual([rec(4, { p: 'x', t: 4 }), wm(4)]);
    expect(bad).toHaveLength(1);
    expect(op.stats().invalidTime).toBe(1);
  });

  it('restores from a snapshot and continues with the same watermarks', () => {
    const inputs: P[] = Array.from({ length: 60 }, (_, i) => ({ p: `p${i % 3}`, t: (i * 37) % 50 + i }));
    const { uninterrupted, restored } = checkpointRun(() => withWatermarks({ eventTime: (r: P) => r.t, partition: (r: P) => r.p, maxOutOfOrderness: 7 }), inputs, 25);
    expect(uninterrupted.filter((e: StreamEvent<P>) => e.kind === 'watermark').length).toBeGreaterThan(5);
    expect(restored).toEqual(uninterrupted);
  });

  it('rejects bad options', () => {
    expect(() => withWatermarks({ eventTime: (r: P) => r.t, maxOutOfOrderness: -1 })).toThrow(VigilError);
    expect(() => withWatermarks({ eventTime: 3 as unknown as (r: P) => number })).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_OPTIONS' }));
    expect(() => withWatermarks({ eventTime: (r: P) => r.t, idleTimeout: 0 })).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_OPTIONS' }));
  });
});
