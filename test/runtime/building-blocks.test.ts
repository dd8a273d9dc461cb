import { map } from 'rxjs';
import { makeLabel, MAX_PROVENANCE_ENTRIES } from '../../src/codec';
import { generateStreamKey, StreamKeyring } from '../../src/crypto';
import { isVigilError } from '../../src/errors';
import { combinedLabel, definePipeline, frameRanges, withinCeiling } from '../../src/runtime';
import { RecordKind, entryRecordKey, metaRecordKey, openState, parseRecordKey, sealState, statePlain } from '../../src/state/changelog-codec';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

const build = (): never => {
  throw new Error('not built in these tests');
};

describe('definePipeline', () => {
  it('freezes a valid definition with defaults and the kinds of its sources', () => {
    const d = definePipeline({ name: 'power.stats', sources: ['telemetry.power', 'telemetry.vitals'], build: (events$) => events$.pipe(map(() => ({ key: 'k', windowStartMs: 0, windowEndMs: 0, values: {} }))) });
    expect(d).toMatchObject({ name: 'power.stats', kinds: ['power', 'vitals'], maxOutOfOrderness: 5_000, dedupeWindow: 1024 });
    expect(Object.isFrozen(d)).toBe(true);
    expect(d.ceiling).toBeUndefined();
  });

  it.each([
    ['a bad name', { name: 'bad name!', sources: ['telemetry.power'], build }],
    ['no sources', { name: 'p', sources: [], build }],
    ['a source that is not telemetry.<kind>', { name: 'p', sources: ['derived.x'], build }],
    ['an unknown kind', { name: 'p', sources: ['telemetry.sonar'], build }],
    ['a repeated source', { name: 'p', sources: ['telemetry.power', 'telemetry.power'], build }],
    ['a malformed ceiling', { name: 'p', sources: ['telemetry.power'], ceiling: { level: 'COSMIC', releasability: [] }, build }],
    ['a negative out-of-orderness', { name: 'p', sources: ['telemetry.power'], watermarks: { maxOutOfOrderness: -1 }, build }],
    ['a dedupe window not a multiple of 32', { name: 'p', sources: ['telemetry.power'], dedupeWindow: 100, build }],
    ['no build function', { name: 'p', sources: ['telemetry.power'] }],
  ])('refuses %s with VIGIL_E_PIPELINE_OPTIONS', (_what, spec) => {
    expect(codeOf(() => definePipeline(spec as never))).toBe('VIGIL_E_PIPELINE_OPTIONS');
  });
});

describe('withinCeiling', () => {
  const ceiling = makeLabel('SECRET', ['GBR', 'USA']);
  it.each([
    [makeLabel('SECRET', ['GBR', 'USA']), true],
    [makeLabel('CONFIDENTIAL', ['CAN', 'GBR', 'USA']), true],
    [makeLabel('UNCLASSIFIED', ['GBR', 'NATO', 'USA']), true],
    [makeLabel('TOP_SECRET', ['GBR', 'USA']), false],
    [makeLabel('SECRET', ['GBR']), false],
    [makeLabel('RESTRICTED', []), false],
  ])('%j within SECRET//GBR,USA: %s', (label, ok) => {
    expect(withinCeiling(label, ceiling)).toBe(ok);
  });
});

describe('combinedLabel', () => {
  it('takes the highest level and the intersection of releasability, and survives save/load', () => {
    const agg = combinedLabel<{ label: ReturnType<typeof makeLabel> }>();
    let acc = agg.create();
    expect(agg.result(acc)).toBeUndefined();
    acc = agg.add(acc, { label: makeLabel('CONFIDENTIAL', ['FRA', 'GBR', 'USA']) }, 0);
    acc = agg.add(acc, { label: makeLabel('SECRET', ['GBR', 'USA']) }, 0);
    const other = agg.add(agg.create(), { label: makeLabel('RESTRICTED', ['GBR']) }, 0);
    acc = agg.merge(acc, other);
    expect(agg.result(acc)).toEqual(makeLabel('SECRET', ['GBR']));
    expect(agg.result(agg.load(JSON.parse(JSON.stringify(agg.save(acc)))))).toEqual(makeLabel('SECRET', ['GBR']));
  });
});

