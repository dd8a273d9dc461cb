import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { assertKeyBytes, MAC_BYTES, NONCE_BYTES, resolveCryptoBackend, SECRETBOX_KEY_BYTES, type CryptoBackend, type CryptoBackendOption, type StreamDataKey, type StreamKeyring } from '../crypto';
import { VigilError } from '../errors';
import { EnvelopeReader } from './envelope-reader';
import { binHeaderSize, readU64, writeBinHeader, writeU64 } from './envelope-writer';
import { checkEventTime, DEVICE_ID_PATTERN, MAX_EPOCH } from './frame';
import { validateLabel, type ClassificationLabel } from './label';
import { MAX_DERIVED_VALUES, MAX_PROVENANCE_ENTRIES, MAX_READINGS_PER_FRAME, MAX_RECORD_BYTES, MAX_SEQ } from './limits';
import { READING_KIND_TAGS, type ReadingKind } from './reading';
import { MsgpackWriter } from './msgpack-writer';
import { decodeReadings, encodeReadings, writeReadings } from './reading-codec';
import { RECORD_TYPE_TAGS, RECORD_VERSION, RECORD_VERSION_DEFLATE, type DerivedValue, type FrameRange, type SealedRecord, type VigilRecord } from './record';

const NAME_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
// eslint-disable-next-line no-control-regex -- the point is to exclude control characters
const TEXT_PATTERN = /^[^\u0000-\u001f\u007f-\u009f]{1,256}$/u;
const VALUE_KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_DERIVED_STRING = 256;

function invalid(field: string, message: string): VigilError {
  return new VigilError('VIGIL_E_RECORD_INVALID', `record ${field}: ${message}`, { details: { field } });
}

function checkName(v: unknown, field: string, pattern = NAME_PATTERN): string {
  if (typeof v !== 'string' || !pattern.test(v)) throw invalid(field, `must match ${String(pattern)}`);
  return v;
}

function checkUint(v: unknown, field: string, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw invalid(field, `must be an integer in 0..${max}`);
  return v;
}

function checkLabel(v: unknown): ClassificationLabel {
  try {
    return validateLabel(v);
  } catch (err) {
    throw new VigilError('VIGIL_E_RECORD_INVALID', `record label: ${(err as Error).message}`, { details: { field: 'label' }, cause: err });
  }
}

function checkSeq(v: unknown, field: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > MAX_SEQ) throw invalid(field, 'must be a bigint in 0..2^64-1');
  return v;
}

function seqBytes(v: unknown, field: string): Uint8Array {
  const b = new Uint8Array(8);
  writeU64(b, 0, checkSeq(v, field));
  return b;
}

function seqFromWire(v: unknown, field: string): bigint {
  if (!(v instanceof Uint8Array) || v.length !== 8) throw invalid(field, 'must be 8 bytes (u64 big-endian)');
  return readU64(v, 0);
}

function eventTime(v: unknown, field: string): number {
  checkEventTime(v, field, invalid);
  return v;
}

function derivedValue(v: unknown, key: string): DerivedValue {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid(`values.${key}`, 'must be finite');
    return v === 0 ? 0 : v;
  }
  if (typeof v === 'string' && v.length <= MAX_DERIVED_STRING) return v;
  throw invalid(`values.${key}`, `must be a finite number, a string of at most ${MAX_DERIVED_STRING} characters, a boolean or null`);
}

function checkValues(v: unknown): Record<string, DerivedValue> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw invalid('values', 'must be a map');
  const keys = Object.keys(v);
  if (keys.length > MAX_DERIVED_VALUES) throw invalid('values', `at most ${MAX_DERIVED_VALUES} entries`);
  const out: Record<string, DerivedValue> = {};
  for (const k of keys.sort()) {
    checkName(k, 'values key', VALUE_KEY_PATTERN);
    out[k] = derivedValue((v as Record<string, unknown>)[k], k);
  }
  return out;
}

