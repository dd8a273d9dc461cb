import fc from 'fast-check';
import { Subject } from 'rxjs';
import { VigilError } from '../../src/errors';
import { rateDetector, thresholdDetector, type RateEvent, type RateKeySnapshot, type RateOptions, type RateSnapshot, type StreamEvent } from '../../src/stream';
import { checkpointRun, rec, runSync, testScheduler, wm } from './helpers';
import { FakeProvider, runKeyed } from './keyed-state-fake';

interface F {
  d: string;
}
const f = (time: number, d = 'x'): StreamEvent<F> => rec(time, { d });
const key = (r: F): string => r.d;
const make = (o: Omit<RateOptions<F, string>, 'key'>) => rateDetector<F, string>({ key, ...o });
const raised = (k: string, time: number, count: number, since: number): RateEvent<string> => ({ type: 'raised', key: k, time, count, since });
const cleared = (k: string, time: number, count: number, since: number): RateEvent<string> => ({ type: 'cleared', key: k, time, count, since });
/** The record times each key holds, from a snapshot's store `keys` (store key → times). */
const heldTimes = (snapshot: RateSnapshot): Array<[string, readonly number[]]> => (snapshot.stores.keys ?? []).map(([k, saved]) => [k, (saved as RateKeySnapshot)[0]]);

