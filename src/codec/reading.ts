/**
 * Reading kinds and their fields (docs/wire-format.md §5). Units are in the field names so a
 * value never travels without its unit. Optional measurements are `null` when the sensor
 * did not provide them (never omitted: every reading of a kind has the same shape).
 */

/** Reading kinds, each with its wire tag (the first element of a reading on the wire). */
export const READING_KIND_TAGS = { position: 1, vitals: 2, vehicle: 3, ugs: 4, power: 5, metric: 6 } as const;
export type ReadingKind = keyof typeof READING_KIND_TAGS;
export const READING_KINDS = Object.keys(READING_KIND_TAGS) as readonly ReadingKind[];

export const POSTURES = ['unknown', 'standing', 'sitting', 'kneeling', 'prone', 'supine', 'side'] as const;
export type Posture = (typeof POSTURES)[number];

export const UGS_DETECTION_TYPES = ['person', 'vehicle', 'animal', 'unknown'] as const;
export type UgsDetectionType = (typeof UGS_DETECTION_TYPES)[number];

interface ReadingBase<K extends ReadingKind> {
  readonly kind: K;
  /** Milliseconds after the frame's event time at which this reading was taken (0..600 000). */
  readonly offsetMs: number;
}

/** A position fix (WGS 84). */
export interface PositionReading extends ReadingBase<'position'> {
  /** Latitude, degrees, −90..90. */
  readonly lat: number;
  /** Longitude, degrees, −180..180. */
  readonly lon: number;
  /** Height above the WGS 84 ellipsoid, metres, −1 000..100 000. */
  readonly altM: number | null;
  /** Ground speed, m/s, 0..1 000. */
  readonly speedMps: number | null;
  /** Course over ground, degrees true, 0 ≤ h < 360. */
  readonly headingDeg: number | null;
  /** Estimated horizontal accuracy (1σ), metres, 0..100 000. */
  readonly accuracyM: number | null;
}

/** Soldier-worn physiological sensors. At least one field is not null. */
export interface VitalsReading extends ReadingBase<'vitals'> {
  /** Heart rate, beats per minute, 0..300. */
  readonly heartRateBpm: number | null;
  /** Peripheral oxygen saturation, percent, 0..100. */
  readonly spo2Pct: number | null;
  /** Skin temperature, °C, −10..60. */
  readonly skinTempC: number | null;
  readonly posture: Posture | null;
}

/** Vehicle bus data. At least one field is not null. */
export interface VehicleReading extends ReadingBase<'vehicle'> {
  /** Engine coolant temperature, °C, −60..200. */
  readonly engineTempC: number | null;
  /** Engine speed, revolutions per minute, 0..20 000. */
  readonly rpm: number | null;
  /** Fuel level, percent of capacity, 0..100. */
  readonly fuelPct: number | null;
  /** Vehicle speed, m/s, 0..200. */
  readonly speedMps: number | null;
}

/** An unattended ground sensor detection. */
export interface UgsReading extends ReadingBase<'ugs'> {
  readonly detection: UgsDetectionType;
  /** Classifier confidence, 0..1. */
  readonly confidence: number;
  /** Bearing from the sensor to the target, degrees true, 0 ≤ b < 360. */
  readonly bearingDeg: number | null;
}

/** Power state of any device. At least one field is not null. */
export interface PowerReading extends ReadingBase<'power'> {
  /** State of charge, percent, 0..100. */
  readonly batteryPct: number | null;
  /** Supply or battery voltage, volts, 0..1 000. */
  readonly voltageV: number | null;
}

/** Any other numeric measurement. */
export interface MetricReading extends ReadingBase<'metric'> {
  /** Lower-case dotted name, `^[a-z][a-z0-9_.]{0,63}$`, e.g. `radio.rssi_dbm`. */
  readonly name: string;
  /** Any finite number. */
  readonly value: number;
  /** Unit (UCUM-style, e.g. `dB[mW]`, `°C`), 1..16 characters without control characters, or null. */
  readonly unit: string | null;
}

