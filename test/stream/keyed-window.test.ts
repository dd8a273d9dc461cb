import { VigilError } from '../../src/errors';
import {
  aggregate,
  count,
  hopping,
  keyedWindow,
  last,
  max,
  mean,
  session,
  sliding,
  sum,
  tumbling,
  type RecordEvent,
  type StreamEvent,
} from '../../src/stream';
import { checkpointRun, rec, runSync, testScheduler, wm } from './helpers';
import { FakeProvider, restartRun, runKeyed } from './keyed-state-fake';

interface R {
  k: string;
  v: number;
}
const r = (time: number, k: string, v: number): RecordEvent<R> => rec(time, { k, v });
const agg = aggregate({ n: count<R>(), sum: sum((x: R) => x.v) });

describe('keyedWindow — tumbling', () => {
  it('emits one final per key and window when the watermark passes the end (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<R>>('a-b-c-w-d-x|', {
        a: r(1, 'x', 1),
        b: r(5, 'y', 10),
        c: r(9, 'x', 2),
        w: wm(10),
        d: r(12, 'x', 7),
        x: wm(25),
      });
      const op = keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: agg });
      expectObservable(input.pipe(op)).toBe('------(pq)s|', {
        p: { type: 'final', key: 'x', window: { start: 0, end: 10 }, value: { n: 2, sum: 3 }, revision: 0 },
        q: { type: 'final', key: 'y', window: { start: 0, end: 10 }, value: { n: 1, sum: 10 }, revision: 0 },
        s: { type: 'final', key: 'x', window: { start: 10, end: 20 }, value: { n: 1, sum: 7 }, revision: 0 },
      });
    });
  });

  it('revises a fired window for a record within allowed lateness and side-outputs later ones', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const late: RecordEvent<R>[] = [];
      const input = cold<StreamEvent<R>>('a-w-b-c-v-d-e|', {
        a: r(3, 'x', 1),
        w: wm(10),
        b: r(4, 'x', 5), // window [0,10) fired, 10 < 10 + 5: revision 1
        c: r(8, 'x', 1), // revision 2
        v: wm(15), // lateness over for [0,10)
        d: r(9, 'x', 100), // late
        e: r(14, 'x', 1), // on time in [10,20)
      });
      const op = keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: agg, allowedLateness: 5, onLate: (e) => late.push(e) });
      expectObservable(input.pipe(op)).toBe('--f-r-s------(t|)', {
        f: { type: 'final', key: 'x', window: { start: 0, end: 10 }, value: { n: 1, sum: 1 }, revision: 0 },
        r: { type: 'revision', key: 'x', window: { start: 0, end: 10 }, value: { n: 2, sum: 6 }, revision: 1 },
        s: { type: 'revision', key: 'x', window: { start: 0, end: 10 }, value: { n: 3, sum: 7 }, revision: 2 },
        t: { type: 'final', key: 'x', window: { start: 10, end: 20 }, value: { n: 1, sum: 1 }, revision: 0 },
      });
      flush();
      expect(late).toEqual([r(9, 'x', 100)]);
      expect(op.stats()).toMatchObject({ late: 1, revisions: 2, finals: 2 });
    });
  });

  it('counts late records even without a side output, and a window first seen late is emitted final at once', () => {
    const op = keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: agg, allowedLateness: 20 });
    const out = runSync(op, [wm(50), r(35, 'x', 2), r(5, 'x', 1)]);
    expect(out).toEqual([{ type: 'final', key: 'x', window: { start: 30, end: 40 }, value: { n: 1, sum: 2 }, revision: 0 }]);
    expect(op.stats().late).toBe(1);
  });

  it('emits early results as event time passes while the window is open', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<R>>('a-w-v-b-u----|', { a: r(1, 'x', 1), w: wm(4), v: wm(5), b: r(6, 'x', 2), u: wm(10) });
      const op = keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: agg, earlyEvery: 3 });
      // Early at 3 (changed), not at 6 again before b; then final at 10 (early at 9 is superseded).
      expectObservable(input.pipe(op)).toBe('--e-----(gf)-|', {
        e: { type: 'early', key: 'x', window: { start: 0, end: 10 }, value: { n: 1, sum: 1 }, revision: 0 },
        g: { type: 'early', key: 'x', window: { start: 0, end: 10 }, value: { n: 2, sum: 3 }, revision: 0 },
        f: { type: 'final', key: 'x', window: { start: 0, end: 10 }, value: { n: 2, sum: 3 }, revision: 0 },
      });
    });
  });

  it('fires open windows on completion, in event-time order', () => {
    const out = runSync(keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: count<R>() }), [r(25, 'a', 0), r(3, 'b', 0), r(4, 'b', 0)]);
    expect(out.map((o) => [o.key, o.window.start, o.value])).toEqual([
      ['b', 0, 2],
      ['a', 20, 1],
    ]);
    const none = runSync(keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: count<R>(), flushOnComplete: false }), [r(3, 'b', 0)]);
    expect(none).toEqual([]);
  });
});

