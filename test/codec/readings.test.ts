import fc from 'fast-check';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { decodeReading, decodeReadings, encodeReading, encodeReadings, KIND_SPECS, MAX_READINGS_PER_FRAME, type Reading } from '../../src/codec';
import { isVigilError } from '../../src/errors';
import { ARBS_BY_KIND, SAMPLE_READINGS } from './arbitraries';

const enc = new Encoder();
const dec = new Decoder();
/** Through real msgpack bytes, as on the wire. */
const roundTrip = (r: Reading): Reading => decodeReading(dec.decode(enc.encode(encodeReading(r))));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
  return 'no error';
}

describe('readings', () => {
  it.each(SAMPLE_READINGS.map((r) => [r.kind, r] as const))('round-trips a %s reading', (_kind, r) => {
    expect(roundTrip(r)).toEqual(r);
  });

  it.each(Object.entries(ARBS_BY_KIND))('round-trips random valid %s readings (property)', (_kind, arb) => {
    fc.assert(
      fc.property(arb, (r) => {
        expect(roundTrip(r)).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes each kind as [tag, offsetMs, ...fields] in table order', () => {
    const wire = encodeReading(SAMPLE_READINGS[0] as Reading);
    expect(wire).toEqual([1, 0, -33.8688, 151.2093, 58, 0, 0, 3.5]);
    for (const spec of KIND_SPECS) {
      const sample = SAMPLE_READINGS.find((r) => r.kind === spec.kind) as Reading;
      expect(encodeReading(sample)).toHaveLength(spec.fields.length + 2);
      expect(encodeReading(sample)[0]).toBe(spec.tag);
    }
  });

  it('normalises -0 to 0', () => {
    const r = { ...(SAMPLE_READINGS[0] as Reading), lat: -0 } as Reading;
    expect(Object.is((roundTrip(r) as { lat: number }).lat, 0)).toBe(true);
  });

  describe('rejects invalid values with VIGIL_E_READING_INVALID', () => {
    const pos = SAMPLE_READINGS[0] as Reading;
    const cases: [string, Record<string, unknown>][] = [
      ['NaN latitude', { ...pos, lat: NaN }],
      ['Infinity longitude', { ...pos, lon: Infinity }],
      ['latitude > 90', { ...pos, lat: 90.0001 }],
      ['longitude < -180', { ...pos, lon: -180.5 }],
      ['heading 360 (exclusive)', { ...pos, headingDeg: 360 }],
      ['negative speed', { ...pos, speedMps: -1 }],
      ['string altitude', { ...pos, altM: '35' }],
      ['bigint accuracy', { ...pos, accuracyM: 4n }],
      ['missing lat', { ...pos, lat: null }],
      ['fractional offset', { ...pos, offsetMs: 1.5 }],
      ['negative offset', { ...pos, offsetMs: -1 }],
      ['offset beyond 10 minutes', { ...pos, offsetMs: 600_001 }],
      ['unknown kind', { ...pos, kind: 'sonar' }],
      ['prototype kind', { ...pos, kind: 'toString' }],
      ['vitals with nothing', { kind: 'vitals', offsetMs: 0, heartRateBpm: null, spo2Pct: null, skinTempC: null, posture: null }],
      ['heart rate 301', { ...(SAMPLE_READINGS[1] as Reading), heartRateBpm: 301 }],
      ['SpO2 above 100', { ...(SAMPLE_READINGS[1] as Reading), spo2Pct: 100.5 }],
      ['unknown posture', { ...(SAMPLE_READINGS[1] as Reading), posture: 'flying' }],
      ['rpm above 20000', { ...(SAMPLE_READINGS[2] as Reading), rpm: 20_001 }],
      ['fuel below 0', { ...(SAMPLE_READINGS[2] as Reading), fuelPct: -0.1 }],
      ['unknown UGS type', { ...(SAMPLE_READINGS[3] as Reading), detection: 'alien' }],
      ['confidence above 1', { ...(SAMPLE_READINGS[3] as Reading), confidence: 1.01 }],
      ['missing UGS type', { ...(SAMPLE_READINGS[3] as Reading), detection: null }],
      ['battery above 100', { ...(SAMPLE_READINGS[4] as Reading), batteryPct: 101 }],
      ['power with nothing', { kind: 'power', offsetMs: 0, batteryPct: null, voltageV: null }],
      ['metric name with upper case', { ...(SAMPLE_READINGS[5] as Reading), name: 'Radio.snr' }],
      ['metric name too long', { ...(SAMPLE_READINGS[5] as Reading), name: 'a'.repeat(65) }],
      ['metric NaN value', { ...(SAMPLE_READINGS[5] as Reading), value: NaN }],
      ['metric unit with control character', { ...(SAMPLE_READINGS[5] as Reading), unit: 'V\n' }],
      ['metric unit too long', { ...(SAMPLE_READINGS[5] as Reading), unit: 'x'.repeat(17) }],
    ];
    it.each(cases)('%s (encode)', (_name, r) => {
      expect(codeOf(() => encodeReading(r as unknown as Reading))).toBe('VIGIL_E_READING_INVALID');
    });
    it.each(cases)('%s (decode of the same wire values)', (_name, r) => {
      // Build the wire form by hand, bypassing the encoder's checks.
      const spec = KIND_SPECS.find((s) => s.kind === r.kind) ?? KIND_SPECS[0];
      const wire = [spec?.kind === r.kind ? spec.tag : 99, r.offsetMs, ...(spec?.fields ?? []).map((f) => r[f.name])];
      expect(codeOf(() => decodeReading(wire))).toBe('VIGIL_E_READING_INVALID');
    });
  });

  it('rejects wrong wire shapes', () => {
    const ok = encodeReading(SAMPLE_READINGS[0] as Reading);
    for (const bad of [null, 7, 'x', {}, [], [1], ok.slice(0, -1), [...ok, null], ['1', ...ok.slice(1)], [0, ...ok.slice(1)], [7, ...ok.slice(1)]]) {
      expect(codeOf(() => decodeReading(bad))).toBe('VIGIL_E_READING_INVALID');
    }
  });

  it('accepts batches of 1..256 and rejects 0, 257 and non-arrays', () => {
    const one = encodeReading(SAMPLE_READINGS[4] as Reading);
    expect(decodeReadings([one])).toHaveLength(1);
    expect(decodeReadings(Array.from({ length: MAX_READINGS_PER_FRAME }, () => one))).toHaveLength(MAX_READINGS_PER_FRAME);
    expect(codeOf(() => decodeReadings([]))).toBe('VIGIL_E_READING_INVALID');
    expect(codeOf(() => decodeReadings(Array.from({ length: MAX_READINGS_PER_FRAME + 1 }, () => one)))).toBe('VIGIL_E_READING_INVALID');
    expect(codeOf(() => decodeReadings({ 0: one }))).toBe('VIGIL_E_READING_INVALID');
    expect(codeOf(() => encodeReadings([]))).toBe('VIGIL_E_READING_INVALID');
  });

  it('names the reading index and field in the error details', () => {
    try {
      encodeReadings([SAMPLE_READINGS[0] as Reading, { ...(SAMPLE_READINGS[1] as Reading), spo2Pct: 120 } as Reading]);
      throw new Error('expected a VigilError');
    } catch (err) {
      expect(isVigilError(err, 'VIGIL_E_READING_INVALID') && err.details).toEqual({ index: 1, field: 'spo2Pct' });
    }
  });
});