describe('frameRanges', () => {
  const agg = frameRanges<{ deviceId: string; seq: bigint }>();
  const feed = (items: Array<[string, number]>): ReturnType<typeof agg.create> => items.reduce((acc, [deviceId, seq]) => agg.add(acc, { deviceId, seq: BigInt(seq) }, 0), agg.create());

  it('keeps inclusive ranges per device, merging out-of-order and touching sequences', () => {
    const acc = feed([['b', 9], ['a', 1], ['a', 2], ['a', 5], ['a', 3], ['a', 7], ['a', 4], ['b', 8], ['a', 2]]);
    expect(agg.result(acc)).toEqual([
      { deviceId: 'a', firstSeq: 1n, lastSeq: 5n },
      { deviceId: 'a', firstSeq: 7n, lastSeq: 7n },
      { deviceId: 'b', firstSeq: 8n, lastSeq: 9n },
    ]);
    const merged = agg.merge(feed([['a', 6]]), acc);
    expect(agg.result(merged)).toEqual([
      { deviceId: 'a', firstSeq: 1n, lastSeq: 7n },
      { deviceId: 'b', firstSeq: 8n, lastSeq: 9n },
    ]);
    // u64 sequences survive a JSON round trip exactly.
    const big = agg.add(agg.create(), { deviceId: 'c', seq: 2n ** 64n - 1n }, 0);
    expect(agg.result(agg.load(JSON.parse(JSON.stringify(agg.save(big)))))).toEqual([{ deviceId: 'c', firstSeq: 2n ** 64n - 1n, lastSeq: 2n ** 64n - 1n }]);
    // A device past 2^53 (kept as bigints from then on) next to small sequences, in and out of order.
    let mixed = agg.create();
    for (const seq of [5n, 2n ** 60n, 6n, 2n ** 60n + 1n, 2n ** 53n - 1n, 2n ** 53n, 4n]) mixed = agg.add(mixed, { deviceId: 'd', seq }, 0);
    const expectedMixed = [
      { deviceId: 'd', firstSeq: 4n, lastSeq: 6n },
      { deviceId: 'd', firstSeq: 2n ** 53n - 1n, lastSeq: 2n ** 53n },
      { deviceId: 'd', firstSeq: 2n ** 60n, lastSeq: 2n ** 60n + 1n },
    ];
    expect(agg.result(mixed)).toEqual(expectedMixed);
    expect(agg.result(agg.load(JSON.parse(JSON.stringify(agg.save(mixed)))))).toEqual(expectedMixed);
    expect(agg.result(agg.merge(feed([['d', 3], ['e', 1]]), mixed))).toEqual([{ deviceId: 'd', firstSeq: 3n, lastSeq: 6n }, ...expectedMixed.slice(1), { deviceId: 'e', firstSeq: 1n, lastSeq: 1n }]);
  });

  it('tracks many devices in one window (indexed past a few) and saves in the same format as before', () => {
    const items: Array<[string, number]> = [];
    for (let i = 0; i < 400; i++) items.push([`d${(i * 37) % 50}`, 100 + Math.floor(i / 50) * (i % 3 === 0 ? 2 : 1)]);
    const acc = feed(items);
    const reference = new Map<string, Set<number>>();
    for (const [d, q] of items) reference.set(d, (reference.get(d) ?? new Set()).add(q));
    const expected: Array<{ deviceId: string; firstSeq: bigint; lastSeq: bigint }> = [];
    for (const d of [...reference.keys()].sort()) {
      const seqs = [...(reference.get(d) as Set<number>)].sort((a, b) => a - b);
      let first = seqs[0] as number;
      for (let i = 1; i <= seqs.length; i++) {
        if (i < seqs.length && seqs[i] === (seqs[i - 1] as number) + 1) continue;
        expected.push({ deviceId: d, firstSeq: BigInt(first), lastSeq: BigInt(seqs[i - 1] as number) });
        first = seqs[i] as number;
      }
    }
    expect(agg.result(acc)).toEqual(expected);
    expect(agg.result(agg.load(JSON.parse(JSON.stringify(agg.save(acc)))))).toEqual(expected);
    // The saved form is [[device, [first, last, …] as strings], …], as checkpoints hold it.
    expect(agg.save(feed([['a', 1], ['a', 2], ['b', 5]]))).toEqual([['a', ['1', '2']], ['b', ['5', '5']]]);
  });

  it('keeps one device through every shape of its ranges (inline, a list, merged back into one) like a set of its sequences', () => {
    // Deterministic pseudo-random sequences of one device, then merged into a window of another.
    let x = 7;
    const rand = (n: number): number => ((x = (x * 1103515245 + 12345) % 2147483648) % n);
    for (let trial = 0; trial < 200; trial++) {
      const seqs: number[] = [];
      for (let i = 0, n = 1 + rand(12); i < n; i++) seqs.push(rand(4) === 0 ? rand(20) : (seqs[seqs.length - 1] ?? 0) + 1);
      const acc = feed(seqs.map((q) => ['a', q]));
      const set = [...new Set(seqs)].sort((a, b) => a - b);
      const expected: Array<{ deviceId: string; firstSeq: bigint; lastSeq: bigint }> = [];
      for (let i = 0, from = 0; i < set.length; i++) {
        if (i + 1 < set.length && set[i + 1] === (set[i] as number) + 1) continue;
        expected.push({ deviceId: 'a', firstSeq: BigInt(set[from] as number), lastSeq: BigInt(set[i] as number) });
        from = i + 1;
      }
      expect(agg.result(acc)).toEqual(expected);
      expect(agg.result(agg.load(JSON.parse(JSON.stringify(agg.save(acc)))))).toEqual(expected);
      expect(agg.result(agg.merge(feed([['b', 1]]), acc))).toEqual([...expected, { deviceId: 'b', firstSeq: 1n, lastSeq: 1n }]);
    }
  });

  it('widens ranges rather than exceed the record limit', () => {
    const items: Array<[string, number]> = [];
    for (let i = 0; i < MAX_PROVENANCE_ENTRIES + 10; i++) items.push([`d${i % 2}`, i * 2]);
    const out = agg.result(feed(items));
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ deviceId: 'd0', firstSeq: 0n, lastSeq: BigInt((MAX_PROVENANCE_ENTRIES + 8) * 2) });
  });
});

