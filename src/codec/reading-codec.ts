import { VigilError } from '../errors';
import { MAX_READINGS_PER_FRAME, MAX_READING_OFFSET_MS } from './limits';
import type { MsgpackWriter } from './msgpack-writer';
import { KIND_SPEC_BY_KIND, KIND_SPEC_BY_TAG, KIND_SPECS, type FieldSpec, type KindSpec, type Reading } from './reading';

const KIND_NAMES = KIND_SPECS.map((s) => s.kind).join(', ');
const KIND_TAGS = KIND_SPECS.map((s) => `${s.tag} (${s.kind})`).join(', ');

// Messages and details name the reading, the field and the rule, never the value: on the
// gateway these are about a decrypted body, and a rejection's message goes to
// telemetry.rejected (and to logs) in the clear. `vigil frame inspect` shows the values to
// an operator who holds the keys.
function invalid(message: string, index: number, field: string): VigilError {
  return new VigilError('VIGIL_E_READING_INVALID', `reading ${index}: ${message}`, { details: { index, field } });
}

/** Checks one field value against its spec; returns the value or throws `VIGIL_E_READING_INVALID`. */
function checkField(spec: FieldSpec, value: unknown, index: number): unknown {
  if (value === null || value === undefined) {
    if (spec.nullable) return null;
    throw invalid(`${spec.name} is required`, index, spec.name);
  }
  switch (spec.type) {
    case 'number':
      // typeof excludes bigint (msgpack u64 beyond 2^53 in some encoders) on purpose.
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${spec.name} must be a finite number`, index, spec.name);
      if (value < spec.min || (spec.maxExclusive === true ? value >= spec.max : value > spec.max)) {
        throw invalid(`${spec.name} is out of range ${spec.min}..${spec.max}${spec.maxExclusive === true ? ' (exclusive)' : ''}`, index, spec.name);
      }
      if (spec.integer === true && !Number.isInteger(value)) throw invalid(`${spec.name} must be an integer`, index, spec.name);
      // Normalise −0 so that a decoded reading equals the one encoded (msgpack writes −0 as 0).
      return value === 0 ? 0 : value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) throw invalid(`${spec.name} must be one of ${spec.values.join(', ')}`, index, spec.name);
      return value;
    case 'string':
      if (typeof value !== 'string' || !spec.pattern.test(value)) throw invalid(`${spec.name} must match ${String(spec.pattern)}`, index, spec.name);
      return value;
  }
}

function checkOffset(value: unknown, index: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_READING_OFFSET_MS) {
    throw invalid(`offsetMs must be an integer in 0..${MAX_READING_OFFSET_MS}`, index, 'offsetMs');
  }
  return value;
}

function checkAtLeastOne(spec: KindSpec, values: readonly unknown[], index: number): void {
  if (!spec.atLeastOne) return;
  for (const v of values) if (v !== null) return;
  throw invalid(`a ${spec.kind} reading needs at least one of ${spec.fields.map((f) => f.name).join(', ')}`, index, spec.fields[0]?.name ?? '');
}

/**
 * Validates a reading and returns its wire form: `[tag, offsetMs, ...fields]` in the order
 * of docs/wire-format.md §5. `index` is the reading's position in its batch (for messages).
 */
export function encodeReading(reading: Reading, index = 0): unknown[] {
  if (typeof reading !== 'object' || reading === null) throw invalid('must be an object', index, 'kind');
  const spec = Object.prototype.hasOwnProperty.call(KIND_SPEC_BY_KIND, reading.kind) ? KIND_SPEC_BY_KIND[reading.kind] : undefined;
  if (spec === undefined) throw invalid(`kind must be one of ${KIND_NAMES}`, index, 'kind');
  const wire: unknown[] = [spec.tag, checkOffset(reading.offsetMs, index)];
  const r = reading as unknown as Readonly<Record<string, unknown>>;
  let present = false;
  for (const f of spec.fields) {
    const v = checkField(f, r[f.name], index);
    if (v !== null) present = true;
    wire.push(v);
  }
  if (spec.atLeastOne && !present) checkAtLeastOne(spec, [], index);
  return wire;
}

/**
 * `encodeReading` written straight as msgpack: the same checks in the same order (so the same
 * errors), and the bytes a generic encoder writes for `encodeReading`'s array.
 */
function writeReading(reading: Reading, index: number, w: MsgpackWriter): void {
  if (typeof reading !== 'object' || reading === null) throw invalid('must be an object', index, 'kind');
  const spec = Object.prototype.hasOwnProperty.call(KIND_SPEC_BY_KIND, reading.kind) ? KIND_SPEC_BY_KIND[reading.kind] : undefined;
  if (spec === undefined) throw invalid(`kind must be one of ${KIND_NAMES}`, index, 'kind');
  const offset = checkOffset(reading.offsetMs, index);
  const fields = spec.fields;
  w.arrayHeader(fields.length + 2);
  w.number(spec.tag);
  w.number(offset);
  const r = reading as unknown as Readonly<Record<string, unknown>>;
  let present = false;
  for (let i = 0; i < fields.length; i++) {
    const v = checkField(fields[i] as FieldSpec, r[(fields[i] as FieldSpec).name], index);
    if (v === null) w.nil();
    else {
      present = true;
      if (typeof v === 'number') w.number(v);
      else w.str(v as string);
    }
  }
  if (spec.atLeastOne && !present) checkAtLeastOne(spec, [], index);
}

/** `encodeReadings` written straight as msgpack into `w` (same checks, same errors, same bytes). */
export function writeReadings(readings: readonly Reading[], w: MsgpackWriter, max = MAX_READINGS_PER_FRAME): void {
  checkBatch(readings, max);
  w.arrayHeader(readings.length);
  for (let i = 0; i < readings.length; i++) writeReading(readings[i] as Reading, i, w);
}

/** Validates the decoded wire form of one reading and builds the typed reading. */
export function decodeReading(wire: unknown, index = 0): Reading {
  if (!Array.isArray(wire) || wire.length < 2) throw invalid('must be an array [kind, offsetMs, ...fields]', index, 'kind');
  const tag = wire[0] as unknown;
  const spec = typeof tag === 'number' ? KIND_SPEC_BY_TAG[tag] : undefined;
  if (spec === undefined) throw invalid(`kind tag must be one of ${KIND_TAGS}`, index, 'kind');
  if (wire.length !== spec.fields.length + 2) throw invalid(`a ${spec.kind} reading must have ${spec.fields.length + 2} elements`, index, 'kind');
  const out: Record<string, unknown> = { kind: spec.kind, offsetMs: checkOffset(wire[1], index) };
  let present = false;
  for (let i = 0; i < spec.fields.length; i++) {
    const f = spec.fields[i] as FieldSpec;
    const v = checkField(f, wire[i + 2], index);
    if (v !== null) present = true;
    out[f.name] = v;
  }
  if (spec.atLeastOne && !present) checkAtLeastOne(spec, [], index);
  return out as unknown as Reading;
}

/** Checks a batch size: 1..max readings. */
export function checkBatch(value: unknown, max = MAX_READINGS_PER_FRAME): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) throw new VigilError('VIGIL_E_READING_INVALID', 'readings must be an array', { details: { field: 'readings' } });
  if (value.length < 1 || value.length > max) {
    throw new VigilError('VIGIL_E_READING_INVALID', `a batch must hold 1..${max} readings`, { details: { field: 'readings' } });
  }
}

/** Validates and converts a batch of readings to wire form. */
export function encodeReadings(readings: readonly Reading[], max = MAX_READINGS_PER_FRAME): unknown[][] {
  checkBatch(readings, max);
  const out: unknown[][] = new Array<unknown[]>(readings.length);
  for (let i = 0; i < readings.length; i++) out[i] = encodeReading(readings[i] as Reading, i);
  return out;
}

/** Validates a decoded batch and builds the typed readings. */
export function decodeReadings(wire: unknown, max = MAX_READINGS_PER_FRAME): Reading[] {
  checkBatch(wire, max);
  const out: Reading[] = new Array<Reading>(wire.length);
  for (let i = 0; i < wire.length; i++) out[i] = decodeReading(wire[i], i);
  return out;
}

/** Validates one reading object (as an application built it) without encoding it. */
export function validateReading(reading: Reading, index = 0): void {
  encodeReading(reading, index);
}
