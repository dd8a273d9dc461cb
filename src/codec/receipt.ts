import { decode } from '@msgpack/msgpack';
import { MAC_BYTES, NONCE_BYTES, randomNonce, resolveCryptoBackend, SHA512_BYTES, type CryptoBackend, type CryptoBackendOption } from '../crypto';
import { VigilError } from '../errors';
import { binHeaderSize, readU64, strHeaderSize, uintSize, writeBinHeader, writeStrHeader, writeUint, writeU64 } from './envelope-writer';
import { DEVICE_ID_PATTERN, MAX_EPOCH } from './frame';

/** Version of the receipt layout (docs/wire-format.md §12). */
export const RECEIPT_VERSION = 1;
/** Most sequence ranges in one receipt; a gateway splits longer lists over several receipts. */
export const MAX_RECEIPT_RANGES = 1024;
/** The MQTT topic a device's receipts are published to, beside its telemetry topic. */
export const RECEIPT_TOPIC_SUFFIX = 'receipt';

/** An inclusive range of a device's sequence numbers: every frame of the device numbered in it is durable. */
export type SeqRange = readonly [from: bigint, to: bigint];

/**
 * A durable receipt (docs/wire-format.md §12): the gateway tells a device which of its frames
 * are durable (in Kafka, or fsynced in the gateway's spool), so the device may forget them.
 */
export interface Receipt {
  readonly deviceId: string;
  /** Key epoch of the frames it covers: the receipt is sealed under that epoch's shared key. */
  readonly epoch: number;
  /** The gateway that made the frames durable (for the device's logs). */
  readonly gatewayId: string;
  /** Frames now durable: ascending, non-overlapping, inclusive ranges of sequence numbers. */
  readonly ranges: readonly SeqRange[];
  /**
   * Frames refused for good after they were authenticated (an invalid reading, a kind the
   * device may not send): resending them cannot help, so the device stops waiting for them.
   * Same form; may be empty (and so may `ranges`, not both).
   */
  readonly refused: readonly SeqRange[];
}

const TEXT = new TextEncoder();

function invalid(why: string): VigilError {
  return new VigilError('VIGIL_E_RECEIPT_INVALID', `receipt refused: ${why}`);
}

/** SHA-512 scratch, reused: sealing and opening are synchronous. */
const HASH = new Uint8Array(SHA512_BYTES);

function boxNonce(header: Uint8Array, backend: CryptoBackend): Uint8Array {
  backend.sha512Into(HASH, header);
  return HASH.slice(0, NONCE_BYTES);
}

/** Writes the clear header `H` (array header, version, device id, epoch, nonce) at 0, shortest forms; returns its length. */
function writeHeader(out: Uint8Array, id: Uint8Array, epoch: number, nonce: Uint8Array): number {
  out[0] = 0x95;
  let pos = writeUint(out, 1, RECEIPT_VERSION);
  pos = writeStrHeader(out, pos, id.length);
  out.set(id, pos);
  pos = writeUint(out, pos + id.length, epoch);
  pos = writeBinHeader(out, pos, nonce.length);
  out.set(nonce, pos);
  return pos + nonce.length;
}

function headerSize(id: Uint8Array, epoch: number): number {
  return 1 + uintSize(RECEIPT_VERSION) + strHeaderSize(id.length) + id.length + uintSize(epoch) + binHeaderSize(NONCE_BYTES) + NONCE_BYTES;
}

/** The clear header `H` as its own buffer (opening checks the received bytes against it). */
function receiptHeader(deviceId: string, epoch: number, nonce: Uint8Array): Uint8Array {
  const id = TEXT.encode(deviceId);
  const out = new Uint8Array(headerSize(id, epoch));
  writeHeader(out, id, epoch, nonce);
  return out;
}

function checkRanges(ranges: readonly SeqRange[], refused: readonly SeqRange[]): void {
  if (ranges.length + refused.length === 0 || ranges.length > MAX_RECEIPT_RANGES || refused.length > MAX_RECEIPT_RANGES) {
    throw invalid(`must carry 1..${MAX_RECEIPT_RANGES} durable and at most ${MAX_RECEIPT_RANGES} refused ranges, has ${ranges.length} and ${refused.length}`);
  }
  checkOrder(ranges);
  checkOrder(refused);
}

function checkOrder(ranges: readonly SeqRange[]): void {
  let prev = -1n;
  for (const [from, to] of ranges) {
    if (from > to || from <= prev || to > 0xffff_ffff_ffff_ffffn || from < 0n) throw invalid('ranges must be ascending, non-overlapping u64 ranges with from <= to');
    prev = to;
  }
}

/**
 * Seals a receipt under the device's shared `box` key `sharedKey` (the same key its frames
 * are sealed with, `crypto_box_beforenm`): only a holder of the ingest secret key can make
 * one, so a device can trust it came from a gateway.
 *
 * @example
 * const bytes = sealReceipt({ deviceId: 'uav-7', epoch: 1, gatewayId: 'gw-1', ranges: [[100n, 164n]], refused: [] }, sharedKey);
 */
