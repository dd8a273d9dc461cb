/**
 * RecordCodec writes a telemetry record's msgpack plaintext directly (no wire arrays, no
 * generic encoder): these tests hold it to the bytes a generic msgpack encoder writes for the
 * record's wire form (docs/wire-format.md §7), and to the same errors for bad records.
 */
import { Encoder } from '@msgpack/msgpack';
import fc from 'fast-check';
import { encodeReadings, makeLabel, RecordCodec, type Reading, type ReadingKind, type TelemetryRecord } from '../../src/codec';
import { MsgpackWriter } from '../../src/codec/msgpack-writer';
import { generateStreamKey } from '../../src/crypto';
import { isVigilError, VigilError } from '../../src/errors';
import { ARBS_BY_KIND, SAMPLE_READINGS } from './arbitraries';

const generic = new Encoder({ sortKeys: true });

/** The wire form of docs/wire-format.md §7, built independently of RecordCodec, then encoded generically. */
function genericPlaintext(r: TelemetryRecord): Uint8Array {
  const seq = new Uint8Array(8);
  new DataView(seq.buffer).setBigUint64(0, r.seq);
  return generic.encode([1, r.deviceId, seq, r.eventTimeMs, r.ingestTimeMs, r.gatewayId, r.kind, [r.label.level, [...r.label.releasability]], encodeReadings(r.readings)]);
}

const KINDS = Object.keys(ARBS_BY_KIND) as ReadingKind[];
/** Strings the writer must hand to the generic encoder: non-ASCII, lone surrogates, 32+ and 256+ characters. */
const oddUnit = fc.constantFrom('°C', 'µS/cm', '\ud800', 'x\udfff', '温度', 'V', 'ab'.repeat(8));
const labelArb = fc.record({
  level: fc.constantFrom('UNCLASSIFIED', 'CONFIDENTIAL', 'SECRET', 'TOP_SECRET' as const),
  codes: fc.uniqueArray(fc.stringMatching(/^[A-Z0-9][A-Z0-9_-]{1,15}$/), { maxLength: 5 }),
});
const telemetryArb: fc.Arbitrary<TelemetryRecord> = fc
  .constantFrom(...KINDS)
  .chain((kind) =>
    fc.record({
      kind: fc.constant(kind),
      readings: fc.array(
        kind === 'metric' ? fc.tuple(ARBS_BY_KIND.metric, fc.option(oddUnit, { nil: null })).map(([r, u]) => ({ ...r, unit: u ?? (r as { unit: string | null }).unit }) as Reading) : ARBS_BY_KIND[kind],
        { minLength: 1, maxLength: 40 },
      ),
      deviceId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
      seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      eventTimeMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }),
      ingestTimeMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }),
      gatewayId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
      label: labelArb.map((l) => makeLabel(l.level, l.codes)),
    }),
  )
  .map((r) => ({ type: 'telemetry', ...r }) as TelemetryRecord);

function errorOf(fn: () => unknown): { code: string; message: string; details: unknown } | 'accepted' {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  return 'accepted';
}

