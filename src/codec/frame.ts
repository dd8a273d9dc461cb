import { VigilError } from '../errors';
import { MAX_EVENT_TIME_MS, MAX_SEQ, MIN_EVENT_TIME_MS } from './limits';
import type { Reading } from './reading';

/** The frame format version this build writes and reads. */
export const FRAME_VERSION = 1;

/**
 * Domain-separation prefix of the Ed25519 frame signature: the signed message is these 18
 * ASCII bytes followed by the frame bytes up to the end of the ciphertext element
 * (docs/wire-format.md §4), so a frame signature can never be confused with any other
 * message the device key signs.
 */
export const FRAME_SIGNATURE_CONTEXT = new TextEncoder().encode('vigil.frame.v1.sig');

/** Device ids: 1..64 ASCII characters of `[A-Za-z0-9._:-]`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const MAX_DEVICE_ID_BYTES = 64;
export const MAX_EPOCH = 0xffff_ffff;

/** The clear header of a frame. */
export interface FrameHeader {
  /** Format version (1). */
  readonly version: number;
  readonly deviceId: string;
  /** Key epoch: which of the device's successive key pairs sealed the frame. */
  readonly epoch: number;
  /** Per-device sequence number, u64. */
  readonly seq: bigint;
  /** Event time of the batch, milliseconds since the Unix epoch (UTC). */
  readonly eventTimeMs: number;
}

/** What a device seals: header fields (the version is implied) and 1..256 readings. */
export interface FrameInput {
  readonly deviceId: string;
  readonly epoch: number;
  readonly seq: bigint;
  readonly eventTimeMs: number;
  readonly readings: readonly Reading[];
}

/**
 * A frame whose clear part has been parsed and checked but not yet authenticated: the gateway
 * looks up the device and checks epoch, replay and skew on these fields before paying for
 * crypto. Byte fields are views into `bytes` (no copies).
 */
export interface DecodedFrame extends FrameHeader {
  /** The 24 random header nonce bytes (the box nonce is derived from the whole header). */
  readonly nonce: Uint8Array;
  /** Poly1305 tag ‖ XSalsa20 ciphertext of the body. */
  readonly ciphertext: Uint8Array;
  /** Ed25519 signature, or null when the frame is unsigned. */
  readonly signature: Uint8Array | null;
  /** The whole frame. */
  readonly bytes: Uint8Array;
  /** `bytes[0, headerLength)` is the clear header bound to the ciphertext. */
  readonly headerLength: number;
  /** `bytes[0, signedLength)` is what the signature covers (after the context prefix). */
  readonly signedLength: number;
}

/** An authenticated, decrypted and validated frame. */
export interface OpenedFrame extends FrameHeader {
  readonly readings: Reading[];
  /** True when the frame carried a signature and it verified. */
  readonly signed: boolean;
}

function malformed(field: string, message: string): VigilError {
  return new VigilError('VIGIL_E_FRAME_MALFORMED', `${field}: ${message}`, { details: { field } });
}

/** Checks the header fields a sealer is given; throws `VIGIL_E_FRAME_MALFORMED`. */
export function checkFrameHeaderInput(input: FrameInput): void {
  if (typeof input !== 'object' || input === null) throw malformed('frame', 'must be an object');
  if (typeof input.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(input.deviceId)) throw malformed('deviceId', 'must be 1-64 characters of [A-Za-z0-9._:-]');
  if (typeof input.epoch !== 'number' || !Number.isInteger(input.epoch) || input.epoch < 0 || input.epoch > MAX_EPOCH) throw malformed('epoch', `must be an integer in 0..${MAX_EPOCH}`);
  if (typeof input.seq !== 'bigint' || input.seq < 0n || input.seq > MAX_SEQ) throw malformed('seq', 'must be a bigint in 0..2^64-1');
  checkEventTime(input.eventTimeMs, 'eventTimeMs', malformed);
}

/** Checks an event time: an integer of ms in [2000-01-01, 2100-01-01). */
export function checkEventTime(v: unknown, field: string, err: (field: string, message: string) => VigilError): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_EVENT_TIME_MS || v >= MAX_EVENT_TIME_MS) {
    throw err(field, `must be an integer of milliseconds in [${MIN_EVENT_TIME_MS}, ${MAX_EVENT_TIME_MS})`);
  }
}
