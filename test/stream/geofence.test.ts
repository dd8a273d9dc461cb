import { geofence, type Fence, type GeofenceOptions, type StreamEvent } from '../../src/stream';
import { checkpointRun, rec, runSync, wm } from './helpers';
import { FakeProvider, restartRun, runKeyed } from './keyed-state-fake';

interface P {
  d: string | number;
  lat: number;
  lon: number;
}

// Two squares of about 1.1 km side by side: base (lon 0 to 0.01) and yard (lon 0.02 to 0.03).
const base: Fence = { id: 'base', polygon: [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01]] };
const yard: Fence = { id: 'yard', polygon: [[0.02, 0], [0.03, 0], [0.03, 0.01], [0.02, 0.01]] };
const at = (t: number, lon: number, d: string | number = 'u1'): StreamEvent<P> => rec(t, { d, lat: 0.005, lon });
const make = (o: Partial<GeofenceOptions<P, string | number>> = {}) => () => geofence({ key: (r: P) => r.d, position: (r: P) => r, fences: [base, yard], ...o });

describe('geofence on keyed state', () => {
  it('keeps an entry only while a key is inside a fence or on a run towards one, and writes only what changed', () => {
    const run = runKeyed(make({ dwell: 60 })(), [
      at(0, -0.01), // 0: outside both: no entry
      at(10, 0.005), // 1: enters base
      at(20, 0.006), // 2: still inside, no dwell yet: nothing
      wm(30), // 3: nothing
      at(70, 0.006), // 4: dwell
      at(75, 0.004), // 5: nothing
      at(80, 0.025), // 6: exits base, enters yard
      at(90, 0.04), // 7: exits yard: outside both, the entry goes
      at(95, 0.05), // 8: still outside: nothing
    ]);
    expect(run.outputs.map((e) => [e.type, e.fence, e.time])).toEqual([
      ['enter', 'base', 10],
      ['dwell', 'base', 70],
      ['exit', 'base', 80],
      ['enter', 'yard', 80],
      ['exit', 'yard', 90],
    ]);
    expect(run.calls).toEqual([
      [],
      [['set', 'keys', 'su1']],
      [],
      [],
      [['changed', 'keys', 'su1']],
      [],
      [['changed', 'keys', 'su1']],
      [['delete', 'keys', 'su1']],
      [],
    ]);
    expect(run.provider.committed('keys')).toEqual([]);

    // confirmPoints 2: a run of one point towards a fence is state; its end returns the key to none.
    const runs = runKeyed(make({ confirmPoints: 2 })(), [
      at(0, 0.005, 7), // 0: one point inside base: a run, not an enter
      at(1, -0.01, 7), // 1: the run breaks: idle again
      at(2, 0.005, 7), // 2
      at(3, 0.005, 7), // 3: enters base
      at(4, 0.04, 7), // 4: one point outside: a run towards exit
      at(5, 0.005, 7), // 5: the run breaks, still inside
      at(6, 0.005, 7), // 6: nothing
    ]);
    expect(runs.outputs.map((e) => [e.type, e.key, e.fence, e.time])).toEqual([['enter', 7, 'base', 3]]);
    expect(runs.calls).toEqual([[['set', 'keys', 'n7']], [['delete', 'keys', 'n7']], [['set', 'keys', 'n7']], [['changed', 'keys', 'n7']], [['changed', 'keys', 'n7']], [['changed', 'keys', 'n7']], []]);
    // Only the fence the key is in is saved, by id.
    expect(runs.provider.committed('keys')).toEqual([['n7', [['base', true, 0, 3, false]]]]);
  });

  it('gives the same output with values evicted after every event and across restarts', () => {
    const inputs: StreamEvent<P>[] = [];
    for (let i = 0; i < 160; i++) {
      for (const [d, phase] of [['a', 0], ['b', 1.3], [3, 2.1]] as const) inputs.push(at(i * 10, 0.015 + Math.sin(i / 5 + phase) * 0.02, d));
      if (i % 9 === 0) inputs.push(wm(i * 10));
    }
    for (const options of [{ confirmPoints: 2, dwell: 40 }, { bufferMeters: 30, dwell: 0 }, {}]) {
      const build = make(options);
      const whole = runSync(build(), inputs);
      expect(whole.filter((e) => e.type === 'exit').length).toBeGreaterThan(5);
      expect(runKeyed(build(), inputs).outputs).toEqual(whole);
      for (let cut = 0; cut <= inputs.length; cut += 37) expect(restartRun(build, inputs, cut)).toEqual(whole);
      for (let cut = 0; cut <= inputs.length; cut += 53) expect(checkpointRun(build, inputs, cut).restored).toEqual(whole);
    }
  });

  it('drops the state of a fence no longer configured and starts an added one idle', () => {
    const first = runKeyed(make()(), [at(0, 0.005), at(1, 0.025, 'v')], { complete: false });
    expect(first.provider.committed('keys')).toEqual([
      ['su1', [['base', true, 0, 0, false]]],
      ['sv', [['yard', true, 0, 1, false]]],
    ]);
    const next = geofence({ key: (r: P) => r.d, position: (r: P) => r, fences: [yard] });
    const rest = runKeyed(next, [at(2, 0.005), at(3, 0.04, 'v')], { provider: new FakeProvider(first.provider.disksCopy()), meta: first.meta });
    expect(rest.outputs.map((e) => [e.type, e.key, e.fence])).toEqual([['exit', 'v', 'yard']]);
  });
});