describe('sealed state records', () => {
  const key = generateStreamKey('state.k1');
  const keyring = new StreamKeyring([key]);
  // sealState seals in place: a fresh unsealed record for every seal.
  const plain = (): Buffer => statePlain(RecordKind.Value, 7, 0, 1, Buffer.from(JSON.stringify({ a: 'ugv-01' })));

  it('round-trip and hold no plaintext', () => {
    const value = sealState(plain(), key);
    expect(value.includes(Buffer.from('ugv-01'))).toBe(false);
    const o = openState(value, 'state.k1', keyring, 'store "s" key "k"');
    expect({ kind: o.kind, epoch: o.epoch, chunk: o.chunk, chunks: o.chunks, json: JSON.parse(o.json.toString()) }).toEqual({ kind: RecordKind.Value, epoch: 7, chunk: 0, chunks: 1, json: { a: 'ugv-01' } });
  });

  it.each([
    ['an unknown key id', (v: Buffer) => openState(v, 'other.k1', keyring, 'store "s" key "k"')],
    ['a changed byte', (v: Buffer) => openState(Buffer.concat([v.subarray(0, -1), Buffer.from([(v[v.length - 1] as number) ^ 1])]), 'state.k1', keyring, 'store "s" key "k"')],
    ['another version byte', (v: Buffer) => openState(Buffer.concat([Buffer.from([1]), v.subarray(1)]), 'state.k1', keyring, 'store "s" key "k"')],
  ])('refuse %s with VIGIL_E_PIPELINE_CHECKPOINT naming the store and key', (_what, open) => {
    const value = sealState(plain(), key);
    expect(codeOf(() => open(value))).toBe('VIGIL_E_PIPELINE_CHECKPOINT');
    expect(() => open(value)).toThrow(/store "s" key "k"/);
  });

  it('are sealed in place, once', () => {
    const record = plain();
    expect(sealState(record, key)).toBe(record);
    expect(codeOf(() => sealState(record, key))).toBe('VIGIL_E_INTERNAL');
  });

  it('have keys that parse back, and refuse keys of other formats', () => {
    expect(parseRecordKey(entryRecordKey('telemetry.vitals', 'stats/windows', 1, 0, 's10:dev\u0000x'))).toEqual({ type: 'entry', topic: 'telemetry.vitals', store: 'stats/windows', slot: 1, chunk: 0, key: 's10:dev\u0000x' });
    expect(parseRecordKey(entryRecordKey('telemetry.vitals', 'stats/windows', 0, 3, 'k'))).toMatchObject({ slot: 0, chunk: 3, key: 'k' });
    expect(parseRecordKey(metaRecordKey('telemetry.vitals'))).toEqual({ type: 'meta', topic: 'telemetry.vitals' });
    expect(parseRecordKey('telemetry.vitals:3')).toBeNull();
    expect(parseRecordKey('~fence~0')).toBeNull();
  });
});
