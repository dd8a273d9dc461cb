import { MAC_BYTES, NONCE_BYTES, randomNonce, resolveCryptoBackend, secretboxOpen, type StreamDataKey, type StreamKeyring } from '../crypto';

const backend = resolveCryptoBackend(undefined);
import { VigilError, isVigilError } from '../errors';

/**
 * Changelog records of keyed state (docs/runtime.md "State stores"). Partition p of
 * `vigil.changelog.<pipeline>` holds the state of source partition p, one compacted
 * record per store entry and slot:
 *
 *   key   `<source topic> NUL <store> NUL <slot>[.<chunk>] NUL <entry key>`
 *   value `0x02 ‖ nonce(24) ‖ secretbox(plain)`, key id in the `vigil-key-id` header
 *   plain `version(1)=1 ‖ kind(1) ‖ epoch(f64 BE) ‖ chunk(u16) ‖ chunks(u16) ‖ JSON`
 *
 * and one commit record per source partition, key `<source topic> NUL ~meta`, written
 * last in every commit: the epoch it commits, the source offset, watermarks, counters.
 *
 * Why two slots: a commit of many records can land in part (a crash mid-send). Each write
 * of an entry goes to the slot that does not hold its latest committed value, so a partial
 * commit never overwrites (or lets compaction remove) the value a restore needs; a restore
 * takes, per entry, the slot with the highest epoch not above the last commit record's.
 */

export const STATE_RECORD_VERSION = 0x02;
const PLAIN_VERSION = 1;
const HEADER = 1 + 1 + 8 + 2 + 2;
const SEP = '\u0000';
export const META_NAME = '~meta';

/** Largest changelog record this runtime writes (key + value), far below Kafka's 1 MiB default. */
export const MAX_RECORD_BYTES = 256 * 1024;
/** JSON bytes per chunk: a record of this much JSON stays below MAX_RECORD_BYTES with its key and seal. */
export const CHUNK_BYTES = 240 * 1024;

export const enum RecordKind {
  Value = 0,
  Deleted = 1,
  Meta = 2,
}

export type ParsedKey =
  | { readonly type: 'meta'; readonly topic: string }
  | { readonly type: 'entry'; readonly topic: string; readonly store: string; readonly slot: 0 | 1; readonly chunk: number; readonly key: string };

export function entryRecordKey(topic: string, store: string, slot: 0 | 1, chunk: number, key: string): string {
  return `${topic}${SEP}${store}${SEP}${slot}${chunk > 0 ? `.${chunk}` : ''}${SEP}${key}`;
}

export function metaRecordKey(topic: string): string {
  return `${topic}${SEP}${META_NAME}`;
}

/** Parses a changelog key; null when it is not a state key of this format (e.g. an older Vigil's). */
export function parseRecordKey(key: string): ParsedKey | null {
  const a = key.indexOf(SEP);
  if (a <= 0) return null;
  const topic = key.slice(0, a);
  const b = key.indexOf(SEP, a + 1);
  if (b < 0) return key.slice(a + 1) === META_NAME ? { type: 'meta', topic } : null;
  const store = key.slice(a + 1, b);
  const c = key.indexOf(SEP, b + 1);
  if (c < 0) return null;
  const m = /^([01])(?:\.([1-9][0-9]{0,4}))?$/.exec(key.slice(b + 1, c));
  if (m === null || store.length === 0) return null;
  return { type: 'entry', topic, store, slot: m[1] === '1' ? 1 : 0, chunk: m[2] === undefined ? 0 : Number(m[2]), key: key.slice(c + 1) };
}

/**
 * Room in front of an unsealed record's plaintext for what sealing adds there (version
 * byte, nonce, MAC): `sealState` seals in place, so a commit of a few hundred thousand
 * records makes one buffer per record, not a plaintext and a sealed copy.
 */
const SEAL_ROOM = 1 + NONCE_BYTES + MAC_BYTES;
/** First byte of an unsealed record (a sealed one starts with STATE_RECORD_VERSION). */
const UNSEALED = 0x00;

function writePlainHeader(out: Buffer, kind: RecordKind, epoch: number, chunk: number, chunks: number): void {
  out[0] = UNSEALED;
  out[SEAL_ROOM] = PLAIN_VERSION;
  out[SEAL_ROOM + 1] = kind;
  out.writeDoubleBE(epoch, SEAL_ROOM + 2);
  out.writeUInt16BE(chunk, SEAL_ROOM + 10);
  out.writeUInt16BE(chunks, SEAL_ROOM + 12);
}