describe('RecordCodec telemetry plaintext, written directly', () => {
  it('is byte for byte the generic encoding of the wire form (3,000 random records, every kind)', () => {
    const codec = new RecordCodec({ backend: 'tweetnacl' });
    fc.assert(
      fc.property(telemetryArb, (r) => {
        expect(Buffer.from(codec.encodePlaintext(r)).equals(Buffer.from(genericPlaintext(r)))).toBe(true);
      }),
      { numRuns: 3000, seed: 0x5eed16 },
    );
  });

  it('opens to the record it sealed, with both backends, through one codec reused across gateways and labels', () => {
    for (const backend of ['tweetnacl', 'sodium'] as const) {
      const codec = new RecordCodec({ backend });
      const key = generateStreamKey('telemetry.k1');
      fc.assert(
        fc.property(telemetryArb, (r) => {
          expect(codec.open(codec.seal(r, key).value, key)).toEqual(r);
        }),
        { numRuns: 300, seed: 16 },
      );
    }
  });

  it('refuses a bad record with the error the wire-form checks give, whatever was sealed before', () => {
    const codec = new RecordCodec({ backend: 'tweetnacl' });
    const good: TelemetryRecord = {
      type: 'telemetry', deviceId: 'ugs-17', seq: 5n, eventTimeMs: Date.UTC(2026, 2, 3), ingestTimeMs: Date.UTC(2026, 2, 3) + 40,
      gatewayId: 'gw-1', kind: 'ugs', label: makeLabel('SECRET', ['GBR']), readings: [SAMPLE_READINGS[3] as Reading] as TelemetryRecord['readings'],
    };
    codec.encodePlaintext(good); // warms the gateway id and label caches
    const bad = (patch: Record<string, unknown>): TelemetryRecord => ({ ...good, ...patch }) as unknown as TelemetryRecord;
    const cases: [Record<string, unknown>, string, string][] = [
      [{ kind: 'sonar' }, 'VIGIL_E_RECORD_INVALID', 'record kind: must be one of'],
      [{ readings: 'x' }, 'VIGIL_E_RECORD_INVALID', 'record readings: must be an array'],
      [{ readings: [SAMPLE_READINGS[0]] }, 'VIGIL_E_RECORD_INVALID', 'record readings[0]: is a position reading in a ugs record'],
      [{ deviceId: 'a b' }, 'VIGIL_E_RECORD_INVALID', 'record deviceId: must match'],
      [{ seq: 5 }, 'VIGIL_E_RECORD_INVALID', 'record seq: must be a bigint'],
      [{ seq: 2n ** 64n }, 'VIGIL_E_RECORD_INVALID', 'record seq: must be a bigint'],
      [{ eventTimeMs: 1.5 }, 'VIGIL_E_RECORD_INVALID', 'record eventTimeMs'],
      [{ ingestTimeMs: -1 }, 'VIGIL_E_RECORD_INVALID', 'record ingestTimeMs'],
      [{ gatewayId: undefined }, 'VIGIL_E_RECORD_INVALID', 'record gatewayId: must match'],
      [{ gatewayId: 'gw 2' }, 'VIGIL_E_RECORD_INVALID', 'record gatewayId: must match'],
      [{ label: { level: 'SECRET', releasability: ['USA', 'GBR'] } }, 'VIGIL_E_RECORD_INVALID', 'record label: '],
      [{ label: null }, 'VIGIL_E_RECORD_INVALID', 'record label: '],
      [{ readings: [] }, 'VIGIL_E_READING_INVALID', 'a batch must hold 1..256 readings'],
      [{ readings: [{ ...SAMPLE_READINGS[3], confidence: 2 }] }, 'VIGIL_E_READING_INVALID', 'reading 0: confidence is out of range'],
      [{ readings: [SAMPLE_READINGS[3], { ...SAMPLE_READINGS[3], offsetMs: -1 }] }, 'VIGIL_E_READING_INVALID', 'reading 1: offsetMs must be an integer'],
      [{ readings: [{ ...SAMPLE_READINGS[3], detection: 'alien' }] }, 'VIGIL_E_READING_INVALID', 'reading 0: detection must be one of'],
    ];
    for (const [patch, code, message] of cases) {
      const e = errorOf(() => codec.seal(bad(patch), generateStreamKey('k')));
      expect(e).not.toBe('accepted');
      if (e === 'accepted') continue;
      expect([e.code, e.message.slice(0, message.length)]).toEqual([code, message]);
      expect(codec.encodePlaintext(good)).toEqual(genericPlaintext(good)); // nothing of the failed record stays behind
    }
  });

  it('gives a bad reading the error encodeReadings gives it (random readings with one field spoiled)', () => {
    const codec = new RecordCodec({ backend: 'tweetnacl' });
    const spoil = fc.constantFrom<unknown>(-1, 1e9, Number.NaN, Infinity, 'x', null, undefined, true, [], 0.5, -0);
    fc.assert(
      fc.property(telemetryArb, fc.nat(), fc.nat(), spoil, (r, ri, fi, value) => {
        const readings = r.readings.map((x) => ({ ...x })) as Record<string, unknown>[];
        const target = readings[ri % readings.length] as Record<string, unknown>;
        const fields = Object.keys(target);
        target[fields[fi % fields.length] as string] = value;
        const record = { ...r, readings } as unknown as TelemetryRecord;
        const expected = errorOf(() => encodeReadings(readings as unknown as Reading[]));
        if (fields[fi % fields.length] === 'kind') return; // a changed kind is refused by the record's own kind check first
        expect(errorOf(() => codec.encodePlaintext(record))).toEqual(expected);
        if (expected === 'accepted') expect(Buffer.from(codec.encodePlaintext(record)).equals(Buffer.from(genericPlaintext(record)))).toBe(true);
      }),
      { numRuns: 2000, seed: 0xbad },
    );
  });

  it('writes numbers, strings, bins and array headers as the generic encoder does, at every size boundary', () => {
    const enc = new Encoder();
    const w = new MsgpackWriter(new Encoder(), 4);
    const edges = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER];
    const numbers = [...edges, ...edges.map((v) => -v), -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001, 0.5, -1e-300, 1e300, Number.MAX_SAFE_INTEGER + 2, -0, NaN, Infinity, -Infinity];
    for (const v of numbers) {
      w.reset();
      w.number(v);
      expect([v, Buffer.from(w.bytes()).toString('hex')]).toEqual([v, Buffer.from(enc.encode(v)).toString('hex')]);
    }
    for (const s of ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(70_000), 'é', '\ud83d\ude00', '\ud800', 'a'.repeat(40) + '\udc00']) {
      w.reset();
      w.str(s);
      expect(Buffer.from(w.bytes()).equals(Buffer.from(enc.encode(s)))).toBe(true);
    }
    for (const n of [0, 1, 255, 256, 65535, 65536]) {
      w.reset();
      w.bin(new Uint8Array(n).fill(7));
      expect(Buffer.from(w.bytes()).equals(Buffer.from(enc.encode(new Uint8Array(n).fill(7))))).toBe(true);
      w.reset();
      w.arrayHeader(n);
      expect(Buffer.from(w.bytes()).toString('hex')).toBe(Buffer.from(enc.encode(new Array<null>(n).fill(null))).subarray(0, w.pos).toString('hex'));
    }
  });

  it('is an error, not a crash, for a record that is not an object', () => {
    const codec = new RecordCodec({ backend: 'tweetnacl' });
    for (const v of [null, undefined, 3, 'telemetry']) {
      expect(() => codec.encodePlaintext(v as unknown as TelemetryRecord)).toThrow(VigilError);
    }
  });
});