describe('rateDetector', () => {
  it('raises on the record that reaches the count, once, and clears when the watermark passes the expiry (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<F>>('abcdvw|', {
        a: f(0),
        b: f(2),
        c: f(4), // third record within 10 ms: raised here, no watermark needed
        d: f(6), // still raised: nothing
        v: wm(12), // the count falls to 2 at 12 (record 2 expires), but records at 12 may still come
        w: wm(13),
      });
      expectObservable(input.pipe(make({ over: 10, raise: 3 }))).toBe('--r--c|', {
        r: raised('x', 4, 3, 0),
        c: cleared('x', 12, 2, 4),
      });
    });
  });

  it('waits for the watermark to clear even when a newer record has already shown the count fell (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = cold<StreamEvent<F>>('abcdvw|', { a: f(0), b: f(1), c: f(2), d: f(50), v: wm(10), w: wm(11) });
      expectObservable(input.pipe(make({ over: 10, raise: 3 }))).toBe('--r--c|', {
        r: raised('x', 2, 3, 0),
        c: cleared('x', 10, 2, 2), // record 0 expired at 10; record 50 does not count at 10
      });
    });
  });

  it('does not flap: records while raised emit nothing, a new burst after the clear raises again', () => {
    const burst = (from: number) => [0, 1, 2, 3, 4, 5].map((i) => f(from + i));
    const out = runSync(make({ over: 10, raise: 3 }), [...burst(0), wm(100), ...burst(200), wm(300)]);
    expect(out).toEqual([raised('x', 2, 3, 0), cleared('x', 13, 2, 2), raised('x', 202, 3, 200), cleared('x', 213, 2, 202)]);
  });

  it('holds the alarm in the hysteresis band when clear < raise - 1', () => {
    const input = [f(0), f(1), f(2), f(11), wm(12), wm(30)];
    // clear 1: at 11 the count is 2 (records 2 and 11), inside the band; it falls to 1 at 12.
    expect(runSync(make({ over: 10, raise: 3, clear: 1 }), input)).toEqual([raised('x', 2, 3, 0), cleared('x', 12, 1, 2)]);
    // default clear 2: the count fell to 2 at 10, before record 11; emitted once the watermark passes 10.
    expect(runSync(make({ over: 10, raise: 3 }), input)).toEqual([raised('x', 2, 3, 0), cleared('x', 10, 2, 2)]);
    // clear 0: only when every record has expired.
    expect(runSync(make({ over: 10, raise: 3, clear: 0 }), input)).toEqual([raised('x', 2, 3, 0), cleared('x', 21, 0, 2)]);
  });

  it('emits a clear settled by a newer record before raising the key again, so events alternate', () => {
    const out = runSync(make({ over: 10, raise: 3 }), [f(0), f(1), f(2), f(50), f(51), f(52), wm(61)]);
    expect(out).toEqual([raised('x', 2, 3, 0), cleared('x', 10, 2, 2), raised('x', 52, 3, 50), cleared('x', 60, 2, 52)]);
  });

  it('counts late records in order and ignores records already expired against the watermark', () => {
    const op = make({ over: 10, raise: 3 });
    const out = runSync(op, [
      f(10),
      f(15),
      wm(13),
      f(2), // 2 + 10 <= 13: expired, ignored
      f(3), // expired
      f(12), // late but live: 10, 12, 15 are within 10 ms at 15
      wm(21),
    ]);
    expect(out).toEqual([raised('x', 15, 3, 10), cleared('x', 20, 2, 15)]);
    expect(op.stats()).toMatchObject({ expired: 2, raises: 1, clears: 1 });

    // A late record completing a burst between older records: raised at the time the span
    // held three records, and the clear that the newer record 30 settles.
    const mid = runSync(make({ over: 10, raise: 3 }), [f(0), f(5), f(30), f(3), wm(10), wm(11)]);
    expect(mid).toEqual([raised('x', 5, 3, 0), cleared('x', 10, 2, 5)]);

    // The boundary: t + over == watermark is expired, t + over > watermark counts.
    const edge = make({ over: 10, raise: 2 });
    expect(runSync(edge, [wm(20), f(10), f(10), f(11), f(11)])).toEqual([raised('x', 11, 2, 11)]);
    expect(edge.stats().expired).toBe(2);
  });

  it('counts records with equal times separately and keeps keys independent', () => {
    const out = runSync(make({ over: 10, raise: 2 }), [f(0, 'x'), f(1, 'y'), f(20, 'x'), f(5, 'y'), f(7, 'z'), f(7, 'z'), f(7, 'z'), wm(16)]);
    expect(out).toEqual([raised('y', 5, 2, 1), raised('z', 7, 2, 7), cleared('y', 11, 1, 5)]);
  });

  it('emits nothing on completion, even while raised or with a settled clear pending', () => {
    expect(runSync(make({ over: 10, raise: 2 }), [f(0), f(1)])).toEqual([raised('x', 1, 2, 0)]);
    expect(runSync(make({ over: 10, raise: 2 }), [f(0), f(1), f(30), wm(5)])).toEqual([raised('x', 1, 2, 0)]);
  });

  it('keeps memory bounded: at most `raise` times per key, and idle keys are forgotten', () => {
    const op = make({ over: 10, raise: 4 });
    const src = new Subject<StreamEvent<F>>();
    const out: RateEvent<string>[] = [];
    const sub = src.pipe(op).subscribe((e) => out.push(e));
    let maxKeys = 0;
    for (let i = 0; i < 5000; i++) {
      src.next(f(i * 3, `k${i}`));
      if (i % 10 === 9) src.next(wm(i * 3 - 5));
      maxKeys = Math.max(maxKeys, op.stats().keys);
    }
    // A chatty key: thousands of records, raised, still only `raise` timestamps.
    for (let t = 15_000; t < 20_000; t++) src.next(f(t, 'chatty'));
    const held = heldTimes(op.snapshot()).find(([k]) => k === 'schatty');
    expect(held?.[1]).toEqual([19_996, 19_997, 19_998, 19_999]);
    expect(out).toEqual([raised('chatty', 15_003, 4, 15_000)]);
    src.next(wm(20_100));
    sub.unsubscribe();
    expect(out).toEqual([raised('chatty', 15_003, 4, 15_000), cleared('chatty', 20_006, 3, 15_003)]);
    expect(maxKeys).toBeLessThanOrEqual(20);
    expect(op.stats()).toMatchObject({ keys: 0, raised: 0, timers: 0 });
    // No key held, so no timer either (each key lists its own timer entries).
    expect(op.snapshot()).toMatchObject({ stores: { keys: [] } });
  });

  it('restores mid-stream with identical output, and refuses snapshots of other settings or operators', () => {
    const inputs: StreamEvent<F>[] = [];
    for (let i = 0; i < 160; i++) {
      const d = `k${(i * i) % 3}`;
      const t = i * 2 + ((i * 7) % 5) - (i % 11 === 0 ? 8 : 0); // bursts, gaps and some late records
      if (i % 23 < 12) inputs.push(f(t, d));
      if (i % 6 === 0) inputs.push(wm(i * 2 - 6));
    }
    inputs.push(wm(1_000));
    const build = () => make({ over: 12, raise: 4, clear: 1 });
    const whole = runSync(build(), inputs);
    expect(whole.filter((e) => e.type === 'raised').length).toBeGreaterThan(3);
    expect(whole.filter((e) => e.type === 'cleared').length).toBe(whole.filter((e) => e.type === 'raised').length);
    for (let cut = 0; cut <= inputs.length; cut += 7) {
      const { uninterrupted, restored, snapshot } = checkpointRun(build, inputs, cut);
      expect(restored).toEqual(uninterrupted);
      expect(snapshot).toMatchObject({ operator: 'rateDetector', version: 2, settings: 'over=12;raise=4;clear=1' });
      for (const [, times] of heldTimes(snapshot)) expect(times.length).toBeLessThanOrEqual(4);
    }

    const first = build();
    runSync(first, inputs.slice(0, 50), false);
    const snap = JSON.parse(JSON.stringify(first.snapshot())) as RateSnapshot;
    const other = make({ over: 12, raise: 4, clear: 2 });
    expect(() => other.restore(snap)).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_STATE' }));
    expect(() => other.restore(snap)).toThrow(/settings over=12;raise=4;clear=1, this operator has over=12;raise=4;clear=2/);
    const threshold = thresholdDetector({ key, value: () => 0, raise: 1, clear: 0 }).snapshot();
    expect(() => build().restore(threshold as unknown as RateSnapshot)).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_STATE' }));
  });

  it('rejects bad options, naming the option', () => {
    const bad: Array<[unknown, string]> = [
      [{ over: 10, raise: 3, clear: 3 }, 'clear'],
      [{ over: 10, raise: 3, clear: 5 }, 'clear'],
      [{ over: 10, raise: 3, clear: -1 }, 'clear'],
      [{ over: 10, raise: 3, clear: 1.5 }, 'clear'],
      [{ over: 10, raise: 2.5 }, 'raise'],
      [{ over: 10, raise: 0 }, 'raise'],
      [{ over: 10 }, 'raise'],
      [{ over: 0, raise: 3 }, 'over'],
      [{ over: -5, raise: 3 }, 'over'],
      [{ over: Number.NaN, raise: 3 }, 'over'],
      [{ over: Infinity, raise: 3 }, 'over'],
    ];
    for (const [o, option] of bad) {
      let err: unknown;
      try {
        rateDetector({ key, ...(o as object) } as RateOptions<F, string>);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(VigilError);
      expect(err).toMatchObject({ code: 'VIGIL_E_STREAM_OPTIONS', details: { operator: 'rateDetector', option } });
      expect((err as Error).message).toContain(`option "${option}"`);
    }
    expect(() => rateDetector({ over: 10, raise: 3 } as unknown as RateOptions<F, string>)).toThrow(/option "key"/);
    expect(() => rateDetector(null as unknown as RateOptions<F, string>)).toThrow(expect.objectContaining({ code: 'VIGIL_E_STREAM_OPTIONS' }));
    expect(() => make({ over: 0.5, raise: 1, clear: 0 })).not.toThrow();
  });
});

