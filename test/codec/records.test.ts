import { MAX_RECORD_BYTES, RecordCodec, makeLabel, combineLabels, validateLabel, classificationRank, type FrameRange, type DerivedRecord, type TelemetryRecord, type VigilRecord } from '../../src/codec';
import { Encoder } from '@msgpack/msgpack';
import { deflateRawSync } from 'node:zlib';
import { generateStreamKey, randomNonce, secretboxSeal, StreamKeyring } from '../../src/crypto';
import { isVigilError, type VigilErrorCode } from '../../src/errors';
import { SAMPLE_READINGS } from './arbitraries';

function codeOf(fn: () => unknown): VigilErrorCode | 'accepted' {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

const T = Date.UTC(2026, 2, 3);
const telemetry: TelemetryRecord = {
  type: 'telemetry',
  deviceId: 'ugs-17',
  seq: 2n ** 64n - 2n,
  eventTimeMs: T,
  ingestTimeMs: T + 40,
  gatewayId: 'gw-1',
  kind: 'ugs',
  label: makeLabel('SECRET', ['GBR', 'USA']),
  readings: [SAMPLE_READINGS[3], { ...SAMPLE_READINGS[3], offsetMs: 900, detection: 'animal', bearingDeg: null }] as TelemetryRecord['readings'],
};
const provenance: FrameRange[] = [
  { deviceId: 'ugs-17', firstSeq: 1n, lastSeq: 2n ** 64n - 1n },
  { deviceId: 'ugs-18', firstSeq: 5n, lastSeq: 5n },
];
const derived: DerivedRecord = {
  type: 'derived',
  pipeline: 'perimeter-alerts',
  windowStartMs: T,
  windowEndMs: T + 10_000,
  key: 'sector/7 north',
  values: { detections: 3, kind: 'person', alert: true, meanConfidence: 0.91, lastBearing: null },
  revision: 2,
  label: makeLabel('TOP_SECRET', []),
  provenance,
};

describe.each(['tweetnacl', 'sodium'] as const)('sealed records (%s)', (backendName) => {
  const codec = new RecordCodec({ backend: backendName });
  const key = generateStreamKey('telemetry.ugs.k1');

  it.each([
    ['telemetry', telemetry],
    ['derived', derived],
  ] as const)('round-trips a %s record and names its key id', (_n, record: VigilRecord) => {
    const sealed = codec.seal(record, key);
    expect(sealed.keyId).toBe('telemetry.ugs.k1');
    expect(codec.open(sealed.value, key)).toEqual(record);
    expect(codec.openSealed(sealed, new StreamKeyring([key]))).toEqual(record);
    // Kafka holds no plaintext: the device id does not appear in the sealed bytes.
    expect(Buffer.from(sealed.value).includes(Buffer.from('ugs-17'))).toBe(false);
  });

  it('opens across backends', () => {
    const other = new RecordCodec({ backend: backendName === 'sodium' ? 'tweetnacl' : 'sodium' });
    expect(other.open(codec.seal(derived, key).value, key)).toEqual(derived);
  });

  it('wrong key or changed byte: VIGIL_E_RECORD_AUTH; unknown key id: VIGIL_E_KEY_UNKNOWN', () => {
    const sealed = codec.seal(telemetry, key);
    expect(codeOf(() => codec.open(sealed.value, generateStreamKey('telemetry.ugs.k1')))).toBe('VIGIL_E_RECORD_AUTH');
    for (const i of [4, 20, 27, 31, 40, sealed.value.length - 1]) {
      const t = Uint8Array.from(sealed.value);
      t[i] = (t[i] as number) ^ 1;
      expect({ i, code: codeOf(() => codec.open(t, key)) }).toEqual({ i, code: 'VIGIL_E_RECORD_AUTH' });
    }
    expect(codeOf(() => codec.openSealed({ ...sealed, keyId: 'other' }, new StreamKeyring([key])))).toBe('VIGIL_E_KEY_UNKNOWN');
  });

  it('unsupported version: VIGIL_E_RECORD_VERSION; malformed envelope: VIGIL_E_RECORD_INVALID', () => {
    const sealed = codec.seal(telemetry, key).value;
    const v3 = Uint8Array.from(sealed);
    v3[1] = 3;
    expect(codeOf(() => codec.open(v3, key))).toBe('VIGIL_E_RECORD_VERSION');
    // A version 1 record relabelled 2: its plaintext does not start with the version, so it is refused.
    const v2 = Uint8Array.from(sealed);
    v2[1] = 2;
    expect(codeOf(() => codec.open(v2, key))).toBe('VIGIL_E_RECORD_INVALID');
    for (const bad of [new Uint8Array(0), sealed.subarray(0, 40), Uint8Array.from([...sealed, 0]), Uint8Array.from([0x92, 0x01, 0xc0])]) {
      expect(codeOf(() => codec.open(bad, key))).toBe('VIGIL_E_RECORD_INVALID');
    }
  });

  describe('version 2 (compressed before sealing)', () => {
    const big: DerivedRecord = { ...derived, values: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`heartRateMeanBpm${i}`, 70 + (i % 3)])) };

    it('opens to the same record, smaller than version 1 when the plaintext compresses', () => {
      for (const r of [telemetry, derived, big] as VigilRecord[]) {
        const v2 = codec.seal(r, key, { compress: true }).value;
        expect(codec.open(v2, key)).toEqual(r);
      }
      const v1 = codec.seal(big, key).value;
      const v2 = codec.seal(big, key, { compress: true }).value;
      expect(v1[1]).toBe(1);
      expect(v2[1]).toBe(2);
      expect(v2.length).toBeLessThan(v1.length / 3);
    });

    it('writes version 1 when compressing would not make it smaller', () => {
      // 43 bytes of plaintext with nothing repeated: DEFLATE's framing outweighs what it saves.
      const tiny: DerivedRecord = { ...derived, pipeline: 'p', windowEndMs: T + 987_654_321, key: 'Zq', values: {}, revision: 0, label: makeLabel('UNCLASSIFIED'), provenance: [] };
      expect(codec.encodePlaintext(tiny).length).toBe(43);
      expect(codec.seal(tiny, key, { compress: true }).value[1]).toBe(1);
    });

    it('authenticates the version and every byte; refuses a plaintext that inflates beyond the record limit', () => {
      const v2 = codec.seal(big, key, { compress: true }).value;
      const relabelled = Uint8Array.from(v2);
      relabelled[1] = 1;
      expect(codeOf(() => codec.open(relabelled, key))).toBe('VIGIL_E_RECORD_INVALID');
      // Every byte of the ciphertext (after the envelope's 31 bytes of header and nonce).
      for (let i = 31; i < v2.length; i += 7) {
        const t = Uint8Array.from(v2);
        t[i] = (t[i] as number) ^ 1;
        expect({ i, code: codeOf(() => codec.open(t, key)) }).toEqual({ i, code: 'VIGIL_E_RECORD_AUTH' });
      }
      // A valid seal of 2 MiB of zeros, deflated to a few KiB: refused without inflating it all.
      const nonce = randomNonce();
      const bomb = Buffer.concat([Buffer.from([2]), deflateRawSync(Buffer.alloc(2 * 1024 * 1024))]);
      const value = new Encoder().encode([2, nonce, secretboxSeal(bomb, nonce, key.key)]);
      expect(value.length).toBeLessThan(8 * 1024);
      expect(codeOf(() => codec.open(value, key))).toBe('VIGIL_E_RECORD_INVALID');
      const garbage = Buffer.from([2, 0xff, 0xff, 0xff]);
      expect(codeOf(() => codec.open(new Encoder().encode([2, nonce, secretboxSeal(garbage, nonce, key.key)]), key))).toBe('VIGIL_E_RECORD_INVALID');
    });
  });

  describe('re-sealing the opened plaintext (openWithPlaintext → sealPlaintext)', () => {
    const other = generateStreamKey('relay.north.k1');
    const big: DerivedRecord = { ...derived, values: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`heartRateMeanBpm${i}`, 70 + (i % 3)])) };

    it('moves a record of either version to another key byte for byte: the same plaintext, the same record', () => {
      for (const r of [telemetry, derived, big] as VigilRecord[]) {
        for (const compress of [false, true]) {
          const { record, plaintext } = codec.openWithPlaintext(codec.seal(r, key, { compress }).value, key);
          expect(record).toEqual(r);
          expect(Buffer.from(plaintext)).toEqual(Buffer.from(codec.encodePlaintext(r)));
          for (const recompress of [false, true]) {
            const moved = codec.sealPlaintext(plaintext, other, { compress: recompress });
            expect(moved.keyId).toBe('relay.north.k1');
            expect(codec.open(moved.value, other)).toEqual(r);
            expect(codeOf(() => codec.open(moved.value, key))).toBe('VIGIL_E_RECORD_AUTH');
            // Version 2 only where it makes the record smaller, as `seal` decides.
            expect(moved.value[1]).toBe(codec.seal(r, other, { compress: recompress }).value[1]);
          }
        }
      }
    });

    it('refuses a plaintext over the record limit and a bad key, as seal does', () => {
      expect(codeOf(() => codec.sealPlaintext(new Uint8Array(MAX_RECORD_BYTES), other))).toBe('VIGIL_E_RECORD_INVALID');
      expect(codeOf(() => codec.sealPlaintext(codec.encodePlaintext(derived), { keyId: 'short', key: new Uint8Array(16) }))).toBe('VIGIL_E_KEY_INVALID');
    });
  });

  it('refuses invalid records on seal with VIGIL_E_RECORD_INVALID (or READING_INVALID for readings)', () => {
    const cases: [unknown, VigilErrorCode][] = [
      [{ ...telemetry, kind: 'position' }, 'VIGIL_E_RECORD_INVALID'], // readings of another kind
      [{ ...telemetry, kind: 'sonar' }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...telemetry, seq: -1n }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...telemetry, gatewayId: '' }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...telemetry, ingestTimeMs: 0 }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...telemetry, label: { level: 'SECRET', releasability: ['USA', 'GBR'] } }, 'VIGIL_E_RECORD_INVALID'], // unsorted
      [{ ...telemetry, label: { level: 'COSMIC', releasability: [] } }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...telemetry, readings: [] }, 'VIGIL_E_READING_INVALID'],
      [{ ...telemetry, readings: [{ ...SAMPLE_READINGS[3], confidence: 2 }] }, 'VIGIL_E_READING_INVALID'],
      [{ ...derived, windowEndMs: T - 1 }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, revision: -1 }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, values: { x: NaN } }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, values: { 'bad key': 1 } }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, values: { x: { nested: 1 } } }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, provenance: [{ deviceId: 'a', firstSeq: 5n, lastSeq: 4n }] }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, provenance: [{ deviceId: 'a b', firstSeq: 1n, lastSeq: 4n }] }, 'VIGIL_E_RECORD_INVALID'],
      [{ ...derived, type: 'other' }, 'VIGIL_E_RECORD_INVALID'],
    ];
    for (const [i, [record, code]] of cases.entries()) expect({ i, code: codeOf(() => codec.seal(record as VigilRecord, key)) }).toEqual({ i, code });
  });
});

