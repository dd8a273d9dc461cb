import { crc32 } from 'node:zlib';
import { VigilError } from '../../errors';
import { priorityRank, type PriorityRank } from './priority';
import type { SpoolEntry } from './spool';

/*
 * The on-disk record format of spool segment files (little-endian):
 *
 *   record  = magic u32 'VSP1' | payloadLength u32 | crc32(payload) u32 | payload
 *   payload = type u8 | …
 *
 *   type 1, entry (44 fixed bytes, then variable parts in this order):
 *     type u8 | priority u8 (0 flash, 1 immediate, 2 routine) | flags u8 (1 key, 2 expiresAt) | 0 u8
 *     seq f64 | enqueuedAt f64 | expiresAt f64 (0 when absent)
 *     deviceIdLength u16 | topicLength u16 | headerCount u16 | 0 u16 | keyLength u32 | valueLength u32
 *     deviceId utf8 | topic utf8 | key | headers | value
 *     header = nameLength u16 | kind u8 (0 utf8 string, 1 bytes) | valueLength u32 | name utf8 | value
 *   type 2, remove (entries left the spool: acked, shed, expired, corrupt):
 *     type u8 | reason u8 | 0 u16 | count u32 | seq f64 × count
 *   type 3, segment start (first record of every segment):
 *     type u8 | 0 u8 × 7 | nextSeq f64 — the first sequence number not yet used when the segment
 *     was started, so that sequence numbers never repeat even after every older segment is deleted.
 *
 * Sequence numbers are per spool directory, strictly increasing in append order; they are the
 * entries' identity (remove records name them) and their order on recovery. f64 holds them
 * exactly up to 2^53. The checksum covers the payload; a damaged length shows up as a checksum
 * mismatch (or a record running past the end of the file).
 */

export const RECORD_MAGIC = 0x31505356; // bytes 'V' 'S' 'P' '1'
export const RECORD_HEADER_BYTES = 12;
/** Largest payload accepted, so that a damaged length field cannot make recovery allocate gigabytes. */
export const MAX_RECORD_PAYLOAD = 64 * 1024 * 1024;

export const RECORD_ENTRY = 1;
export const RECORD_REMOVE = 2;
export const RECORD_SEGMENT_START = 3;

const ENTRY_FIXED = 44;
const HEADER_FIXED = 7;
const REMOVE_FIXED = 8;
const SEGMENT_START_PAYLOAD = 16;
const FLAG_KEY = 1;
const FLAG_EXPIRES = 2;
const MAX_U16 = 0xffff;

/** Why a remove record removes its entries. */
export const REMOVE_ACKED = 0;
export const REMOVE_SHED = 1;
export const REMOVE_EXPIRED = 2;
export const REMOVE_CORRUPT = 3;

function invalid(message: string, field: string): never {
  throw new VigilError('VIGIL_E_SPOOL_ENTRY_INVALID', `spool entry: ${message}`, { details: { field } });
}

/**
 * The bytes an entry takes in the spool's budget: its whole record on disk, the same in every
 * implementation so that budgets behave alike. Also validates the entry (throws
 * `VIGIL_E_SPOOL_ENTRY_INVALID`), so the append path walks each entry once before encoding.
 */