describe('rateDetector on keyed state', () => {
  it('writes only the keys an event changed, and deletes a key once it is forgotten', () => {
    const run = runKeyed(make({ over: 10, raise: 2 }), [
      f(0, 'x'), // 0: new key
      f(1, 'y'), // 1: new key
      f(2, 'x'), // 2: x raised
      f(-1, 'x'), // 3: older than the 2 times x holds, and changes no outcome: nothing written
      wm(5), // 4: nothing due
      wm(11), // 5: x clears at 10 and waits until 20 to be forgotten; y (due 11) not yet
      wm(12), // 6: y forgotten: deleted
      wm(25), // 7: x forgotten: deleted
    ]);
    expect(run.outputs).toEqual([raised('x', 2, 2, 0), cleared('x', 10, 1, 2)]);
    expect(run.calls).toEqual([
      [['set', 'keys', 'sx']],
      [['set', 'keys', 'sy']],
      [['changed', 'keys', 'sx']],
      [],
      [],
      [['changed', 'keys', 'sx']],
      [['delete', 'keys', 'sy']],
      [['delete', 'keys', 'sx']],
    ]);
    expect(run.provider.committed('keys')).toEqual([]);
  });

  it('gives the same output and stats with values evicted after every event and across restarts', () => {
    const inputs: StreamEvent<F>[] = [];
    for (let i = 0; i < 200; i++) {
      const t = i * 2 + ((i * 7) % 5) - (i % 11 === 0 ? 8 : 0);
      if (i % 23 < 12) inputs.push(f(t, `k${(i * i) % 4}`));
      if (i % 6 === 0) inputs.push(wm(i * 2 - 6));
    }
    inputs.push(wm(1_000));
    const build = () => make({ over: 12, raise: 4, clear: 1 });
    const whole = build();
    const expected = runSync(whole, inputs);
    expect(expected.filter((e) => e.type === 'cleared').length).toBeGreaterThan(3);
    const keyed = build();
    expect(runKeyed(keyed, inputs).outputs).toEqual(expected);
    expect(keyed.stats()).toEqual(whole.stats());
    for (let cut = 0; cut <= inputs.length; cut += 11) {
      const before = build();
      runSync(before, inputs.slice(0, cut), false);
      const first = runKeyed(build(), inputs.slice(0, cut), { complete: false });
      const second = build();
      second.bindState(new FakeProvider(first.provider.disksCopy()));
      second.restoreMeta(first.meta);
      // Keys held, raised and timer index (stale entries included) as they were.
      expect(second.stats()).toEqual(before.stats());
      const provider = new FakeProvider(first.provider.disksCopy());
      const rest = runKeyed(build(), inputs.slice(cut), { provider, meta: first.meta });
      expect([...first.outputs, ...rest.outputs]).toEqual(expected);
    }
  });
});