describe('keyedWindow — hopping and sliding', () => {
  it('puts a record in every hopping window that contains it', () => {
    const out = runSync(keyedWindow({ key: (x: R) => x.k, window: hopping(10, 5), aggregate: count<R>() }), [r(7, 'x', 0), r(12, 'x', 0), wm(100)]);
    expect(out.map((o) => [o.window.start, o.window.end, o.value])).toEqual([
      [0, 10, 1],
      [5, 15, 2],
      [10, 20, 1],
    ]);
  });

  it('emits, per record time, the window of size ms up to it, and revises those a late record falls into', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<R>>('a-b-c-w------d---|', { a: r(1, 'x', 1), b: r(4, 'x', 2), c: r(9, 'x', 4), w: wm(10), d: r(6, 'x', 8) });
      const op = keyedWindow({ key: (x: R) => x.k, window: sliding(5), aggregate: sum((x: R) => x.v), allowedLateness: 10 });
      expectObservable(input.pipe(op)).toBe('------(pqs)--(tu)|', {
        p: { type: 'final', key: 'x', window: { start: -3, end: 2 }, value: 1, revision: 0 },
        q: { type: 'final', key: 'x', window: { start: 0, end: 5 }, value: 3, revision: 0 },
        s: { type: 'final', key: 'x', window: { start: 5, end: 10 }, value: 4, revision: 0 },
        t: { type: 'final', key: 'x', window: { start: 2, end: 7 }, value: 10, revision: 0 },
        u: { type: 'revision', key: 'x', window: { start: 5, end: 10 }, value: 12, revision: 1 },
      });
    });
  });
});

describe('keyedWindow — session', () => {
  it('merges sessions bridged by a late record and says which results it supersedes', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<R>>('a-b-w-----c|', { a: r(0, 'x', 1), b: r(15, 'x', 2), w: wm(40), c: r(8, 'x', 4) });
      const op = keyedWindow({ key: (x: R) => x.k, window: session(10), aggregate: aggregate({ sum: sum((x: R) => x.v), last: last((x: R) => x.v) }), allowedLateness: 100 });
      expectObservable(input.pipe(op)).toBe('----(pq)--s|', {
        p: { type: 'final', key: 'x', window: { start: 0, end: 10 }, value: { sum: 1, last: 1 }, revision: 0 },
        q: { type: 'final', key: 'x', window: { start: 15, end: 25 }, value: { sum: 2, last: 2 }, revision: 0 },
        s: {
          type: 'revision',
          key: 'x',
          window: { start: 0, end: 25 },
          value: { sum: 7, last: 2 },
          revision: 1,
          supersedes: [
            { start: 0, end: 10 },
            { start: 15, end: 25 },
          ],
        },
      });
    });
  });

  it('extends an open session and keeps sessions of different keys apart', () => {
    const out = runSync(keyedWindow({ key: (x: R) => x.k, window: session(5), aggregate: mean((x: R) => x.v) }), [
      r(0, 'x', 1),
      r(3, 'x', 3),
      r(4, 'y', 10),
      r(7, 'x', 5),
      r(13, 'x', 7),
      wm(100),
    ]);
    expect(out).toEqual([
      { type: 'final', key: 'y', window: { start: 4, end: 9 }, value: 10, revision: 0 },
      { type: 'final', key: 'x', window: { start: 0, end: 12 }, value: 3, revision: 0 },
      { type: 'final', key: 'x', window: { start: 13, end: 18 }, value: 7, revision: 0 },
    ]);
  });
});