describe('classification labels', () => {
  it('makeLabel sorts and de-duplicates releasability', () => {
    expect(makeLabel('SECRET', ['USA', 'GBR', 'USA', 'AUS'])).toEqual({ level: 'SECRET', releasability: ['AUS', 'GBR', 'USA'] });
    expect(makeLabel('UNCLASSIFIED')).toEqual({ level: 'UNCLASSIFIED', releasability: [] });
  });

  it('validateLabel rejects unknown levels and malformed, unsorted or duplicated codes', () => {
    for (const bad of [null, {}, { level: 'SECRET' }, { level: 'secret', releasability: [] }, { level: 'SECRET', releasability: ['usa'] }, { level: 'SECRET', releasability: ['GBR', 'GBR'] }, { level: 'SECRET', releasability: ['USA', 'GBR'] }, { level: 'SECRET', releasability: Array.from({ length: 33 }, (_, i) => `C${String(i).padStart(2, '0')}`) }]) {
      expect(codeOf(() => validateLabel(bad))).toBe('VIGIL_E_LABEL_INVALID');
    }
  });

  it('validateLabel and combineLabels share one frozen object per distinct label, and a code with a separator in it is still refused', () => {
    const a = validateLabel({ level: 'SECRET', releasability: ['GBR', 'USA'] });
    expect(validateLabel({ level: 'SECRET', releasability: ['GBR', 'USA'] })).toBe(a);
    expect(combineLabels(a, makeLabel('CONFIDENTIAL', ['GBR', 'USA']))).toBe(a);
    expect(validateLabel({ level: 'SECRET', releasability: ['GBR'] })).not.toBe(a);
    expect(codeOf(() => validateLabel({ level: 'SECRET', releasability: ['GBR|USA'] }))).toBe('VIGIL_E_LABEL_INVALID');
    expect(codeOf(() => validateLabel({ level: 'SECRET|GBR', releasability: ['USA'] }))).toBe('VIGIL_E_LABEL_INVALID');
  });

  it('combining gives the higher level and the intersection of releasability', () => {
    const a = makeLabel('CONFIDENTIAL', ['GBR', 'NATO', 'USA']);
    const b = makeLabel('SECRET', ['USA', 'NATO', 'FRA']);
    expect(combineLabels(a, b)).toEqual({ level: 'SECRET', releasability: ['NATO', 'USA'] });
    expect(combineLabels(b, a)).toEqual({ level: 'SECRET', releasability: ['NATO', 'USA'] });
    expect(classificationRank('TOP_SECRET')).toBeGreaterThan(classificationRank('SECRET'));
    expect(classificationRank('NOPE')).toBe(-1);
  });
});