// ---- properties -------------------------------------------------------------------

interface Settings {
  over: number;
  raise: number;
  clear: number;
}
const settingsArb: fc.Arbitrary<Settings> = fc
  .tuple(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 1, max: 5 }), fc.nat())
  .map(([over, raise, c]) => ({ over, raise, clear: c % raise }));

/** Runs events one at a time, recording which input index produced each output. */
function trace(op: ReturnType<typeof make>, events: readonly StreamEvent<F>[]): Array<{ at: number; e: RateEvent<string> }> {
  const src = new Subject<StreamEvent<F>>();
  const out: Array<{ at: number; e: RateEvent<string> }> = [];
  let at = -1;
  const sub = src.pipe(op).subscribe((e) => out.push({ at, e }));
  for (const ev of events) {
    at++;
    src.next(ev);
  }
  src.complete();
  sub.unsubscribe();
  return out;
}

/**
 * The exact answer from a key's whole history, for records arriving in time order with no
 * record behind the watermark: count(s) = #{t_i <= s < t_i + over}. Raised at the first
 * arrival that brings the count to `raise` after the last clear; cleared at the first
 * expiry time after the raise where the count is <= clear, emitted once a watermark
 * passes it or the key raises again.
 */
function reference(times: readonly number[], s: Settings, finalWatermark: number, k: string): RateEvent<string>[] {
  const countAt = (e: number) => times.filter((t) => t <= e && t + s.over > e).length;
  const out: RateEvent<string>[] = [];
  const raiseAfter = (floor: number): RateEvent<string> | null => {
    for (let i = 0; i < times.length; i++) {
      const x = times[i] as number;
      if (x <= floor) continue;
      const live = times.slice(0, i + 1).filter((t) => t + s.over > x);
      if (live.length >= s.raise) return raised(k, x, live.length, live[0] as number);
    }
    return null;
  };
  let next = raiseAfter(-Infinity);
  while (next !== null) {
    out.push(next);
    const at = next.time;
    const e = times
      .map((t) => t + s.over)
      .filter((x) => x > at && countAt(x) <= s.clear)
      .reduce((a, b) => Math.min(a, b), Infinity);
    next = raiseAfter(e);
    if (e < finalWatermark || next !== null) out.push(cleared(k, e, countAt(e), at));
  }
  return out;
}