function checkProvenance(v: unknown, fromWire: boolean): FrameRange[] {
  if (!Array.isArray(v)) throw invalid('provenance', 'must be an array');
  if (v.length > MAX_PROVENANCE_ENTRIES) throw invalid('provenance', `at most ${MAX_PROVENANCE_ENTRIES} entries`);
  return v.map((e: unknown, i) => {
    let deviceId: unknown, first: bigint, last: bigint;
    if (fromWire) {
      if (!Array.isArray(e) || e.length !== 3) throw invalid(`provenance[${i}]`, 'must be [deviceId, firstSeq, lastSeq]');
      deviceId = e[0];
      first = seqFromWire(e[1], `provenance[${i}].firstSeq`);
      last = seqFromWire(e[2], `provenance[${i}].lastSeq`);
    } else {
      const r = e as FrameRange;
      deviceId = r.deviceId;
      seqBytes(r.firstSeq, `provenance[${i}].firstSeq`);
      seqBytes(r.lastSeq, `provenance[${i}].lastSeq`);
      first = r.firstSeq;
      last = r.lastSeq;
    }
    checkName(deviceId, `provenance[${i}].deviceId`, DEVICE_ID_PATTERN);
    if (first > last) throw invalid(`provenance[${i}]`, 'firstSeq must not exceed lastSeq');
    return { deviceId: deviceId as string, firstSeq: first, lastSeq: last };
  });
}

function kindOf(v: unknown): ReadingKind {
  if (typeof v !== 'string' || !Object.prototype.hasOwnProperty.call(READING_KIND_TAGS, v)) throw invalid('kind', `must be one of ${Object.keys(READING_KIND_TAGS).join(', ')}`);
  return v as ReadingKind;
}

function readingsOfKind(readings: readonly { kind: string }[], kind: ReadingKind): void {
  for (let i = 0; i < readings.length; i++) {
    if ((readings[i] as { kind: string }).kind !== kind) throw invalid(`readings[${i}]`, `is a ${(readings[i] as { kind: string }).kind} reading in a ${kind} record`);
  }
}

export interface RecordCodecOptions {
  readonly backend?: CryptoBackend | CryptoBackendOption;
}

export interface SealRecordOptions {
  /** The 24 nonce bytes; random when absent. Only tests and fixtures pass one. */
  readonly nonce?: Uint8Array;
  /**
   * Compress the plaintext before sealing (envelope version 2), when that makes it smaller;
   * otherwise version 1 is written. Default false: readers older than version 2 cannot open it.
   */
  readonly compress?: boolean;
}

/**
 * Seals and opens the records Vigil keeps in Kafka (docs/wire-format.md §7–8): the plaintext
 * is msgpack, sealed with XSalsa20-Poly1305 (secretbox) under a stream data key whose id
 * travels in the `vigil-key-id` Kafka header, so Kafka disks hold no plaintext.
 * One instance per worker; not reentrant.
 */
export class RecordCodec {
  private readonly backend: CryptoBackend;
  private readonly encoder = new Encoder({ sortKeys: true });
  private readonly decoder = new Decoder();
  private readonly reader = new EnvelopeReader('VIGIL_E_RECORD_INVALID');
  private plain = new Uint8Array(4096);
  private readonly writer = new MsgpackWriter(new Encoder());
  /** Encoded labels, keyed by the interned frozen objects `validateLabel` returns (never by a caller's mutable one). */
  private readonly labelWire = new WeakMap<object, Uint8Array>();
  private lastGatewayId: string | undefined;
  /** Labels seen, by length-prefixed level and codes (only labels that passed validation). */
  private readonly labels = new Map<string, ClassificationLabel>();

  constructor(options: RecordCodecOptions = {}) {
    this.backend = resolveCryptoBackend(options.backend);
  }

  /**
   * Validates and seals a telemetry or derived record under `key`.
   *
   * @throws VigilError `VIGIL_E_RECORD_INVALID`, `VIGIL_E_READING_INVALID`, `VIGIL_E_KEY_INVALID`
   */
  seal(record: VigilRecord, key: StreamDataKey, options: SealRecordOptions = {}): SealedRecord {
    assertKeyBytes(key.key, SECRETBOX_KEY_BYTES, 'stream data key');
    if (options.nonce !== undefined) assertKeyBytes(options.nonce, NONCE_BYTES, 'nonce');
    return this.sealBody(this.plaintextOf(record), key, options);
  }