describe('record labels shared per distinct label', () => {
  const key = generateStreamKey('t.k1');
  /** A sealed record around any msgpack plaintext (the envelope of wire-format.md). */
  function sealPlain(plain: unknown): Uint8Array {
    const nonce = randomNonce();
    return new Encoder().encode([1, nonce, secretboxSeal(new Encoder().encode(plain), nonce, key.key)]);
  }
  const derived = (label: unknown): unknown[] => [2, 'p', T, T + 1, 'k', {}, 0, label, []];

  it('gives records with equal labels one frozen label object', () => {
    const codec = new RecordCodec();
    const a = codec.open(sealPlain(derived(['SECRET', ['GBR']])), key);
    const b = codec.open(sealPlain(derived(['SECRET', ['GBR']])), key);
    expect(a.label).toEqual(makeLabel('SECRET', ['GBR']));
    expect(a.label).toBe(b.label);
    expect(Object.isFrozen(a.label)).toBe(true);
  });

  it('still refuses malformed labels that concatenate like a label it has seen', () => {
    const codec = new RecordCodec();
    codec.open(sealPlain(derived(['SECRET', ['GBR']])), key);
    for (const bad of [['SECRET|GBR', []], ['SECRET', [['GBR']]], ['SECRET', ['GBR', 'GBR']], ['SECRET', 'GBR']]) {
      expect(codeOf(() => codec.open(sealPlain(derived(bad)), key))).toBe('VIGIL_E_RECORD_INVALID');
    }
  });
});