describe('rateDetector properties', () => {
  it('matches a brute-force reference when records of a key arrive in time order', () => {
    const keyTimes = fc.array(fc.constantFrom(0, 0, 1, 1, 2, 3, 5, 8, 13, 21), { maxLength: 25 }).map((steps) => {
      let t = 0;
      return steps.map((d) => (t += d));
    });
    fc.assert(
      fc.property(settingsArb, fc.tuple(keyTimes, keyTimes, keyTimes), fc.array(fc.nat({ max: 3 }), { maxLength: 80 }), fc.boolean(), (s, perKey, picks, drain) => {
        // Interleave the keys (each in order) and put watermarks no later than any record still to come.
        const queues = perKey.map((ts) => [...ts]);
        const events: StreamEvent<F>[] = [];
        let p = 0;
        let last: StreamEvent<F> | undefined;
        while (queues.some((q) => q.length > 0)) {
          const pick = picks[p++ % Math.max(1, picks.length)] ?? 0;
          if (pick === 3 && last?.kind !== 'watermark') {
            last = wm(Math.min(...queues.flat()));
            events.push(last);
            continue;
          }
          const q = queues.filter((x) => x.length > 0);
          const qi = queues.indexOf(q[pick % q.length] as number[]);
          last = f((queues[qi] as number[]).shift() as number, `k${qi}`);
          events.push(last);
        }
        const final = drain ? 1_000 : -Infinity;
        if (drain) events.push(wm(final));
        const watermarks = events.filter((e) => e.kind === 'watermark').map((e) => e.time);
        const lastWm = watermarks.length > 0 ? Math.max(...watermarks) : -Infinity;
        const out = trace(make(s), events).map((o) => o.e);
        perKey.forEach((ts, i) => {
          const k = `k${i}`;
          expect(out.filter((e) => e.key === k)).toEqual(reference(ts, s, lastWm, k));
        });
      }),
      { numRuns: 300 },
    );
  });

  it('on any order of records and watermarks: alternating events, clears only after the watermark, bounded state, seamless restore', () => {
    const eventArb = fc.oneof(
      { weight: 5, arbitrary: fc.record({ time: fc.integer({ min: 0, max: 60 }), d: fc.constantFrom('a', 'b', 'c') }).map((r) => f(r.time, r.d)) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 70 }).map((t) => wm(t)) },
    );
    fc.assert(
      fc.property(settingsArb, fc.array(eventArb, { maxLength: 60 }), fc.nat(), (s, body, cutSeed) => {
        const events = [...body, wm(60 + 2 * s.over + 1)];
        const op = make(s);
        const out = trace(op, events);
        let watermark = -Infinity;
        const seen = new Map<string, RateEvent<string>>();
        let i = 0;
        for (let at = 0; at < events.length; at++) {
          const ev = events[at] as StreamEvent<F>;
          if (ev.kind === 'watermark') watermark = Math.max(watermark, ev.time);
          for (; i < out.length && (out[i] as { at: number }).at === at; i++) {
            const e = (out[i] as { e: RateEvent<string> }).e;
            const prev = seen.get(e.key);
            if (e.type === 'raised') {
              expect(prev === undefined || prev.type === 'cleared').toBe(true);
              if (prev !== undefined) expect(e.time).toBeGreaterThan(prev.time);
              expect(e.count).toBeGreaterThanOrEqual(s.raise);
              expect(e.since).toBeLessThanOrEqual(e.time);
              expect(e.time - e.since).toBeLessThan(s.over);
            } else {
              expect(prev?.type).toBe('raised');
              expect(e.since).toBe(prev?.time);
              expect(e.time).toBeGreaterThan(e.since);
              expect(e.count).toBeLessThanOrEqual(s.clear);
              // Judged in event time: the watermark has passed it, or the key raises again right away.
              const then = out[i + 1];
              const reraise = then !== undefined && then.at === at && then.e.key === e.key && then.e.type === 'raised';
              expect(e.time < watermark || reraise).toBe(true);
            }
            seen.set(e.key, e);
          }
        }
        // Everything raised is cleared by the final watermark, and nothing is held after it.
        for (const e of seen.values()) expect(e.type).toBe('cleared');
        expect(op.stats()).toMatchObject({ keys: 0, raised: 0, timers: 0 });

        const cut = cutSeed % (events.length + 1);
        const build = () => make(s);
        const { uninterrupted, restored, snapshot } = checkpointRun(build, events, cut);
        expect(restored).toEqual(uninterrupted);
        for (const [, times] of heldTimes(snapshot)) {
          expect(times.length).toBeLessThanOrEqual(s.raise);
          expect([...times].sort((a, b) => a - b)).toEqual(times);
        }
      }),
      { numRuns: 300 },
    );
  });
});