  /**
   * The record's msgpack plaintext: a view into this codec's buffers, valid until its next call.
   * A telemetry record (what the gateway seals for every frame) is written straight as msgpack,
   * without building its wire arrays: the same checks in the same order as `toWire`, and byte
   * for byte what the generic encoder writes for them (test/codec/record-writer.test.ts).
   */
  private plaintextOf(record: VigilRecord): Uint8Array {
    if (typeof record !== 'object' || record === null || record.type !== 'telemetry') return this.encoder.encodeSharedRef(this.toWire(record));
    const kind = kindOf(record.kind);
    if (!Array.isArray(record.readings)) throw invalid('readings', 'must be an array');
    readingsOfKind(record.readings, kind);
    const deviceId = checkName(record.deviceId, 'deviceId', DEVICE_ID_PATTERN);
    const seq = checkSeq(record.seq, 'seq');
    const eventTimeMs = eventTime(record.eventTimeMs, 'eventTimeMs');
    const ingestTimeMs = eventTime(record.ingestTimeMs, 'ingestTimeMs');
    // One gateway seals under one id: checked once, not per record.
    const gatewayId = this.lastGatewayId !== undefined && record.gatewayId === this.lastGatewayId ? this.lastGatewayId : (this.lastGatewayId = checkName(record.gatewayId, 'gatewayId'));
    const label = this.labelBytes(record.label);
    const w = this.writer;
    w.reset();
    w.arrayHeader(9);
    w.number(RECORD_TYPE_TAGS.telemetry);
    w.str(deviceId);
    w.binU64(seq);
    w.number(eventTimeMs);
    w.number(ingestTimeMs);
    w.str(gatewayId);
    w.str(kind);
    w.raw(label);
    writeReadings(record.readings, w, MAX_READINGS_PER_FRAME);
    return w.bytes();
  }

  /** A label's msgpack form, encoded once per (interned, frozen) label. */
  private labelBytes(label: unknown): Uint8Array {
    const hit = this.labelWire.get(label as object);
    if (hit !== undefined) return hit;
    const checked = checkLabel(label);
    let bytes = this.labelWire.get(checked);
    if (bytes === undefined) this.labelWire.set(checked, (bytes = this.encoder.encode(labelToWire(checked))));
    return bytes;
  }

  /**
   * Seals, unchanged, the msgpack plaintext of a record that `openWithPlaintext` accepted: a
   * record moved from one key to another (the relay's re-sealing) without being decoded and
   * encoded again. The bytes are not validated again; pass only what `openWithPlaintext` returned.
   *
   * @throws VigilError `VIGIL_E_RECORD_INVALID` (too large), `VIGIL_E_KEY_INVALID`
   */
  sealPlaintext(plaintext: Uint8Array, key: StreamDataKey, options: SealRecordOptions = {}): SealedRecord {
    assertKeyBytes(key.key, SECRETBOX_KEY_BYTES, 'stream data key');
    if (options.nonce !== undefined) assertKeyBytes(options.nonce, NONCE_BYTES, 'nonce');
    return this.sealBody(plaintext, key, options);
  }

  private sealBody(plaintext: Uint8Array, key: StreamDataKey, options: SealRecordOptions): SealedRecord {
    let body = plaintext;
    // The limit is on the uncompressed form, so a version 2 record never holds what version 1 could not.
    const v1Total = 1 + 1 + 2 + NONCE_BYTES + binHeaderSize(body.length + MAC_BYTES) + body.length + MAC_BYTES;
    if (v1Total > MAX_RECORD_BYTES) throw invalid('size', `sealed record would be ${v1Total} bytes, more than ${MAX_RECORD_BYTES}`);
    let version = RECORD_VERSION;
    if (options.compress === true) {
      const packed = deflateRawSync(body, { level: 6 });
      if (packed.length + 1 < body.length) {
        body = new Uint8Array(packed.length + 1);
        body[0] = RECORD_VERSION_DEFLATE;
        body.set(packed, 1);
        version = RECORD_VERSION_DEFLATE;
      }
    }
    const ctLength = body.length + MAC_BYTES;
    const total = 1 + 1 + 2 + NONCE_BYTES + binHeaderSize(ctLength) + ctLength;
    // From Node's Buffer pool (no zero-fill, no ArrayBuffer of its own per record): every byte is written below.
    const out = Buffer.allocUnsafe(total);
    out[0] = 0x93;
    out[1] = version;
    let p = writeBinHeader(out, 2, NONCE_BYTES);
    const nonce = out.subarray(p, p + NONCE_BYTES);
    if (options.nonce !== undefined) nonce.set(options.nonce);
    else this.backend.randomFill(nonce);
    p = writeBinHeader(out, p + NONCE_BYTES, ctLength);
    this.backend.secretboxSealInto(out.subarray(p, p + ctLength), body, nonce, key.key);
    return { keyId: key.keyId, value: out };
  }

  /**
   * Opens a sealed record value with the stream key it names.
   *
   * @throws VigilError `VIGIL_E_RECORD_VERSION`, `VIGIL_E_RECORD_INVALID`, `VIGIL_E_RECORD_AUTH`,
   *   `VIGIL_E_READING_INVALID`, `VIGIL_E_KEY_INVALID`
   */
  open(value: Uint8Array, key: StreamDataKey | Uint8Array): VigilRecord {
    return this.openWithPlaintext(value, key).record;
  }