export function spoolEntrySize(entry: SpoolEntry): number {
  if (typeof entry !== 'object' || entry === null) invalid('not an object', 'entry');
  if (typeof entry.deviceId !== 'string' || entry.deviceId.length === 0) invalid('deviceId must be a non-empty string', 'deviceId');
  if (priorityRank(entry.priority) < 0) invalid(`priority ${JSON.stringify(entry.priority)} is not flash, immediate or routine`, 'priority');
  if (typeof entry.topic !== 'string' || entry.topic.length === 0) invalid('topic must be a non-empty string', 'topic');
  if (!Buffer.isBuffer(entry.value)) invalid('value must be a Buffer', 'value');
  if (entry.key !== undefined && !Buffer.isBuffer(entry.key)) invalid('key must be a Buffer when given', 'key');
  if (typeof entry.enqueuedAt !== 'number' || !Number.isFinite(entry.enqueuedAt)) invalid('enqueuedAt must be a finite number', 'enqueuedAt');
  if (entry.expiresAt !== undefined && (typeof entry.expiresAt !== 'number' || !Number.isFinite(entry.expiresAt))) {
    invalid('expiresAt must be a finite number when given', 'expiresAt');
  }
  const deviceBytes = Buffer.byteLength(entry.deviceId, 'utf8');
  const topicBytes = Buffer.byteLength(entry.topic, 'utf8');
  if (deviceBytes > MAX_U16) invalid('deviceId is longer than 65535 bytes', 'deviceId');
  if (topicBytes > MAX_U16) invalid('topic is longer than 65535 bytes', 'topic');
  let size = RECORD_HEADER_BYTES + ENTRY_FIXED + deviceBytes + topicBytes + entry.value.length + (entry.key === undefined ? 0 : entry.key.length);
  const headers = entry.headers;
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null) invalid('headers must be an object when given', 'headers');
    let count = 0;
    for (const name in headers) {
      const v = headers[name];
      const nameBytes = Buffer.byteLength(name, 'utf8');
      if (nameBytes > MAX_U16) invalid('a header name is longer than 65535 bytes', 'headers');
      if (typeof v === 'string') size += HEADER_FIXED + nameBytes + Buffer.byteLength(v, 'utf8');
      else if (Buffer.isBuffer(v)) size += HEADER_FIXED + nameBytes + v.length;
      else invalid(`header "${name}" must be a string or a Buffer`, 'headers');
      count++;
    }
    if (count > MAX_U16) invalid('more than 65535 headers', 'headers');
  }
  if (size - RECORD_HEADER_BYTES > MAX_RECORD_PAYLOAD) invalid(`record of ${size} bytes exceeds the ${MAX_RECORD_PAYLOAD}-byte maximum`, 'value');
  return size;
}

function finishRecord(buf: Buffer, start: number, end: number): number {
  buf.writeUInt32LE(RECORD_MAGIC, start);
  buf.writeUInt32LE(end - start - RECORD_HEADER_BYTES, start + 4);
  // crc32 takes a view; one small subarray object per record is the price of per-record checksums.
  buf.writeUInt32LE(crc32(buf.subarray(start + RECORD_HEADER_BYTES, end)), start + 8);
  return end;
}

/**
 * Encodes `entry` as an entry record at `buf[offset]`, which must have `spoolEntrySize(entry)`
 * bytes free; returns the offset after it. Writes in place: no intermediate buffers.
 */
export function encodeEntry(buf: Buffer, offset: number, entry: SpoolEntry, seq: number, rank: PriorityRank): number {
  const p = offset + RECORD_HEADER_BYTES;
  let o = p + ENTRY_FIXED;
  const deviceBytes = buf.write(entry.deviceId, o, 'utf8');
  o += deviceBytes;
  const topicBytes = buf.write(entry.topic, o, 'utf8');
  o += topicBytes;
  const key = entry.key;
  if (key !== undefined) o += key.copy(buf, o);
  let headerCount = 0;
  const headers = entry.headers;
  if (headers !== undefined) {
    for (const name in headers) {
      const v = headers[name] as string | Buffer;
      const h = o;
      o += HEADER_FIXED;
      const nameBytes = buf.write(name, o, 'utf8');
      o += nameBytes;
      const valueBytes = typeof v === 'string' ? buf.write(v, o, 'utf8') : v.copy(buf, o);
      o += valueBytes;
      buf.writeUInt16LE(nameBytes, h);
      buf[h + 2] = typeof v === 'string' ? 0 : 1;
      buf.writeUInt32LE(valueBytes, h + 3);
      headerCount++;
    }
  }
  o += entry.value.copy(buf, o);
  buf[p] = RECORD_ENTRY;
  buf[p + 1] = rank;
  buf[p + 2] = (key === undefined ? 0 : FLAG_KEY) | (entry.expiresAt === undefined ? 0 : FLAG_EXPIRES);
  buf[p + 3] = 0;
  buf.writeDoubleLE(seq, p + 4);
  buf.writeDoubleLE(entry.enqueuedAt, p + 12);
  buf.writeDoubleLE(entry.expiresAt ?? 0, p + 20);
  buf.writeUInt16LE(deviceBytes, p + 28);
  buf.writeUInt16LE(topicBytes, p + 30);
  buf.writeUInt16LE(headerCount, p + 32);
  buf.writeUInt16LE(0, p + 34);
  buf.writeUInt32LE(key === undefined ? 0 : key.length, p + 36);
  buf.writeUInt32LE(entry.value.length, p + 40);
  return finishRecord(buf, offset, o);
}