describe('keyedWindow — options and state', () => {
  it('rejects bad options with VIGIL_E_STREAM_OPTIONS', () => {
    const bad: Array<() => unknown> = [
      () => keyedWindow({ key: 'k' as unknown as (x: R) => string, window: tumbling(10), aggregate: count<R>() }),
      () => keyedWindow({ key: (x: R) => x.k, window: { kind: 'weekly' } as never, aggregate: count<R>() }),
      () => keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: count<R>(), allowedLateness: -1 }),
      () => keyedWindow({ key: (x: R) => x.k, window: sliding(10), aggregate: count<R>(), earlyEvery: 5 }),
      () => tumbling(0),
      () => hopping(10, 20),
      () => session(Number.NaN),
      () => aggregate({}),
    ];
    for (const f of bad) {
      expect(f).toThrow(VigilError);
      try {
        f();
      } catch (e) {
        expect((e as VigilError).code).toBe('VIGIL_E_STREAM_OPTIONS');
      }
    }
  });

  it.each([
    ['tumbling', tumbling(10)],
    ['hopping', hopping(10, 5)],
    ['sliding', sliding(7)],
    ['session', session(4)],
  ] as const)('%s: a snapshot taken mid-stream and restored into a fresh operator gives the same outputs', (_name, window) => {
    const inputs: StreamEvent<R>[] = [];
    let t = 0;
    for (let i = 0; i < 200; i++) {
      t += (i * 7) % 5;
      inputs.push(r(t - ((i * 13) % 9), `k${i % 4}`, i));
      if (i % 6 === 5) inputs.push(wm(t - 6));
    }
    const make = () =>
      keyedWindow({ key: (x: R) => x.k, window, allowedLateness: 5, earlyEvery: window.kind === 'sliding' ? undefined : 3, aggregate: aggregate({ n: count<R>(), max: max((x: R) => x.v) }) });
    for (const cut of [1, 50, 123]) {
      const { uninterrupted, restored, snapshot } = checkpointRun(make, inputs, cut);
      expect(uninterrupted.length).toBeGreaterThan(10);
      expect(restored).toEqual(uninterrupted);
      expect(typeof JSON.stringify(snapshot)).toBe('string');
    }
  });

  it.each([
    ['tumbling', tumbling(10), undefined],
    ['tumbling with early results', tumbling(10), 3],
    ['hopping', hopping(10, 5), 4],
  ] as const)('%s under a store evicted after every event: the same outputs, restarted at any point', (_name, window, earlyEvery) => {
    const inputs: StreamEvent<R>[] = [];
    let t = 0;
    for (let i = 0; i < 160; i++) {
      t += (i * 7) % 5;
      inputs.push(r(t - ((i * 13) % 23), `k${i % 5}`, i));
      if (i % 6 === 5) inputs.push(wm(t - 3));
    }
    const make = () => keyedWindow({ key: (x: R) => x.k, window, allowedLateness: 12, earlyEvery, aggregate: aggregate({ n: count<R>(), max: max((x: R) => x.v) }) });
    const whole = runSync(make(), inputs);
    expect(whole.filter((o) => o.type === 'revision').length).toBeGreaterThan(3);
    expect(runKeyed(make(), inputs).outputs).toEqual(whole);
    for (let cut = 1; cut < inputs.length; cut += 7) expect(restartRun(make, inputs, cut)).toEqual(whole);
  });

  it('restores aligned windows from the store keys alone, reading no window, and expires fired ones after the lateness', () => {
    const make = () => keyedWindow({ key: (x: R) => x.k, window: tumbling(10), allowedLateness: 100, aggregate: count<R>() });
    const inputs: StreamEvent<R>[] = [];
    for (let w = 0; w < 20; w++) for (let k = 0; k < 50; k++) inputs.push(r(w * 10 + 1, `k${k}`, 1));
    inputs.push(wm(195));
    const first = runKeyed(make(), inputs, { complete: false });
    // Windows that ended by 95 are past their lateness at watermark 195: gone.
    expect(first.provider.committed('windows')).toHaveLength(1000 - 450);
    const op = make();
    const restored = runKeyed(op, [], { provider: new FakeProvider(first.provider.disksCopy()), meta: first.meta, complete: false });
    // 500 fired windows waiting out their lateness and 50 open ones, known without a read.
    expect(restored.provider.stores.get('windows')?.gets).toBe(0);
    expect(op.stats()).toMatchObject({ keys: 50, openWindows: 550 });
    // The open ones fire; windows past the lateness go from the store.
    const provider = new FakeProvider(first.provider.disksCopy());
    const rest = runKeyed(make(), [wm(250)], { provider, meta: first.meta, complete: false });
    expect(rest.outputs).toHaveLength(50);
    expect(rest.outputs.every((o) => o.type === 'final' && o.window.start === 190)).toBe(true);
    // Those that ended by 150 are past their lateness at 250.
    expect(provider.committed('windows')).toHaveLength(550 - 300);
  });

  it.each([
    ['tumbling', tumbling(10)],
    ['hopping', hopping(10, 5)],
  ] as const)('%s: fired windows expire by their start, numeric and string keys alike (1 is not "1"), on disk or in memory', (_name, window) => {
    type N = { readonly k: string | number; readonly v: number };
    const make = () => keyedWindow({ key: (x: N) => x.k, window, allowedLateness: 30, aggregate: count<N>() });
    const inputs: StreamEvent<N>[] = [];
    for (let w = 0; w < 10; w++) {
      for (let k = 0; k < 20; k++) {
        inputs.push({ kind: 'record', time: w * 10 + 1, value: { k, v: 1 } });
        inputs.push({ kind: 'record', time: w * 10 + 2, value: { k: String(k), v: 1 } });
      }
    }
    inputs.push(wm(100));
    const first = runKeyed(make(), inputs, { complete: false });
    const starts = (run: typeof first) => [...new Set(run.provider.committed('windows').map(([k]) => Number(k.slice(1, k.indexOf(':')))))].sort((a, b) => a - b);
    // Every window has fired by 100 (tumbling: starts 0..90, hopping: -5..90, 40 keys each);
    // those that started by 60 (end + lateness ≤ 100) are gone, whatever the key's type.
    expect(first.outputs.filter((o) => o.type === 'final')).toHaveLength(window.kind === 'hopping' ? 20 * 40 : 10 * 40);
    expect(starts(first)).toEqual(window.kind === 'hopping' ? [65, 70, 75, 80, 85, 90] : [70, 80, 90]);
    expect(first.provider.committed('windows')).toHaveLength((window.kind === 'hopping' ? 6 : 3) * 40);
    // Restored: a record within the lateness revises its windows; one past it is refused.
    const provider = new FakeProvider(first.provider.disksCopy());
    const op = make();
    const rest = runKeyed(op, [{ kind: 'record', time: 95, value: { k: 3, v: 1 } }, { kind: 'record', time: 55, value: { k: '3', v: 1 } }, wm(1000)], { provider, meta: first.meta, complete: false });
    expect(rest.outputs.map((o) => [o.type, o.key, o.window.start, o.value])).toEqual(
      window.kind === 'hopping' ? [['revision', 3, 90, 2], ['final', 3, 95, 1]] : [['revision', 3, 90, 2]],
    );
    // Past every window's lateness: nothing left, in the store or in the operator's count.
    expect(provider.committed('windows')).toEqual([]);
    expect(op.stats()).toMatchObject({ openWindows: 0, late: 1 });
  });

  it('refuses a snapshot from other settings and a second concurrent subscription', () => {
    const a = keyedWindow({ key: (x: R) => x.k, window: tumbling(10), aggregate: count<R>() });
    const b = keyedWindow({ key: (x: R) => x.k, window: tumbling(20), aggregate: count<R>() });
    expect(() => b.restore(a.snapshot())).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_STATE' }));
    const errors: unknown[] = [];
    const first = runSync(a, [r(1, 'x', 0)], false);
    expect(first).toEqual([]);
    testScheduler().run(({ cold }) => {
      const src = cold<StreamEvent<R>>('a', { a: r(1, 'x', 0) });
      src.pipe(a).subscribe();
      src.pipe(a).subscribe({ error: (e: unknown) => errors.push(e) });
    });
    expect(errors).toEqual([expect.objectContaining({ code: 'VIGIL_E_STREAM_STATE' })]);
  });
});