  /**
   * `open`, and the record's msgpack plaintext as it was sealed (inflated when the record was
   * version 2): a view into this codec's buffer, valid until its next call. For
   * `sealPlaintext`, which moves a record to another key without encoding it again.
   *
   * @throws VigilError as `open`
   */
  openWithPlaintext(value: Uint8Array, key: StreamDataKey | Uint8Array): { record: VigilRecord; plaintext: Uint8Array } {
    const k = key instanceof Uint8Array ? key : key.key;
    assertKeyBytes(k, SECRETBOX_KEY_BYTES, 'stream data key');
    if (!(value instanceof Uint8Array)) throw invalid('envelope', 'must be bytes');
    if (value.length > MAX_RECORD_BYTES) throw invalid('envelope', `larger than ${MAX_RECORD_BYTES} bytes`);
    const r = this.reader;
    r.reset(value);
    const count = r.fixArray('envelope');
    const version = r.uint('version', Number.MAX_SAFE_INTEGER);
    if (version !== RECORD_VERSION && version !== RECORD_VERSION_DEFLATE) {
      throw new VigilError('VIGIL_E_RECORD_VERSION', `record version ${version} is not supported (this build reads versions ${RECORD_VERSION} and ${RECORD_VERSION_DEFLATE})`, { details: { version } });
    }
    if (count !== 3) r.fail('envelope', `a version ${version} record is an array of 3 elements, got ${count}`);
    const nonceStart = r.binExact('nonce', NONCE_BYTES);
    const ctLength = r.binHeader('ciphertext');
    if (ctLength <= MAC_BYTES) r.fail('ciphertext', `must be longer than the ${MAC_BYTES}-byte tag`);
    const ctStart = r.pos;
    r.pos += ctLength;
    r.end('envelope');
    if (this.plain.length < ctLength) this.plain = new Uint8Array(Math.max(ctLength, this.plain.length * 2));
    const plain = this.plain.subarray(0, ctLength - MAC_BYTES);
    if (!this.backend.secretboxOpenInto(plain, value.subarray(ctStart, ctStart + ctLength), value.subarray(nonceStart, nonceStart + NONCE_BYTES), k)) {
      throw new VigilError('VIGIL_E_RECORD_AUTH', 'sealed record failed authentication (wrong stream key or changed bytes)');
    }
    let msgpack: Uint8Array = plain;
    if (version === RECORD_VERSION_DEFLATE) {
      // The version is authenticated by its copy inside the ciphertext: an envelope relabelled 1 ↔ 2 is refused.
      if (plain[0] !== RECORD_VERSION_DEFLATE) throw invalid('version', 'the version inside the ciphertext is not the envelope\'s');
      try {
        // Bounded: a record's plaintext is never larger than a version 1 record could carry.
        msgpack = inflateRawSync(plain.subarray(1), { maxOutputLength: MAX_RECORD_BYTES });
      } catch {
        throw invalid('plaintext', `not valid DEFLATE, or larger than ${MAX_RECORD_BYTES} bytes once inflated`);
      }
    }
    let wire: unknown;
    try {
      wire = this.decoder.decode(msgpack);
    } catch {
      // The decoder's text can quote plaintext bytes; records are opened by workers that log.
      throw new VigilError('VIGIL_E_RECORD_INVALID', 'record plaintext is not valid msgpack', { details: { field: 'plaintext' } });
    }
    return { record: this.fromWire(wire), plaintext: msgpack };
  }

  /** Opens a record with the key its key id names in `keyring` (`VIGIL_E_KEY_UNKNOWN` when absent). */
  openSealed(sealed: SealedRecord, keyring: StreamKeyring): VigilRecord {
    return this.open(sealed.value, keyring.get(sealed.keyId));
  }

  /** The record plaintext as msgpack bytes (a copy), as sealed: for tests and the spec's examples. */
  encodePlaintext(record: VigilRecord): Uint8Array {
    return this.plaintextOf(record).slice();
  }