/** Size of a remove record naming `count` entries. */
export function removeRecordSize(count: number): number {
  return RECORD_HEADER_BYTES + REMOVE_FIXED + 8 * count;
}

/** Encodes a remove record for `seqs[0..count)` at `buf[offset]`; returns the offset after it. */
export function encodeRemove(buf: Buffer, offset: number, reason: number, seqs: readonly number[], count: number): number {
  const p = offset + RECORD_HEADER_BYTES;
  buf[p] = RECORD_REMOVE;
  buf[p + 1] = reason;
  buf.writeUInt16LE(0, p + 2);
  buf.writeUInt32LE(count, p + 4);
  let o = p + REMOVE_FIXED;
  for (let i = 0; i < count; i++, o += 8) buf.writeDoubleLE(seqs[i] as number, o);
  return finishRecord(buf, offset, o);
}

export const SEGMENT_START_RECORD_BYTES = RECORD_HEADER_BYTES + SEGMENT_START_PAYLOAD;

/** Encodes a segment start record; returns the offset after it. */
export function encodeSegmentStart(buf: Buffer, offset: number, nextSeq: number): number {
  const p = offset + RECORD_HEADER_BYTES;
  buf.fill(0, p, p + 8);
  buf[p] = RECORD_SEGMENT_START;
  buf.writeDoubleLE(nextSeq, p + 8);
  return finishRecord(buf, offset, p + SEGMENT_START_PAYLOAD);
}

/**
 * Checks the record framed at `buf[offset]`: returns the payload length when the magic, the
 * length and the checksum are right and the record lies within `end`, else -1.
 */
export function checkRecord(buf: Buffer, offset: number, end: number): number {
  if (end - offset < RECORD_HEADER_BYTES) return -1;
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return -1;
  const length = buf.readUInt32LE(offset + 4);
  if (length === 0 || length > MAX_RECORD_PAYLOAD || offset + RECORD_HEADER_BYTES + length > end) return -1;
  const p = offset + RECORD_HEADER_BYTES;
  if (crc32(buf.subarray(p, p + length)) !== buf.readUInt32LE(offset + 8)) return -1;
  return length;
}

/** What recovery needs of an entry record, without its payload (decoded into a reused object). */
export interface EntryIndexFields {
  seq: number;
  rank: PriorityRank;
  enqueuedAt: number;
  expiresAt: number;
  deviceId: string;
}

/** Reads the index fields of a checked entry record whose payload starts at `p`; false when they are malformed. */
export function readEntryIndex(buf: Buffer, p: number, length: number, out: EntryIndexFields): boolean {
  if (length < ENTRY_FIXED || buf[p] !== RECORD_ENTRY) return false;
  const rank = buf[p + 1] as number;
  if (rank > 2) return false;
  const deviceBytes = buf.readUInt16LE(p + 28);
  if (ENTRY_FIXED + deviceBytes > length) return false;
  out.seq = buf.readDoubleLE(p + 4);
  out.rank = rank as PriorityRank;
  out.enqueuedAt = buf.readDoubleLE(p + 12);
  out.expiresAt = (buf[p + 2] as number) & FLAG_EXPIRES ? buf.readDoubleLE(p + 20) : Infinity;
  out.deviceId = buf.toString('utf8', p + ENTRY_FIXED, p + ENTRY_FIXED + deviceBytes);
  return Number.isSafeInteger(out.seq) && out.seq >= 0;
}

