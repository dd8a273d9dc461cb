import { anomalyDetector, type AnomalyOptions, type StreamEvent } from '../../src/stream';
import { checkpointRun, rec, runSync } from './helpers';
import { restartRun, runKeyed } from './keyed-state-fake';

interface R {
  d: string | number;
  v: number;
}

const make = (baseline: AnomalyOptions<R, string | number>['baseline']) => () => anomalyDetector({ key: (r: R) => r.d, value: (r: R) => r.v, baseline, warmup: 3 });

describe('anomalyDetector on keyed state', () => {
  it('writes only the key of each record that joins a baseline', () => {
    const run = runKeyed(make({ kind: 'rolling', window: 4 })(), [
      rec(0, { d: 'x', v: 10 }), // 0: new key
      rec(1, { d: 'y', v: 10 }), // 1: new key
      rec(2, { d: 'x', v: Number.NaN }), // 2: not a value: nothing
      rec(3, { d: 'x', v: 11 }), // 3
      rec(4, { d: 'x', v: 10 }), // 4
      rec(5, { d: 'x', v: 90 }), // 5: a spike, and it joins the baseline
      { kind: 'watermark', time: 5 }, // 6: nothing
      rec(6, { d: 1, v: 5 }), // 7: a number key, apart from "1"
      rec(7, { d: '1', v: 5 }), // 8
    ]);
    expect(run.outputs.map((e) => [e.type, e.key, e.time])).toEqual([['spike', 'x', 5]]);
    expect(run.calls).toEqual([
      [['set', 'keys', 'sx']],
      [['set', 'keys', 'sy']],
      [],
      [['changed', 'keys', 'sx']],
      [['changed', 'keys', 'sx']],
      [['changed', 'keys', 'sx']],
      [],
      [['set', 'keys', 'n1']],
      [['set', 'keys', 's1']],
    ]);
    // A baseline only grows (every value joins it): no key returns to "never seen", none is deleted.
    expect(run.calls.flat().filter(([op]) => op === 'delete')).toEqual([]);
    // EWMA entries carry no ring.
    const ewma = runKeyed(make({ kind: 'ewma', alpha: 0.5 })(), [rec(0, { d: 'x', v: 4 }), rec(1, { d: 'x', v: 6 })]);
    expect(ewma.provider.committed('keys')).toEqual([['sx', [2, 5, 1]]]);
  });

  it('gives the same output with values evicted after every event and across restarts', () => {
    const inputs: StreamEvent<R>[] = Array.from({ length: 150 }, (_, i) => rec(i, { d: i % 3 === 0 ? 7 : `k${i % 2}`, v: i % 17 === 0 ? 500 : i % 29 === 0 ? Number.NaN : 50 + (i % 5) }));
    for (const baseline of [{ kind: 'ewma' as const, alpha: 0.2 }, { kind: 'rolling' as const, window: 12 }]) {
      const build = make(baseline);
      const whole = runSync(build(), inputs);
      expect(whole.length).toBeGreaterThan(3);
      expect(runKeyed(build(), inputs).outputs).toEqual(whole);
      for (let cut = 0; cut <= inputs.length; cut += 13) expect(restartRun(build, inputs, cut)).toEqual(whole);
      const { restored, snapshot } = checkpointRun(build, inputs, 70);
      expect(restored).toEqual(whole);
      expect(snapshot).toMatchObject({ operator: 'anomalyDetector', version: 2 });
      expect((snapshot.stores.keys ?? []).map(([k]) => k).sort()).toEqual(['n7', 'sk0', 'sk1']);
    }
  });
});