export type Reading = PositionReading | VitalsReading | VehicleReading | UgsReading | PowerReading | MetricReading;

/** How one field is encoded and checked (docs/wire-format.md §5 is written from this table). */
export type FieldSpec =
  | { readonly name: string; readonly type: 'number'; readonly min: number; readonly max: number; readonly maxExclusive?: boolean; readonly integer?: boolean; readonly nullable: boolean }
  | { readonly name: string; readonly type: 'enum'; readonly values: readonly string[]; readonly nullable: boolean }
  | { readonly name: string; readonly type: 'string'; readonly pattern: RegExp; readonly nullable: boolean };

export interface KindSpec {
  readonly kind: ReadingKind;
  readonly tag: number;
  /** Fields after the tag and offset, in wire order. */
  readonly fields: readonly FieldSpec[];
  /** At least one field must be non-null (kinds made only of optional measurements). */
  readonly atLeastOne: boolean;
}

const num = (name: string, min: number, max: number, nullable: boolean, extra: { maxExclusive?: boolean; integer?: boolean } = {}): FieldSpec => ({
  name,
  type: 'number',
  min,
  max,
  nullable,
  ...extra,
});

/** The field table of every reading kind, indexed by wire tag. */
export const KIND_SPECS: readonly KindSpec[] = [
  {
    kind: 'position',
    tag: 1,
    atLeastOne: false,
    fields: [
      num('lat', -90, 90, false),
      num('lon', -180, 180, false),
      num('altM', -1000, 100_000, true),
      num('speedMps', 0, 1000, true),
      num('headingDeg', 0, 360, true, { maxExclusive: true }),
      num('accuracyM', 0, 100_000, true),
    ],
  },
  {
    kind: 'vitals',
    tag: 2,
    atLeastOne: true,
    fields: [
      num('heartRateBpm', 0, 300, true),
      num('spo2Pct', 0, 100, true),
      num('skinTempC', -10, 60, true),
      { name: 'posture', type: 'enum', values: POSTURES, nullable: true },
    ],
  },
  {
    kind: 'vehicle',
    tag: 3,
    atLeastOne: true,
    fields: [num('engineTempC', -60, 200, true), num('rpm', 0, 20_000, true), num('fuelPct', 0, 100, true), num('speedMps', 0, 200, true)],
  },
  {
    kind: 'ugs',
    tag: 4,
    atLeastOne: false,
    fields: [
      { name: 'detection', type: 'enum', values: UGS_DETECTION_TYPES, nullable: false },
      num('confidence', 0, 1, false),
      num('bearingDeg', 0, 360, true, { maxExclusive: true }),
    ],
  },
  { kind: 'power', tag: 5, atLeastOne: true, fields: [num('batteryPct', 0, 100, true), num('voltageV', 0, 1000, true)] },
  {
    kind: 'metric',
    tag: 6,
    atLeastOne: false,
    fields: [
      { name: 'name', type: 'string', pattern: /^[a-z][a-z0-9_.]{0,63}$/, nullable: false },
      num('value', -Number.MAX_VALUE, Number.MAX_VALUE, false),
      // eslint-disable-next-line no-control-regex -- the point is to exclude control characters
      { name: 'unit', type: 'string', pattern: /^[^\u0000-\u001f\u007f-\u009f]{1,16}$/u, nullable: true },
    ],
  },
];

/** Kind spec by wire tag (index = tag). */
export const KIND_SPEC_BY_TAG: readonly (KindSpec | undefined)[] = (() => {
  const a: (KindSpec | undefined)[] = [];
  for (const s of KIND_SPECS) a[s.tag] = s;
  return a;
})();

/** Kind spec by kind name. */
export const KIND_SPEC_BY_KIND: Readonly<Record<ReadingKind, KindSpec>> = Object.fromEntries(KIND_SPECS.map((s) => [s.kind, s])) as Record<ReadingKind, KindSpec>;