const PRIORITY_NAMES = ['flash', 'immediate', 'routine'] as const;

/**
 * Decodes a checked entry record whose payload starts at `p`. Buffers in the result are
 * views of `buf` (no copies); returns null when the payload is malformed.
 */
export function decodeEntry(buf: Buffer, p: number, length: number): SpoolEntry | null {
  if (length < ENTRY_FIXED || buf[p] !== RECORD_ENTRY) return null;
  const rank = buf[p + 1] as number;
  const flags = buf[p + 2] as number;
  if (rank > 2) return null;
  const end = p + length;
  const deviceBytes = buf.readUInt16LE(p + 28);
  const topicBytes = buf.readUInt16LE(p + 30);
  const headerCount = buf.readUInt16LE(p + 32);
  const keyBytes = buf.readUInt32LE(p + 36);
  const valueBytes = buf.readUInt32LE(p + 40);
  let o = p + ENTRY_FIXED;
  if (o + deviceBytes + topicBytes + keyBytes > end) return null;
  const deviceId = buf.toString('utf8', o, (o += deviceBytes));
  const topic = buf.toString('utf8', o, (o += topicBytes));
  const key = flags & FLAG_KEY ? buf.subarray(o, (o += keyBytes)) : undefined;
  let headers: Record<string, string | Buffer> | undefined;
  if (headerCount > 0) {
    headers = {};
    for (let i = 0; i < headerCount; i++) {
      if (o + HEADER_FIXED > end) return null;
      const nameBytes = buf.readUInt16LE(o);
      const kind = buf[o + 2];
      const vBytes = buf.readUInt32LE(o + 3);
      o += HEADER_FIXED;
      if (o + nameBytes + vBytes > end) return null;
      const name = buf.toString('utf8', o, (o += nameBytes));
      headers[name] = kind === 0 ? buf.toString('utf8', o, o + vBytes) : buf.subarray(o, o + vBytes);
      o += vBytes;
    }
  }
  if (o + valueBytes !== end) return null;
  const entry: {
    deviceId: string;
    priority: (typeof PRIORITY_NAMES)[number];
    topic: string;
    value: Buffer;
    enqueuedAt: number;
    key?: Buffer;
    headers?: Record<string, string | Buffer>;
    expiresAt?: number;
  } = { deviceId, priority: PRIORITY_NAMES[rank] as (typeof PRIORITY_NAMES)[number], topic, value: buf.subarray(o, end), enqueuedAt: buf.readDoubleLE(p + 12) };
  if (key !== undefined) entry.key = key;
  if (headers !== undefined) entry.headers = headers;
  if (flags & FLAG_EXPIRES) entry.expiresAt = buf.readDoubleLE(p + 20);
  return entry;
}

/** Reads a checked remove record at `p`: calls `each(seq)` for every entry it names; false when malformed. */
export function readRemove(buf: Buffer, p: number, length: number, each: (seq: number) => void): boolean {
  if (length < REMOVE_FIXED || buf[p] !== RECORD_REMOVE) return false;
  const count = buf.readUInt32LE(p + 4);
  if (REMOVE_FIXED + 8 * count !== length) return false;
  for (let i = 0, o = p + REMOVE_FIXED; i < count; i++, o += 8) each(buf.readDoubleLE(o));
  return true;
}

/** Reads a checked segment start record at `p`: its next sequence number, or -1 when malformed. */
export function readSegmentStart(buf: Buffer, p: number, length: number): number {
  if (length !== SEGMENT_START_PAYLOAD || buf[p] !== RECORD_SEGMENT_START) return -1;
  return buf.readDoubleLE(p + 8);
}
