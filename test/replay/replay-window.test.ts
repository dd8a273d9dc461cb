import fc from 'fast-check';
import { ReplayWindow } from '../../src/replay';

describe('ReplayWindow', () => {
  it('accepts fresh numbers once, in or out of order, and refuses replays', () => {
    const w = new ReplayWindow(64);
    expect(w.highest()).toBe(-1n);
    for (const s of [5n, 3n, 10n, 4n]) expect(w.accept(s)).toBe(true);
    expect(w.check(3n)).toBe('replay');
    expect(w.check(10n)).toBe('replay');
    expect(w.check(6n)).toBe('fresh');
    expect(w.accept(5n)).toBe(false);
    expect(w.highest()).toBe(10n);
  });

  it('refuses numbers older than the window as too old', () => {
    const w = new ReplayWindow(64);
    w.accept(100n);
    expect(w.check(37n)).toBe('fresh'); // 100 - 37 = 63 < 64: still inside
    expect(w.check(36n)).toBe('too-old');
    expect(w.accept(36n)).toBe(false);
    expect(w.check(0n)).toBe('too-old');
  });

  it('clears the bits it slides over, also on a jump larger than the window', () => {
    const w = new ReplayWindow(64);
    for (let s = 0n; s < 64n; s++) w.accept(s);
    w.accept(70n); // slides over 64..70, whose ring positions held 0..6
    for (let s = 64n; s < 70n; s++) expect(w.check(s)).toBe('fresh');
    w.accept(10_000n);
    expect(w.check(9_999n)).toBe('fresh');
    expect(w.check(70n)).toBe('too-old');
  });

  it('handles the whole u64 range', () => {
    const w = new ReplayWindow(64);
    const max = 2n ** 64n - 1n;
    expect(w.accept(max - 1n)).toBe(true);
    expect(w.accept(max)).toBe(true);
    expect(w.check(max - 1n)).toBe('replay');
    expect(w.check(max - 63n)).toBe('fresh');
    expect(w.check(max - 64n)).toBe('too-old');
  });

  it('snapshots and restores to the same verdicts', () => {
    const w = new ReplayWindow(128);
    for (const s of [1n, 7n, 300n, 299n, 250n]) w.accept(s);
    const copy = ReplayWindow.restore(JSON.parse(JSON.stringify(w.snapshot())), 128);
    for (let s = 0n; s < 400n; s++) expect(copy.check(s)).toBe(w.check(s));
    expect(() => ReplayWindow.restore(w.snapshot(), 256)).toThrow(/expected 256/);
  });

  it('rejects window sizes that are not powers of two', () => {
    expect(() => new ReplayWindow(100)).toThrow(RangeError);
    expect(() => new ReplayWindow(32)).toThrow(RangeError);
  });

  it('agrees with a brute-force model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 600n }), { maxLength: 300 }), (seqs) => {
        const w = new ReplayWindow(64);
        const seen = new Set<bigint>();
        let top = -1n;
        for (const s of seqs) {
          const expected = s > top ? 'fresh' : top - s >= 64n ? 'too-old' : seen.has(s) ? 'replay' : 'fresh';
          expect(w.check(s)).toBe(expected);
          expect(w.accept(s)).toBe(expected === 'fresh');
          if (expected === 'fresh') {
            seen.add(s);
            if (s > top) top = s;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