export function sealReceipt(receipt: Receipt, sharedKey: Uint8Array, options: { backend?: CryptoBackend | CryptoBackendOption; nonce?: Uint8Array } = {}): Uint8Array {
  const backend = resolveCryptoBackend(options.backend);
  if (!DEVICE_ID_PATTERN.test(receipt.deviceId)) throw invalid('device id must be 1-64 characters of [A-Za-z0-9._:-]');
  if (!Number.isInteger(receipt.epoch) || receipt.epoch < 0 || receipt.epoch > MAX_EPOCH) throw invalid(`epoch must be an integer in 0..${MAX_EPOCH}`);
  checkRanges(receipt.ranges, receipt.refused);
  // Written by hand in the shortest msgpack forms (as a generic encoder would): receipts go
  // out per device per interval, and a generic encoder per call costs more than the crypto.
  const gw = TEXT.encode(receipt.gatewayId);
  const rangeBytes = receipt.ranges.length * 16;
  const refusedBytes = receipt.refused.length * 16;
  const bodyLen = 1 + strHeaderSize(gw.length) + gw.length + binHeaderSize(rangeBytes) + rangeBytes + binHeaderSize(refusedBytes) + refusedBytes;
  const body = new Uint8Array(bodyLen);
  body[0] = 0x93;
  let pos = writeStrHeader(body, 1, gw.length);
  body.set(gw, pos);
  pos = writeBinHeader(body, pos + gw.length, rangeBytes);
  for (const [from, to] of receipt.ranges) pos = writeU64(body, writeU64(body, pos, from), to);
  pos = writeBinHeader(body, pos, refusedBytes);
  for (const [from, to] of receipt.refused) pos = writeU64(body, writeU64(body, pos, from), to);
  const nonce = options.nonce ?? randomNonce(backend);
  const id = TEXT.encode(receipt.deviceId);
  const hLen = headerSize(id, receipt.epoch);
  const boxLen = bodyLen + MAC_BYTES;
  const out = new Uint8Array(hLen + binHeaderSize(boxLen) + boxLen);
  writeHeader(out, id, receipt.epoch, nonce);
  const at = writeBinHeader(out, hLen, boxLen);
  backend.secretboxSealInto(out.subarray(at, at + boxLen), body, boxNonce(out.subarray(0, hLen), backend), sharedKey);
  return out;
}

/**
 * Reads the clear part of a receipt (device id, epoch) without opening it, so that a device
 * with several epochs can pick the key. Throws `VIGIL_E_RECEIPT_INVALID` on a malformed one.
 */
export function peekReceipt(bytes: Uint8Array): { deviceId: string; epoch: number } {
  const parts = decodeParts(bytes);
  return { deviceId: parts.deviceId, epoch: parts.epoch };
}

interface ReceiptParts {
  readonly deviceId: string;
  readonly epoch: number;
  readonly nonce: Uint8Array;
  readonly box: Uint8Array;
}

function decodeParts(bytes: Uint8Array): ReceiptParts {
  let v: unknown;
  try {
    v = decode(bytes);
  } catch {
    throw invalid('not well-formed msgpack');
  }
  if (!Array.isArray(v) || v.length !== 5) throw invalid('not a 5-element array');
  const [version, deviceId, epoch, nonce, box] = v as unknown[];
  if (version !== RECEIPT_VERSION) throw invalid(`version must be ${RECEIPT_VERSION}`);
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) throw invalid('bad device id');
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw invalid('bad epoch');
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) throw invalid(`nonce must be ${NONCE_BYTES} bytes`);
  if (!(box instanceof Uint8Array) || box.length < MAC_BYTES) throw invalid('ciphertext too short');
  return { deviceId, epoch, nonce, box };
}

/**
 * Opens a receipt addressed to `deviceId` with the shared key of its epoch. Throws
 * `VIGIL_E_RECEIPT_INVALID` when it is malformed, for another device, not authentic under the
 * key, or its ranges are not ascending and disjoint. Never returns unauthenticated data.
 */
export function openReceipt(bytes: Uint8Array, deviceId: string, keyOfEpoch: (epoch: number) => Uint8Array | undefined, backend?: CryptoBackend | CryptoBackendOption): Receipt {
  const b = resolveCryptoBackend(backend);
  const p = decodeParts(bytes);
  if (p.deviceId !== deviceId) throw invalid(`addressed to another device`);
  const key = keyOfEpoch(p.epoch);
  if (!key) throw invalid(`no key for epoch ${p.epoch}`);
  // H is the prefix up to the nonce; the gateway writes the shortest forms, so re-encoding the
  // fields gives H back, and anything else fails authentication below.
  const header = receiptHeader(p.deviceId, p.epoch, p.nonce);
  if (header.length >= bytes.length || !header.every((x, i) => x === bytes[i])) throw invalid('header not in canonical form');
  const body = new Uint8Array(p.box.length - MAC_BYTES);
  if (!b.secretboxOpenInto(body, p.box, boxNonce(header, b), key)) throw invalid('authentication failed (wrong key or changed bytes)');
  let inner: unknown;
  try {
    inner = decode(body);
  } catch {
    throw invalid('body is not well-formed msgpack');
  }
  if (!Array.isArray(inner) || inner.length !== 3) throw invalid('body is not a 3-element array');
  const [gatewayId, rangeBytes, refusedBytes] = inner as unknown[];
  if (typeof gatewayId !== 'string' || TEXT.encode(gatewayId).length > 128) throw invalid('bad gateway id');
  const ranges = readRanges(rangeBytes);
  const refused = readRanges(refusedBytes);
  checkRanges(ranges, refused);
  return { deviceId: p.deviceId, epoch: p.epoch, gatewayId, ranges, refused };
}

function readRanges(bytes: unknown): SeqRange[] {
  if (!(bytes instanceof Uint8Array) || bytes.length % 16 !== 0) throw invalid('ranges must be a multiple of 16 bytes');
  const ranges: SeqRange[] = [];
  for (let i = 0; i < bytes.length; i += 16) ranges.push([readU64(bytes, i), readU64(bytes, i + 8)]);
  return ranges;
}

/** The receipt topic of a device, from its telemetry topic `vigil/v1/<theatre>/<unit>/<device>/telemetry`. */
export function receiptTopicOf(telemetryTopic: string): string {
  return telemetryTopic.slice(0, telemetryTopic.lastIndexOf('/') + 1) + RECEIPT_TOPIC_SUFFIX;
}