  private toWire(record: VigilRecord): unknown[] {
    if (typeof record !== 'object' || record === null) throw invalid('type', 'must be an object');
    if (record.type === 'telemetry') {
      const kind = kindOf(record.kind);
      if (!Array.isArray(record.readings)) throw invalid('readings', 'must be an array');
      readingsOfKind(record.readings, kind);
      return [
        RECORD_TYPE_TAGS.telemetry,
        checkName(record.deviceId, 'deviceId', DEVICE_ID_PATTERN),
        seqBytes(record.seq, 'seq'),
        eventTime(record.eventTimeMs, 'eventTimeMs'),
        eventTime(record.ingestTimeMs, 'ingestTimeMs'),
        checkName(record.gatewayId, 'gatewayId'),
        kind,
        labelToWire(checkLabel(record.label)),
        encodeReadings(record.readings, MAX_READINGS_PER_FRAME),
      ];
    }
    if (record.type === 'derived') {
      const start = eventTime(record.windowStartMs, 'windowStartMs');
      const end = eventTime(record.windowEndMs, 'windowEndMs');
      if (start > end) throw invalid('windowEndMs', 'must not be before windowStartMs');
      return [
        RECORD_TYPE_TAGS.derived,
        checkName(record.pipeline, 'pipeline'),
        start,
        end,
        checkName(record.key, 'key', TEXT_PATTERN),
        checkValues(record.values),
        checkUint(record.revision, 'revision', MAX_EPOCH),
        labelToWire(checkLabel(record.label)),
        checkProvenance(record.provenance, false).map((p) => [p.deviceId, seqBytes(p.firstSeq, 'firstSeq'), seqBytes(p.lastSeq, 'lastSeq')]),
      ];
    }
    throw invalid('type', 'must be "telemetry" or "derived"');
  }

  /**
   * A record's label, validated once per distinct label and then shared: a stream carries a
   * handful of labels, and one frozen object per label lets label checks downstream compare
   * by identity instead of allocating and validating per record.
   */
  private label(wire: unknown): ClassificationLabel {
    if (Array.isArray(wire) && wire.length === 2 && typeof wire[0] === 'string' && Array.isArray(wire[1])) {
      const rel = wire[1] as unknown[];
      // Length-prefixed parts: no two different wire labels share an id.
      let id: string | null = `${wire[0].length}:${wire[0]}`;
      for (let i = 0; i < rel.length && id !== null; i++) {
        const c = rel[i];
        id = typeof c === 'string' ? `${id}|${c.length}:${c}` : null;
      }
      const known = id === null ? undefined : this.labels.get(id);
      if (known !== undefined) return known;
      if (id === null) return checkLabel(labelFromWire(wire));
      const label = checkLabel(labelFromWire(wire));
      if (this.labels.size >= 256) this.labels.clear();
      this.labels.set(id, label);
      return label;
    }
    return checkLabel(labelFromWire(wire));
  }

  private fromWire(wire: unknown): VigilRecord {
    if (!Array.isArray(wire) || wire.length < 1) throw invalid('plaintext', 'must be an array');
    if (wire[0] === RECORD_TYPE_TAGS.telemetry) {
      if (wire.length !== 9) throw invalid('plaintext', `a telemetry record has 9 elements, got ${wire.length}`);
      const kind = kindOf(wire[6]);
      const readings = decodeReadings(wire[8], MAX_READINGS_PER_FRAME);
      readingsOfKind(readings, kind);
      return {
        type: 'telemetry',
        deviceId: checkName(wire[1], 'deviceId', DEVICE_ID_PATTERN),
        seq: seqFromWire(wire[2], 'seq'),
        eventTimeMs: eventTime(wire[3], 'eventTimeMs'),
        ingestTimeMs: eventTime(wire[4], 'ingestTimeMs'),
        gatewayId: checkName(wire[5], 'gatewayId'),
        kind,
        label: this.label(wire[7]),
        readings,
      };
    }
    if (wire[0] === RECORD_TYPE_TAGS.derived) {
      if (wire.length !== 9) throw invalid('plaintext', `a derived record has 9 elements, got ${wire.length}`);
      const start = eventTime(wire[2], 'windowStartMs');
      const end = eventTime(wire[3], 'windowEndMs');
      if (start > end) throw invalid('windowEndMs', 'must not be before windowStartMs');
      return {
        type: 'derived',
        pipeline: checkName(wire[1], 'pipeline'),
        windowStartMs: start,
        windowEndMs: end,
        key: checkName(wire[4], 'key', TEXT_PATTERN),
        values: checkValues(wire[5]),
        revision: checkUint(wire[6], 'revision', MAX_EPOCH),
        label: this.label(wire[7]),
        provenance: checkProvenance(wire[8], true),
      };
    }
    throw invalid('type', 'unknown record type tag');
  }
}

function labelToWire(label: ClassificationLabel): unknown[] {
  return [label.level, label.releasability];
}

function labelFromWire(v: unknown): unknown {
  if (!Array.isArray(v) || v.length !== 2) throw invalid('label', 'must be [level, releasability]');
  return { level: v[0], releasability: v[1] };
}
