import { createHmac, timingSafeEqual } from 'node:crypto';
import type { StreamDataKey, StreamKeyring } from '../crypto';
import { isVigilErrorCode, VigilError, type VigilErrorCode } from '../errors';
import { DEVICE_ID_PATTERN, MAX_EPOCH } from './frame';
import { RECORD_KEY_ID_HEADER } from './record';

/** Topic of rejection records (docs/architecture.md §6). */
export const REJECTED_TOPIC = 'telemetry.rejected';

/** The clear header of a rejected frame, when it decoded: what the sender claims, unverified. */
export interface RejectedFrameHeader {
  readonly deviceId: string;
  readonly epoch: number;
  /** The claimed sequence number, decimal (u64). */
  readonly seq: string;
  readonly eventTimeMs: number;
}

/**
 * What a gateway writes to `telemetry.rejected` for every frame it refuses: UTF-8 JSON,
 * not sealed (any Kafka tool reads it) but authenticated by an HMAC under the telemetry
 * stream key, keyed by the claimed device id (or `sha256` when no header decoded). It never
 * carries plaintext: a rejected frame was never opened, or failed after opening and its
 * plaintext was dropped. docs/wire-format.md §"Rejection record" is the reference.
 */
export interface RejectionRecord {
  /** Why: a `VIGIL_E_…` code. */
  readonly reason: VigilErrorCode;
  readonly message: string;
  readonly header: RejectedFrameHeader | null;
  /** SHA-256 of the frame bytes, 64 lowercase hex digits. */
  readonly sha256: string;
  /** Size of the frame in bytes. */
  readonly bytes: number;
  readonly gatewayId: string;
  /** When the gateway rejected it, ms since the Unix epoch (gateway clock). */
  readonly atMs: number;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SEQ = /^(0|[1-9][0-9]{0,19})$/;
const U64_MAX = (1n << 64n) - 1n;

/** The Kafka key of a rejection record: the claimed device id, else the frame hash. */
export function rejectionKey(r: RejectionRecord): string {
  return r.header?.deviceId ?? r.sha256;
}

/** Encodes a rejection record as the JSON bytes written to `telemetry.rejected`. */
export function encodeRejectionRecord(r: RejectionRecord): Uint8Array {
  const { reason, message, header, sha256, bytes, gatewayId, atMs } = r;
  return new TextEncoder().encode(JSON.stringify({ reason, message, header, sha256, bytes, gatewayId, atMs }));
}

function bad(field: string, problem: string): never {
  throw new VigilError('VIGIL_E_RECORD_INVALID', `rejection record: ${field} ${problem}`, { details: { field } });
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Decodes and checks a rejection record (any field of the wrong type or range is
 * `VIGIL_E_RECORD_INVALID` naming the field). Unknown fields are ignored, so gateways may
 * add some without breaking older readers.
 */
export function decodeRejectionRecord(bytes: Uint8Array): RejectionRecord {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    bad('value', `is not UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('value', 'must be a JSON object');
  const o = json as Record<string, unknown>;
  if (typeof o.reason !== 'string' || !isVigilErrorCode(o.reason)) bad('reason', 'must be a VIGIL_E_ code');
  if (typeof o.message !== 'string') bad('message', 'must be a string');
  if (typeof o.sha256 !== 'string' || !SHA256.test(o.sha256)) bad('sha256', 'must be 64 lowercase hex digits');
  if (!isTime(o.bytes)) bad('bytes', 'must be a non-negative integer');
  if (typeof o.gatewayId !== 'string' || o.gatewayId.length === 0) bad('gatewayId', 'must be a non-empty string');
  if (!isTime(o.atMs)) bad('atMs', 'must be a non-negative integer of ms');
  let header: RejectedFrameHeader | null = null;
  if (o.header !== null && o.header !== undefined) {
    const h = o.header as Record<string, unknown>;
    if (typeof h !== 'object' || Array.isArray(h)) bad('header', 'must be an object or null');
    if (typeof h.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(h.deviceId)) bad('header.deviceId', `must match ${String(DEVICE_ID_PATTERN)}`);
    if (typeof h.epoch !== 'number' || !Number.isInteger(h.epoch) || h.epoch < 0 || h.epoch > MAX_EPOCH) bad('header.epoch', `must be an integer 0..${MAX_EPOCH}`);
    if (typeof h.seq !== 'string' || !SEQ.test(h.seq) || BigInt(h.seq) > U64_MAX) bad('header.seq', 'must be a decimal u64 string');
    if (!isTime(h.eventTimeMs)) bad('header.eventTimeMs', 'must be a non-negative integer of ms');
    header = { deviceId: h.deviceId, epoch: h.epoch, seq: h.seq, eventTimeMs: h.eventTimeMs };
  }
  return { reason: o.reason, message: o.message, header, sha256: o.sha256, bytes: o.bytes, gatewayId: o.gatewayId, atMs: o.atMs };
}

/** Kafka header carrying a rejection record's MAC (32 bytes). */
export const REJECTION_MAC_HEADER = 'vigil-mac';

/** The MAC key is derived from the stream key for this one use (domain separation). */
const MAC_KEY_CONTEXT = 'vigil/v1 rejection-record mac';
const MAC_BYTES = 32;

/**
 * HMAC-SHA-256 of a rejection record's exact value bytes, under
 * HMAC-SHA-256(stream key, "vigil/v1 rejection-record mac").
 */
export function rejectionMac(value: Uint8Array, key: StreamDataKey): Buffer {
  let macKey = macKeys.get(key);
  if (macKey === undefined) macKeys.set(key, (macKey = createHmac('sha256', key.key).update(MAC_KEY_CONTEXT).digest()));
  return createHmac('sha256', macKey).update(value).digest();
}

/** MAC keys by stream key object, derived once: rejections can come as fast as an attacker sends junk. */
const macKeys = new WeakMap<StreamDataKey, Buffer>();

/** A rejection record as a Kafka message: JSON value, key id and MAC headers. */
export interface RejectionMessage {
  readonly topic: typeof REJECTED_TOPIC;
  readonly key: string;
  readonly value: Uint8Array;
  readonly headers: { readonly [RECORD_KEY_ID_HEADER]: string; readonly [REJECTION_MAC_HEADER]: Buffer };
}

/**
 * Encodes a rejection record and authenticates it under the telemetry stream key, so a
 * record written by anyone without that key (a forged tampering alarm) is refused by readers.
 *
 * @example
 * const m = rejectionMessage(record, streamKey);
 * await producer.send(m.topic, [{ key: m.key, value: Buffer.from(m.value), headers: m.headers }]);
 */
export function rejectionMessage(r: RejectionRecord, key: StreamDataKey): RejectionMessage {
  const value = encodeRejectionRecord(r);
  return { topic: REJECTED_TOPIC, key: rejectionKey(r), value, headers: { [RECORD_KEY_ID_HEADER]: key.keyId, [REJECTION_MAC_HEADER]: rejectionMac(value, key) } };
}

/**
 * Checks a `telemetry.rejected` message's MAC with the stream key its `vigil-key-id` names
 * (headers as sent or as read back), then decodes it. `VIGIL_E_RECORD_AUTH` when a header
 * is missing or the MAC does not match (the value was changed, or written without the key);
 * `VIGIL_E_KEY_UNKNOWN` when the keyring does not hold the key; `VIGIL_E_RECORD_INVALID`
 * when it is malformed.
 */
export function openRejectionRecord(value: Uint8Array, headers: Readonly<Record<string, Buffer | string | undefined>>, keyring: StreamKeyring): RejectionRecord {
  const bytes = (h: Buffer | string | undefined): Buffer | undefined => (typeof h === 'string' ? Buffer.from(h) : h);
  const keyId = bytes(headers[RECORD_KEY_ID_HEADER]);
  const mac = bytes(headers[REJECTION_MAC_HEADER]);
  if (keyId === undefined || mac === undefined) {
    throw new VigilError('VIGIL_E_RECORD_AUTH', `rejection record without ${keyId === undefined ? RECORD_KEY_ID_HEADER : REJECTION_MAC_HEADER} header: not written by a gateway holding the telemetry key`, {
      details: { header: keyId === undefined ? RECORD_KEY_ID_HEADER : REJECTION_MAC_HEADER },
    });
  }
  const key = keyring.get(keyId.toString('utf8'));
  const want = rejectionMac(value, key);
  if (mac.length !== MAC_BYTES || !timingSafeEqual(mac, want)) {
    throw new VigilError('VIGIL_E_RECORD_AUTH', `rejection record failed authentication under stream key ${JSON.stringify(key.keyId)}: changed, or written without the key`, { details: { keyId: key.keyId } });
  }
  return decodeRejectionRecord(value);
}