/** An unsealed state record: room for the seal, then its plaintext. Seal it with `sealState`. */
export function statePlain(kind: RecordKind, epoch: number, chunk: number, chunks: number, json: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SEAL_ROOM + HEADER + json.length);
  writePlainHeader(out, kind, epoch, chunk, chunks);
  json.copy(out, SEAL_ROOM + HEADER);
  return out;
}

/**
 * An unsealed state record whose JSON is one chunk, written straight from the JSON text:
 * one buffer per record rather than three (JSON bytes, plaintext, view).
 */
export function statePlainFromJson(kind: RecordKind, epoch: number, json: string): Buffer {
  const out = Buffer.allocUnsafe(SEAL_ROOM + HEADER + Buffer.byteLength(json, 'utf8'));
  writePlainHeader(out, kind, epoch, 0, 1);
  out.write(json, SEAL_ROOM + HEADER, 'utf8');
  return out;
}

// Nonces: 16 random bytes per process, then a 64-bit counter. Unique for the key without a
// random draw per record (a commit seals thousands of records; randombytes showed in profiles).
// The nonce is built in one buffer reused for every record (it is copied into the record).
const nonce = Buffer.alloc(NONCE_BYTES);
nonce.set(randomNonce().subarray(0, NONCE_BYTES - 8));
let nonceCounter = 0n;

/**
 * Seals an unsealed record (`statePlain`, `statePlainFromJson`) in place, into
 * `0x02 ‖ nonce ‖ secretbox(plain)`, and returns it: its plaintext is gone afterwards.
 * @throws VigilError `VIGIL_E_INTERNAL` for a buffer that is not an unsealed record (e.g. sealed already).
 */
export function sealState(record: Buffer, key: StreamDataKey): Buffer {
  if (record.length < SEAL_ROOM + HEADER || record[0] !== UNSEALED || record[SEAL_ROOM] !== PLAIN_VERSION) {
    throw new VigilError('VIGIL_E_INTERNAL', 'sealState: not an unsealed state record (sealed already?)');
  }
  record[0] = STATE_RECORD_VERSION;
  nonce.writeBigUInt64BE(nonceCounter, NONCE_BYTES - 8);
  nonceCounter = (nonceCounter + 1n) & 0xffffffffffffffffn;
  nonce.copy(record, 1);
  // The ciphertext lands exactly where the plaintext is (after the MAC): NaCl seals in place.
  backend.secretboxSealInto(record.subarray(1 + NONCE_BYTES), record.subarray(SEAL_ROOM), nonce, key.key);
  return record;
}

export interface OpenedState {
  readonly kind: RecordKind;
  readonly epoch: number;
  readonly chunk: number;
  readonly chunks: number;
  readonly json: Buffer;
}

/**
 * Opens a state record.
 * @throws VigilError `VIGIL_E_PIPELINE_CHECKPOINT` naming `where` (store and key): unknown key id, failed authentication, malformed.
 */
export function openState(value: Buffer, keyId: string, keyring: StreamKeyring, whereOf: string | (() => string)): OpenedState {
  // Named only when something fails: a restore opens millions of records.
  const at = (): string => (typeof whereOf === 'string' ? whereOf : whereOf());
  let key: StreamDataKey;
  try {
    key = keyring.get(keyId);
  } catch (err) {
    const where = at();
    throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `state record ${where} is sealed under key ${JSON.stringify(keyId)}, which the keyring does not hold`, { details: { where, keyId }, ...(isVigilError(err) ? { cause: err } : {}) });
  }
  if (value.length < 1 + NONCE_BYTES + 16 + HEADER || value[0] !== STATE_RECORD_VERSION) {
    const where = at();
    throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `state record ${where} is not a version ${STATE_RECORD_VERSION} sealed state record (a changelog written by an older Vigil?)`, { details: { where } });
  }
  const plain = secretboxOpen(value.subarray(1 + NONCE_BYTES), value.subarray(1, 1 + NONCE_BYTES), key.key);
  if (plain === null || plain.length < HEADER || plain[0] !== PLAIN_VERSION || plain[1]! > RecordKind.Meta) {
    const where = at();
    throw new VigilError('VIGIL_E_PIPELINE_CHECKPOINT', `state record ${where} failed authentication or is malformed (wrong key or changed bytes)`, { details: { where, keyId } });
  }
  const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  return { kind: buf[1] as RecordKind, epoch: buf.readDoubleBE(2), chunk: buf.readUInt16BE(10), chunks: buf.readUInt16BE(12), json: buf.subarray(HEADER) };
}
