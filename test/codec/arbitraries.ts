/** fast-check arbitraries of valid readings and frames, shared by the codec tests. */
import fc from 'fast-check';
import type { FrameInput, Reading } from '../../src/codec';
import { MAX_READING_OFFSET_MS, POSTURES, UGS_DETECTION_TYPES } from '../../src/codec';

// −0 encodes as 0 in msgpack; generate canonical values so round trips compare with toEqual.
const dbl = (min: number, max: number): fc.Arbitrary<number> => fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((v) => (v === 0 ? 0 : v));
const below = (max: number): fc.Arbitrary<number> => dbl(0, max).filter((v) => v < max);
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });
const offset = fc.integer({ min: 0, max: MAX_READING_OFFSET_MS });

export const positionArb: fc.Arbitrary<Reading> = fc.record({
  kind: fc.constant('position' as const),
  offsetMs: offset,
  lat: dbl(-90, 90),
  lon: dbl(-180, 180),
  altM: opt(dbl(-1000, 100_000)),
  speedMps: opt(dbl(0, 1000)),
  headingDeg: opt(below(360)),
  accuracyM: opt(dbl(0, 100_000)),
});

export const vitalsArb: fc.Arbitrary<Reading> = fc
  .record({
    kind: fc.constant('vitals' as const),
    offsetMs: offset,
    heartRateBpm: opt(dbl(0, 300)),
    spo2Pct: opt(dbl(0, 100)),
    skinTempC: opt(dbl(-10, 60)),
    posture: opt(fc.constantFrom(...POSTURES)),
  })
  .filter((r) => r.heartRateBpm !== null || r.spo2Pct !== null || r.skinTempC !== null || r.posture !== null);

export const vehicleArb: fc.Arbitrary<Reading> = fc
  .record({
    kind: fc.constant('vehicle' as const),
    offsetMs: offset,
    engineTempC: opt(dbl(-60, 200)),
    rpm: opt(dbl(0, 20_000)),
    fuelPct: opt(dbl(0, 100)),
    speedMps: opt(dbl(0, 200)),
  })
  .filter((r) => r.engineTempC !== null || r.rpm !== null || r.fuelPct !== null || r.speedMps !== null);

export const ugsArb: fc.Arbitrary<Reading> = fc.record({
  kind: fc.constant('ugs' as const),
  offsetMs: offset,
  detection: fc.constantFrom(...UGS_DETECTION_TYPES),
  confidence: dbl(0, 1),
  bearingDeg: opt(below(360)),
});

export const powerArb: fc.Arbitrary<Reading> = fc
  .record({ kind: fc.constant('power' as const), offsetMs: offset, batteryPct: opt(dbl(0, 100)), voltageV: opt(dbl(0, 1000)) })
  .filter((r) => r.batteryPct !== null || r.voltageV !== null);

export const metricArb: fc.Arbitrary<Reading> = fc.record({
  kind: fc.constant('metric' as const),
  offsetMs: offset,
  name: fc.stringMatching(/^[a-z][a-z0-9_.]{0,63}$/),
  value: dbl(-Number.MAX_VALUE, Number.MAX_VALUE),
  unit: opt(fc.constantFrom('V', '°C', 'dB[mW]', 'm/s', '%', 'Pa')),
});

export const ARBS_BY_KIND = { position: positionArb, vitals: vitalsArb, vehicle: vehicleArb, ugs: ugsArb, power: powerArb, metric: metricArb } as const;

export const readingArb: fc.Arbitrary<Reading> = fc.oneof(positionArb, vitalsArb, vehicleArb, ugsArb, powerArb, metricArb);

export const frameInputArb = (maxReadings = 16): fc.Arbitrary<FrameInput> =>
  fc.record({
    deviceId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
    epoch: fc.integer({ min: 0, max: 0xffffffff }),
    seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    eventTimeMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) - 1 }),
    readings: fc.array(readingArb, { minLength: 1, maxLength: maxReadings }),
  });

/** One plain valid reading of each kind, for example-based tests. */
export const SAMPLE_READINGS: readonly Reading[] = [
  { kind: 'position', offsetMs: 0, lat: -33.8688, lon: 151.2093, altM: 58, speedMps: 0, headingDeg: 0, accuracyM: 3.5 },
  { kind: 'vitals', offsetMs: 100, heartRateBpm: 64, spo2Pct: 97.5, skinTempC: 34.1, posture: 'standing' },
  { kind: 'vehicle', offsetMs: 200, engineTempC: 91, rpm: 1800, fuelPct: 62.5, speedMps: 13.4 },
  { kind: 'ugs', offsetMs: 300, detection: 'person', confidence: 0.93, bearingDeg: 181.5 },
  { kind: 'power', offsetMs: 400, batteryPct: 55, voltageV: 24.2 },
  { kind: 'metric', offsetMs: 500, name: 'radio.snr_db', value: 17.25, unit: 'dB' },
];
