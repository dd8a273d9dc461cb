import { positionStaleness, silenceDetector, type StreamEvent } from '../../src/stream';
import { checkpointRun, rec, runSync, wm } from './helpers';
import { restartRun, runKeyed } from './keyed-state-fake';

interface R {
  d: string | number;
  pos?: { lat: number; lon: number };
}

const make = () => silenceDetector({ key: (r: R) => r.d, after: 10 });

/** Keys of mixed types, bursts, late records, silences and returns. */
function mixed(): StreamEvent<R>[] {
  const inputs: StreamEvent<R>[] = [];
  for (let i = 0; i < 140; i++) {
    const k = (i * 3) % 5;
    if (i % 7 !== 3 && !(i > 40 && i < 70 && k === 2)) inputs.push(rec(i * 3 - (i % 9 === 0 ? 7 : 0), { d: k % 2 === 0 ? k : `k${k}` }));
    if (i % 4 === 0) inputs.push(wm(i * 3 - 2));
  }
  inputs.push(wm(1_000));
  return inputs;
}

describe('silenceDetector on keyed state', () => {
  it('writes only the keys an event changed, and nothing for a record that changes nothing', () => {
    const run = runKeyed(make(), [
      rec(0, { d: 'x' }), // 0: new key
      rec(5, { d: 'y' }), // 1: new key
      rec(7, { d: 'x' }), // 2: x's last record moves
      rec(3, { d: 'x' }), // 3: older than x's last record, x not silent: nothing changes
      wm(9), // 4: no timer due
      wm(12), // 5: x's timer (10) fires and re-arms at 17; y (15) not due
      wm(30), // 6: y silent at 15, then x at 17
      wm(40), // 7: nothing
      rec(41, { d: 'x' }), // 8: x resumed
      rec(41, { d: 'x' }), // 9: same time, same payload: nothing
    ]);
    expect(run.outputs).toEqual([
      { type: 'silent', key: 'y', time: 15, lastSeen: 5 },
      { type: 'silent', key: 'x', time: 17, lastSeen: 7 },
      { type: 'resumed', key: 'x', time: 41, lastSeen: 7 },
    ]);
    expect(run.calls).toEqual([
      [['set', 'keys', 'sx']],
      [['set', 'keys', 'sy']],
      [['changed', 'keys', 'sx']],
      [],
      [],
      [['changed', 'keys', 'sx']],
      [
        ['changed', 'keys', 'sy'],
        ['changed', 'keys', 'sx'],
      ],
      [],
      [['changed', 'keys', 'sx']],
      [],
    ]);
    // Every key seen stays watched (a silent key must still report its return), so no key
    // ever goes back to "never seen": nothing is deleted.
    expect(run.calls.flat().filter(([op]) => op === 'delete')).toEqual([]);
    expect(run.provider.committed('keys').map(([k]) => k).sort()).toEqual(['sx', 'sy']);
  });

  it('gives the same output with values evicted after every event, across restarts, and commits what snapshot() holds', () => {
    const inputs = mixed();
    const whole = runSync(make(), inputs);
    expect(whole.filter((e) => e.type === 'silent').length).toBeGreaterThan(3);
    expect(whole.filter((e) => e.type === 'resumed').length).toBeGreaterThan(1);
    // Numbers and strings stay apart, and a number key comes back a number.
    expect(whole.some((e) => e.key === 2 && e.type === 'silent')).toBe(true);
    const keyed = runKeyed(make(), inputs);
    expect(keyed.outputs).toEqual(whole);
    for (let cut = 0; cut <= inputs.length; cut += 9) expect(restartRun(make, inputs, cut)).toEqual(whole);

    const standalone = make();
    runSync(standalone, inputs);
    const snap = standalone.snapshot();
    expect(snap).toMatchObject({ operator: 'silenceDetector', version: 2, settings: 'after=10' });
    const sorted = (es: ReadonlyArray<readonly [string, unknown]>) => [...es].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(sorted(keyed.provider.committed('keys'))).toEqual(sorted(snap.stores.keys ?? []));
    for (let cut = 0; cut <= inputs.length; cut += 13) {
      const { uninterrupted, restored } = checkpointRun(make, inputs, cut);
      expect(restored).toEqual(uninterrupted);
    }
  });

  it('positionStaleness: a new position at the same time is a change, a reading without a fix is not', () => {
    const make = () => positionStaleness({ key: (r: R) => r.d, position: (r: R) => r.pos, maxAge: 10 });
    const p = { lat: 1, lon: 2 };
    const inputs = [rec(0, { d: 'x', pos: p }), rec(0, { d: 'x', pos: p }), rec(0, { d: 'x', pos: { lat: 1.5, lon: 2 } }), rec(4, { d: 'x' }), wm(20), rec(21, { d: 'x', pos: p })];
    const run = runKeyed(make(), inputs);
    expect(run.calls).toEqual([[['set', 'keys', 'sx']], [], [['changed', 'keys', 'sx']], [], [['changed', 'keys', 'sx']], [['changed', 'keys', 'sx']]]);
    expect(run.outputs).toEqual([
      { type: 'stale', key: 'x', time: 10, position: { lat: 1.5, lon: 2 }, positionTime: 0 },
      { type: 'fresh', key: 'x', time: 21, position: p, positionTime: 21 },
    ]);
    expect(run.outputs).toEqual(runSync(make(), inputs));
    for (let cut = 0; cut <= inputs.length; cut++) expect(restartRun(make, inputs, cut)).toEqual(run.outputs);
  });
});
